// BRIEF invariant 1 over MQTT: a PUBACK for a request means it is done. Regression: when the
// API sidecar went away mid-request, the broker answered ERROR UNAVAILABLE and sent the
// PUBACK anyway, so a client held PUBACKs for posts that were never committed. Now a QoS 1
// request whose outcome is unknown gets no PUBACK; the broker closes the connection and a
// plain MQTT client sends it again on its own after reconnecting.
//
// A real aedes and a real mqtt.js client; the backend is a log that deduplicates by
// client_msg_id and can be told to fail the way a dying sidecar does (committed or not, then
// "outcome unknown").
import t, { type Test } from 'tap'
import { createServer, type AddressInfo } from 'node:net'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import { isOutcomeUnknown, outcomeUnknown } from '../../clients/sdk/src/errors.ts'
import type { Envelope } from '../../clients/sdk/src/protocol.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import { errorEnvelope, requestIdOf } from '../../api/src/requests/dispatch.ts'
import type { RequestBackend } from '../../broker/src/request-backend.ts'
import { RequestGateway } from '../../broker/src/request-gateway.ts'
import { setSession } from '../../broker/src/sessions.ts'
import { waitFor } from '../helpers/wait.ts'

type Request = { action: string; request_id: string; data: { client_msg_id: string } }

/** A post log that answers like the API: once per client_msg_id, `duplicate: true` after that. */
class ScriptedBackend implements RequestBackend {
  readonly log: string[] = []
  /** What the next requests run into: 'ok', or the sidecar dying before or after the commit. */
  readonly script: ('ok' | 'dies-before-commit' | 'dies-after-commit')[] = []
  batches = 0

  async handle(_session: unknown, _clientId: string, requests: readonly unknown[]): Promise<Envelope[]> {
    this.batches++
    await new Promise((r) => setImmediate(r))
    return requests.map((raw) => {
      const r = raw as Request
      const fate = this.script.shift() ?? 'ok'
      if (fate === 'dies-before-commit') return errorEnvelope(outcomeUnknown('the API sidecar did not answer'), requestIdOf(r))
      const duplicate = this.log.includes(r.data.client_msg_id)
      if (!duplicate) this.log.push(r.data.client_msg_id)
      if (fate === 'dies-after-commit') return errorEnvelope(outcomeUnknown('the API sidecar did not answer'), requestIdOf(r))
      return { action: 'POST_MESSAGE_RESPONSE', request_id: r.request_id, data: { client_msg_id: r.data.client_msg_id, duplicate } }
    })
  }
}

async function startBroker(t: Test, backend: RequestBackend): Promise<{ port: number; warnings: object[]; connects: () => number }> {
  const warnings: object[] = []
  let gateway: RequestGateway | undefined
  let connects = 0
  const aedes = await Aedes.createBroker({
    authenticate: (client, _u, _p, done) => {
      setSession(client, { userId: 'U1', username: 'ada', token: 't', granted: new Set() })
      connects++
      done(null, true)
    },
    authorizePublish: (client, packet, done) => {
      if (client === null || packet.topic !== topics.requests(client.id)) return done(null)
      gateway!.accept(client, packet.payload as Buffer, packet.qos, () => done(null))
    },
  })
  gateway = new RequestGateway(aedes, backend, { warn: (obj) => warnings.push(obj) })
  const server = createServer(aedes.handle)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(async () => {
    await new Promise<void>((r) => aedes.close(() => r()))
    await new Promise<void>((r) => server.close(() => r()))
  })
  return { port: (server.address() as AddressInfo).port, warnings, connects: () => connects }
}

/** A plain mqtt.js client that reconnects by itself; with clean: false the inbox subscription outlives a connection, so no reply is lost while it reconnects. */
function connect(t: Test, port: number, clientId: string, clean = true): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean, reconnectPeriod: 20, connectTimeout: 5000 })
  t.teardown(() => client.endAsync(true))
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', reject)
  })
}

function post(id: string): string {
  return JSON.stringify({ action: 'POST_MESSAGE', request_id: id, data: { channel_id: 'C1', content: id, client_msg_id: id } })
}

t.test('a sidecar dying mid-burst: no PUBACK for an unknown outcome; the client resends by itself and every post is in the log once', async (t) => {
  const backend = new ScriptedBackend()
  const broker = await startBroker(t, backend)
  const client = await connect(t, broker.port, 'ada-1', false)
  const replies: Envelope[] = []
  client.on('message', (_topic, payload) => replies.push(JSON.parse(payload.toString()) as Envelope))
  await client.subscribeAsync(topics.inbox('U1'), { qos: 1 })

  // Posts 1-10 go through; then one dies after its commit and one before it, twice over.
  backend.script.push(...Array<'ok'>(10).fill('ok'), 'dies-after-commit', 'dies-before-commit', 'ok', 'ok', 'dies-before-commit')
  const ids = Array.from({ length: 40 }, (_, i) => `m${i + 1}`)
  const committedAtPuback: boolean[] = []
  await Promise.all(ids.map((id) => client.publishAsync(topics.requests('ada-1'), post(id), { qos: 1 }).then(() => {
    committedAtPuback.push(backend.log.includes(id))
  })))

  t.equal(committedAtPuback.length, ids.length, 'every post got its PUBACK in the end, without the client doing anything')
  t.ok(committedAtPuback.every(Boolean), 'each PUBACK came only once its post was committed')
  t.same([...backend.log].sort(), [...ids].sort(), 'every post is in the log exactly once')
  t.ok(broker.connects() >= 2, `the broker closed the connection and the client came back (${broker.connects()} connections)`)
  t.ok(broker.warnings.length >= 1, 'each close is logged')
  await waitFor('a success reply to every post', () => (ids.every((id) => replies.some((r) => r.request_id === id && r.action === 'POST_MESSAGE_RESPONSE')) ? true : undefined))
  t.notOk(replies.some((r) => r.action === 'ERROR'), 'no ERROR reached the client: a QoS 1 request with an unknown outcome is sent again, not failed')
  const resentAfterCommit = replies.filter((r) => (r.data as { duplicate?: boolean }).duplicate === true).map((r) => r.request_id)
  t.ok(resentAfterCommit.includes('m11'), 'the post committed just before the failure came back duplicate: true')
})

t.test('QoS 0 requests have no PUBACK to withhold: ERROR UNAVAILABLE with outcome unknown, and the connection stays', async (t) => {
  const backend = new ScriptedBackend()
  const broker = await startBroker(t, backend)
  const client = await connect(t, broker.port, 'ada-2')
  const replies: Envelope[] = []
  client.on('message', (_topic, payload) => replies.push(JSON.parse(payload.toString()) as Envelope))
  await client.subscribeAsync(topics.inbox('U1'), { qos: 1 })
  backend.script.push('dies-before-commit')
  await client.publishAsync(topics.requests('ada-2'), post('q1'), { qos: 0 })
  const reply = await waitFor('the reply', () => replies.find((r) => r.request_id === 'q1'))
  t.equal(reply.action, 'ERROR')
  t.ok(isOutcomeUnknown(reply.data as { code: string; details?: Record<string, unknown> }), 'UNAVAILABLE, outcome unknown')
  await client.publishAsync(topics.requests('ada-2'), post('q2'), { qos: 1 })
  t.equal(broker.connects(), 1, 'the connection stayed up')
  t.same(backend.log, ['q2'])
})

t.test('errors with a known outcome are acknowledged and answered as before: the request is done, it failed', async (t) => {
  const broker = await startBroker(t, {
    handle: async (_s, _c, requests) => requests.map((r) => errorEnvelope(new Error('boom'), requestIdOf(r))),
  })
  const client = await connect(t, broker.port, 'ada-3')
  const replies: Envelope[] = []
  client.on('message', (_topic, payload) => replies.push(JSON.parse(payload.toString()) as Envelope))
  await client.subscribeAsync(topics.inbox('U1'), { qos: 1 })
  await client.publishAsync(topics.requests('ada-3'), post('e1'), { qos: 1 })
  const reply = await waitFor('the reply', () => replies.find((r) => r.request_id === 'e1'))
  t.same([reply.action, (reply.data as { code: string }).code], ['ERROR', 'INTERNAL'])
  t.equal(broker.connects(), 1, 'the connection stayed up')
})
