// Per-connection state is released on disconnect: after rounds of connect, subscribe,
// publish and disconnect (orderly and dropped, clean and persistent sessions with a will, as
// the SDK connects, and connections taken over by a new CONNECT with their client id), no
// aedes Client and no Chime session of them stays reachable (nothing keyed by connection,
// such as the ingress gate's per-connection budgets, holds on to one), so memory
// held per connection returns with the connection (docs/benchmarks.md, idle connections and
// the soak). Garbage collection is forced through V8's gc(), exposed at run time.
import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Client } from 'aedes'
import { topics } from '../../clients/sdk/src/topics.ts'
import { sessionOf } from '../../broker/src/sessions.ts'
import { startTestChime } from '../helpers/chime.ts'
import { waitFor } from '../helpers/wait.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const ROUNDS = 3
const PER_ROUND = 12
/** Connections taken over by a new CONNECT with their client id while they are live. */
const TAKEOVERS = 4

t.test('clients and sessions of closed connections are collected', async (t) => {
  const chime = await startTestChime(t)
  const aedes = chime.running.aedes!
  const clients: WeakRef<Client>[] = []
  const sessions: WeakRef<object>[] = []
  const onClient = (client: Client): void => {
    clients.push(new WeakRef(client))
    const session = sessionOf(client)
    if (session !== undefined) sessions.push(new WeakRef(session))
  }
  aedes.on('client', onClient)
  t.teardown(() => void aedes.off('client', onClient))
  const users = await Promise.all(Array.from({ length: 4 }, () => chime.register()))
  const live = (): number => Object.keys((aedes as unknown as { clients: Record<string, unknown> }).clients).length

  for (let round = 0; round < ROUNDS; round++) {
    const conns = await Promise.all(Array.from({ length: PER_ROUND }, (_, i) => {
      const user = users[i % users.length]!
      const persistent = i % 2 === 0
      return chime.connect(user, {
        clientId: `release-${process.pid}-${i}`,
        clean: !persistent,
        ...(persistent ? { will: { topic: topics.presence(user.user_id), payload: Buffer.from('{"action":"PRESENCE","data":{"status":"offline"}}'), qos: 1 as const, retain: true } } : {}),
      })
    }))
    await Promise.all(conns.map((c, i) => c.subscribeAsync([topics.inbox(users[i % users.length]!.user_id), topics.presence(users[i % users.length]!.user_id)], { qos: 1 })))
    await Promise.all(conns.map((c, i) => c.publishAsync(topics.presence(users[i % users.length]!.user_id), '{"action":"PRESENCE","data":{"status":"online"}}', { qos: 1, retain: true })))
    // Half leave with DISCONNECT, half drop the socket (the will is published for those).
    await Promise.all(conns.map((c, i) => (i % 4 < 2 ? c.endAsync() : new Promise<void>((resolve) => {
      c.stream.destroy()
      c.end(true, () => resolve())
    }))))
    await waitFor('every connection of the round closed on the broker', () => (live() === 0 ? true : undefined))
  }

  // A live connection taken over by a new CONNECT with the same client id [MQTT-3.1.4-2],
  // after it published; then the new one leaves too.
  for (let k = 0; k < TAKEOVERS; k++) {
    const user = users[k % users.length]!
    const clientId = `takeover-${process.pid}-${k}`
    const first = await chime.connect(user, { clientId, clean: k % 2 === 0 })
    await first.publishAsync(topics.presence(user.user_id), '{"action":"PRESENCE","data":{"status":"away"}}', { qos: 1, retain: true })
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))
    const second = await chime.connect(user, { clientId, clean: k % 2 === 0 })
    await closed
    first.end(true)
    await second.endAsync()
    await waitFor('the taken-over connection and its successor closed on the broker', () => (live() === 0 ? true : undefined))
  }

  const admitted = ROUNDS * PER_ROUND + 2 * TAKEOVERS
  t.equal(clients.length, admitted, 'every CONNECT was admitted')
  t.equal(sessions.length, admitted, 'each with a session')
  const reachable = (): number => clients.filter((r) => r.deref() !== undefined).length + sessions.filter((r) => r.deref() !== undefined).length
  await waitFor('the clients and sessions of closed connections to be collected', async () => {
    gc()
    await new Promise((r) => setImmediate(r))
    return reachable() === 0 ? true : undefined
  }, 20_000)
  t.equal(reachable(), 0, 'no Client and no session of a closed connection is reachable')
})
