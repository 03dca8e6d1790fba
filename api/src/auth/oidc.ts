// Single sign-on: ID tokens of an external OpenID Connect issuer, verified against its JWKS
// (signature, iss, aud, exp). The keys are fetched and cached by jose.
import { createHash } from 'node:crypto'
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose'
import { ChatError } from '../../../clients/sdk/src/errors.ts'

export interface OidcSettings {
  issuer: string
  jwksUrl: string
  audience: string
}

export interface OidcIdentity {
  issuer: string
  subject: string
  /** name, else preferred_username, else null. */
  displayName: string | null
}

export interface OidcVerifier {
  verify(idToken: string): Promise<OidcIdentity>
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']

/** The verifier for the configured issuer, or null when single sign-on is not configured. */
export function createOidcVerifier(settings: OidcSettings): OidcVerifier | null {
  if (settings.issuer === '' || settings.jwksUrl === '' || settings.audience === '') return null
  const jwks = createRemoteJWKSet(new URL(settings.jwksUrl), { timeoutDuration: 5000 })
  return {
    async verify(idToken) {
      try {
        const { payload } = await jwtVerify(idToken, jwks, {
          issuer: settings.issuer,
          audience: settings.audience,
          algorithms: ASYMMETRIC,
          requiredClaims: ['sub', 'exp', 'iat'],
          clockTolerance: 5,
        })
        const sub = payload.sub
        if (typeof sub !== 'string' || sub === '' || sub.length > 255) throw new ChatError('INVALID_ID_TOKEN', 'the ID token has no usable sub')
        const name = typeof payload['name'] === 'string' && payload['name'].trim() !== '' ? payload['name'] : typeof payload['preferred_username'] === 'string' && payload['preferred_username'].trim() !== '' ? payload['preferred_username'] : null
        return { issuer: settings.issuer, subject: sub, displayName: name === null ? null : name.trim().slice(0, 128) }
      } catch (err) {
        if (err instanceof ChatError) throw err
        if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError) || err.code === 'ERR_JOSE_GENERIC') {
          throw new ChatError('UNAVAILABLE', 'the identity provider\'s keys could not be fetched')
        }
        if (err instanceof joseErrors.JWTExpired) throw new ChatError('INVALID_ID_TOKEN', 'the ID token has expired')
        if (err instanceof joseErrors.JWTClaimValidationFailed) throw new ChatError('INVALID_ID_TOKEN', `the ID token's ${err.claim} claim is not accepted`)
        throw new ChatError('INVALID_ID_TOKEN')
      }
    },
  }
}

/**
 * The local username linked to an (issuer, subject) pair: `oidc_` and 48 hex digits of
 * SHA-256, longer than any username one can register, so it cannot be claimed by password.
 */
export function oidcUsername(issuer: string, subject: string): string {
  return `oidc_${createHash('sha256').update(`${issuer}\n${subject}`).digest('hex').slice(0, 48)}`
}
