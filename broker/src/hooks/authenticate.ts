import type { Aedes, AuthenticateError, Client } from 'aedes'
import type { TokenService } from '../../../api/src/auth/tokens.ts'
import { sessionOf, setSession } from '../sessions.ts'

// CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2-3]
const IDENTIFIER_REJECTED = 2
const NOT_AUTHORIZED = 5

function refuse(message: string, returnCode = NOT_AUTHORIZED): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

/** CONNECT: username is the Chime username, password the token from login/register. */
export function createAuthenticate(tokens: TokenService, broker: () => Aedes) {
  return function authenticate(client: Client, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined, done: (err: AuthenticateError | null, success: boolean | null) => void): void {
    if (password === undefined || password.length === 0) return done(refuse('a token is required as the password'), false)
    const token = password.toString('utf8')
    tokens.verify(token).then(
      (claims) => {
        if (username !== undefined && username !== '' && username !== claims.username) return done(refuse('the username does not match the token'), false)
        // [MQTT-3.1.4-2] would let a new connection take over a live one with the same client
        // id; another user's connection is not to be taken over.
        const live = sessionOf((broker() as unknown as { clients: Record<string, Client | undefined> }).clients[client.id])
        if (live !== undefined && live.userId !== claims.userId) return done(refuse('that client id is in use by another user', IDENTIFIER_REJECTED), false)
        setSession(client, { userId: claims.userId, username: claims.username, token, granted: new Set() })
        done(null, true)
      },
      () => done(refuse('invalid or expired token'), false),
    )
  }
}
