import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import { ChatError } from '../../../clients/sdk/src/errors.ts'

export interface TokenClaims {
  userId: string
  username: string
  /** The auth session (auth_sessions.id) the token was issued for: the `sid` claim. */
  sessionId: string
}

export interface TokenService {
  issue(claims: TokenClaims): Promise<string>
  /** Throws ChatError UNAUTHENTICATED or TOKEN_EXPIRED. Does not look at revocation (see session-gate.ts). */
  verify(token: string): Promise<TokenClaims>
}

const ISSUER = 'chime'

/** HS256 tokens through jose; the secret and lifetime come from the configuration. */
export function createTokenService(secret: string, ttlSeconds: number): TokenService {
  const key = new TextEncoder().encode(secret)
  return {
    async issue({ userId, username, sessionId }) {
      return new SignJWT({ name: username, sid: sessionId })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
        .sign(key)
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, { issuer: ISSUER, algorithms: ['HS256'] })
        const { sub, name, sid } = payload as { sub?: unknown; name?: unknown; sid?: unknown }
        if (typeof sub !== 'string' || typeof name !== 'string' || typeof sid !== 'string' || sid === '') throw new ChatError('UNAUTHENTICATED')
        return { userId: sub, username: name, sessionId: sid }
      } catch (err) {
        if (err instanceof ChatError) throw err
        if (err instanceof joseErrors.JWTExpired) throw new ChatError('TOKEN_EXPIRED')
        throw new ChatError('UNAUTHENTICATED')
      }
    },
  }
}
