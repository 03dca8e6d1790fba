import type { AuthenticateError, Client } from 'aedes'
import type { TokenService } from '../../../api/src/auth/tokens.ts'
import { setSession } from '../sessions.ts'

// CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2-3]
const NOT_AUTHORIZED = 5

function refuse(message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: NOT_AUTHORIZED }) as AuthenticateError
}

/** CONNECT: username is the Chime username, password the token from login/register. */
export function createAuthenticate(tokens: TokenService) {
  return function authenticate(client: Client, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined, done: (err: AuthenticateError | null, success: boolean | null) => void): void {
    if (password === undefined || password.length === 0) return done(refuse('a token is required as the password'), false)
    const token = password.toString('utf8')
    tokens.verify(token).then(
      (claims) => {
        if (username !== undefined && username !== '' && username !== claims.username) return done(refuse('the username does not match the token'), false)
        setSession(client, { userId: claims.userId, username: claims.username, token })
        done(null, true)
      },
      () => done(refuse('invalid or expired token'), false),
    )
  }
}
