import type { Aedes, AuthenticateError, Client, ConnectPacket } from 'aedes'
import type { TokenService } from '../../../api/src/auth/tokens.ts'
import type { ConnectVerdict, DeviceRow } from '../../../api/src/store/accounts.ts'
import { sessionOf, setSession } from '../sessions.ts'

// CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2-3]
const IDENTIFIER_REJECTED = 2
const SERVER_UNAVAILABLE = 3
const NOT_AUTHORIZED = 5

function refuse(message: string, returnCode = NOT_AUTHORIZED): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

/** The sign-in and device rows CONNECT is checked against (AccountStore in api/src/store/accounts.ts). */
export interface ConnectRegistry {
  checkConnect(userId: string, sessionId: string, clientId: string): Promise<{ verdict: ConnectVerdict; device: DeviceRow | null }>
  /** A client id's first CONNECT: its row. */
  recordNewDevice(userId: string, clientId: string): Promise<void>
}

/** Where the CONNECTs of known devices are told (device-seen.ts). */
export interface SeenRecorder {
  seen(clientId: string): void
}

const REFUSALS: Record<Exclude<ConnectVerdict, null>, string> = {
  'session-revoked': 'this sign-in was revoked; log in again',
  'user-deleted': 'this account was deleted',
  'device-revoked': 'this device was revoked; register it again',
  'client-id-taken': 'that client id belongs to a device of another user',
}

/**
 * The CONNECT packet of every connection stays reachable for as long as the connection
 * lives (mqtt-packet's parser keeps the last CONNECT as its `settings`), and with it the
 * password (the access token) and the will's payload, both views of the socket read the
 * packet arrived in. preConnect gives the will a payload of its own size and remembers the
 * packet until authenticate has read the password, which is then dropped from it: the read
 * (token included) is collected instead of staying for the life of the connection. The
 * session keeps the token once, as a string.
 */
const connectPackets = new WeakMap<Client, ConnectPacket>()

/** A copy that owns its memory, when `b` is a view of a larger buffer (otherwise `b`). */
function ownBytes(b: Buffer): Buffer {
  if (b.byteLength === b.buffer.byteLength) return b
  const out = Buffer.allocUnsafeSlow(b.byteLength)
  b.copy(out)
  return out
}

/** The preConnect hook: see connectPackets. Admits every CONNECT (authenticate decides). */
export function preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void {
  const will = packet.will
  if (will !== undefined && will !== null && Buffer.isBuffer(will.payload)) will.payload = ownBytes(will.payload)
  connectPackets.set(client, packet)
  done(null, true)
}

/** Drops the password from the CONNECT packet once authenticate has it (see connectPackets). */
function releasePassword(client: Client): void {
  const packet = connectPackets.get(client)
  if (packet === undefined) return
  connectPackets.delete(client)
  packet.password = undefined
}

/**
 * CONNECT: username is the Chime username, password the token from login/register. With a
 * registry, the token's sign-in must be live, its user not deleted and the client id not a
 * device the user revoked; the device is then recorded: a new one with its row (one
 * indexed write, whose failure is only logged), a known one through `seen` (last_seen,
 * written in batches).
 */
export function createAuthenticate(tokens: TokenService, broker: () => Aedes, registry?: ConnectRegistry, onError: (err: unknown) => void = () => {}, seen?: SeenRecorder) {
  return function authenticate(client: Client, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined, done: (err: AuthenticateError | null, success: boolean | null) => void): void {
    const token = password === undefined ? '' : password.toString('utf8')
    releasePassword(client)
    if (token.length === 0) return done(refuse('a token is required as the password'), false)
    // [MQTT-3.1.4-2] would let a new connection take over a live one with the same client
    // id; another user's connection is not to be taken over.
    const takenOver = (userId: string): boolean => {
      const live = sessionOf((broker() as unknown as { clients: Record<string, Client | undefined> }).clients[client.id])
      return live !== undefined && live.userId !== userId
    }
    tokens.verify(token).then(
      async (claims) => {
        if (username !== undefined && username !== '' && username !== claims.username) return done(refuse('the username does not match the token'), false)
        const checkedAt = Date.now()
        if (registry !== undefined) {
          let checked: Awaited<ReturnType<ConnectRegistry['checkConnect']>>
          try {
            checked = await registry.checkConnect(claims.userId, claims.sessionId, client.id)
          } catch (err) {
            onError(err)
            return done(refuse('the sign-in could not be checked', SERVER_UNAVAILABLE), false)
          }
          if (checked.verdict !== null) return done(refuse(REFUSALS[checked.verdict], checked.verdict === 'client-id-taken' ? IDENTIFIER_REJECTED : NOT_AUTHORIZED), false)
          if (takenOver(claims.userId)) return done(refuse('that client id is in use by another user', IDENTIFIER_REJECTED), false)
          if (checked.device === null) {
            try {
              await registry.recordNewDevice(claims.userId, client.id)
            } catch (err) {
              onError(err)
            }
          } else if (client.id !== '') seen?.seen(client.id)
        }
        if (takenOver(claims.userId)) return done(refuse('that client id is in use by another user', IDENTIFIER_REJECTED), false)
        setSession(client, { userId: claims.userId, username: claims.username, token, sessionId: claims.sessionId, checkedAt, granted: new Set() })
        done(null, true)
      },
      () => done(refuse('invalid or expired token'), false),
    ).catch(onError)
  }
}
