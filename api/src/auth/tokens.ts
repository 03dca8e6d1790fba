import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import { ChatError } from '../../../clients/sdk/src/errors.ts'

export interface TokenClaims {
  userId: string
  username: string
}

export interface TokenService {
  issue(claims: TokenClaims): Promise<string>
  /** Throws ChatError UNAUTHENTICATED or TOKEN_EXPIRED. */
  verify(token: string): Promise<TokenClaims>
}

const ISSUER = 'chime'

/** HS256 tokens through jose; the secret and lifetime come from the configuration. */
export function createTokenService(secret: string, ttlSeconds: number): TokenService {
  const key = new TextEncoder().encode(secret)
  return {
    async issue({ userId, username }) {
      return new SignJWT({ name: username })
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
        if (typeof payload.sub !== 'string' || typeof payload['name'] !== 'string') throw new ChatError('UNAUTHENTICATED')
        return { userId: payload.sub, username: payload['name'] }
      } catch (err) {
        if (err instanceof ChatError) throw err
        if (err instanceof joseErrors.JWTExpired) throw new ChatError('TOKEN_EXPIRED')
        throw new ChatError('UNAUTHENTICATED')
      }
    },
  }
}
