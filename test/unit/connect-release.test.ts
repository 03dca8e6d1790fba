// What a connection keeps of its CONNECT (broker/src/hooks/authenticate.ts, preConnect): the
// parser keeps the packet for the life of the connection, so the password (the token) is
// dropped from it once authenticate has read it, and the will gets a payload that owns its
// bytes instead of a view of the socket read the packet arrived in.
import t from 'tap'
import type { Aedes, AuthenticateError, Client, ConnectPacket } from 'aedes'
import { createTokenService } from '../../api/src/auth/tokens.ts'
import { createAuthenticate, preConnect } from '../../broker/src/hooks/authenticate.ts'
import { sessionOf } from '../../broker/src/sessions.ts'

const tokens = createTokenService('a test secret of enough length for HS256', 3600)
const broker = { clients: {} } as unknown as Aedes

/** The bytes of `text` as a view into a larger buffer, as mqtt-packet hands them out. */
function viewOf(text: string): Buffer {
  const whole = Buffer.from(`....${text}....`)
  return whole.subarray(4, 4 + Buffer.byteLength(text))
}

function run(client: Client, packet: ConnectPacket): Promise<{ err: AuthenticateError | null; ok: boolean | null }> {
  const authenticate = createAuthenticate(tokens, () => broker)
  return new Promise((resolve, reject) => {
    preConnect(client, packet, (err, admitted) => {
      if (err !== null || !admitted) return reject(new Error('preConnect refused'))
      authenticate(client, packet.username, packet.password, (e, ok) => resolve({ err: e, ok }))
    })
  })
}

t.test('the password leaves the CONNECT packet once it is checked; the session has the token', async (t) => {
  const token = await tokens.issue({ userId: 'U1', username: 'ada', sessionId: 'S1' })
  const will = '{"action":"PRESENCE","data":{"status":"offline"}}'
  const packet = { cmd: 'connect', clientId: 'c1', username: 'ada', password: viewOf(token), will: { topic: 'chime/v1/users/U1/presence', payload: viewOf(will), qos: 1, retain: true } } as ConnectPacket
  t.ok(packet.will!.payload instanceof Buffer && (packet.will!.payload as Buffer).buffer.byteLength > will.length, 'the will arrives as a view of a larger buffer')
  const client = { id: 'c1' } as Client
  const { err, ok } = await run(client, packet)
  t.equal(err, null)
  t.equal(ok, true, 'admitted')
  t.equal(packet.password, undefined, 'the packet no longer holds the password')
  t.equal(sessionOf(client)?.token, token, 'the session keeps the token')
  const payload = packet.will!.payload as Buffer
  t.equal(payload.toString(), will, 'the will payload is unchanged')
  t.equal(payload.buffer.byteLength, payload.byteLength, 'and owns its bytes')
})

t.test('a refused CONNECT drops the password too', async (t) => {
  const packet = { cmd: 'connect', clientId: 'c2', username: 'ada', password: viewOf('not a token') } as ConnectPacket
  const client = { id: 'c2' } as Client
  const { err, ok } = await run(client, packet)
  t.equal(ok, false)
  t.equal(err?.returnCode, 5, 'not authorized')
  t.equal(packet.password, undefined)
  t.equal(sessionOf(client), undefined, 'no session')
})

t.test('a CONNECT without a password is refused as before', async (t) => {
  const packet = { cmd: 'connect', clientId: 'c3', username: 'ada' } as ConnectPacket
  const { err, ok } = await run({ id: 'c3' } as Client, packet)
  t.equal(ok, false)
  t.match(err?.message, /token is required/)
})
