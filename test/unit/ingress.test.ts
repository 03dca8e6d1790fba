// Ingress levelling (broker/src/ingress.ts): publishes are held, never dropped, while the
// broker is behind or their connection is over its budget, and go through in arrival order.
import t from 'tap'
import type { Client } from 'aedes'
import { IngressGate, ingressMetrics } from '../../broker/src/ingress.ts'
import { waitFor } from '../helpers/wait.ts'

const client = (): Client => ({}) as Client

function logger(): { warn: string[]; info: string[]; log: { warn(o: object, m: string): void; info(o: object, m: string): void } } {
  const warn: string[] = []
  const info: string[] = []
  return { warn, info, log: { warn: (_o, m) => warn.push(m), info: (_o, m) => info.push(m) } }
}

t.test('a connection over its budget waits for it, in order, and nothing is lost', async (t) => {
  const { log } = logger()
  const gate = new IngressGate({ maxLagMs: 0, clientRate: 200, clientBurst: 5 }, log)
  t.teardown(() => gate.close())
  const a = client()
  const b = client()
  const done: string[] = []
  const started = performance.now()
  for (let i = 0; i < 15; i++) gate.admit(a, () => done.push(`a${i}`))
  gate.admit(b, () => done.push('b0'))
  t.same(done, ['a0', 'a1', 'a2', 'a3', 'a4', 'b0'], 'the burst goes through at once; another connection is not held by the first')
  t.equal(gate.stats.heldPublishes, 10)
  t.equal(gate.stats.heldClients, 1)
  await waitFor('the held publishes', () => (done.length === 16 ? true : undefined))
  const ms = performance.now() - started
  t.same(done.filter((d) => d.startsWith('a')), Array.from({ length: 15 }, (_, i) => `a${i}`), 'in arrival order')
  t.ok(ms >= 40, `10 publishes over the burst at 200/s took ${ms.toFixed(0)} ms (at least 45 ms of budget, timer rounding aside)`)
  t.equal(gate.stats.budgetHolds, 10)
  t.equal(gate.stats.heldPublishes, 0)
  t.equal(gate.stats.heldClients, 0)
})

t.test('while the event loop is late every publish is held; once it catches up they go through in order', async (t) => {
  const { log, warn, info } = logger()
  const gate = new IngressGate({ maxLagMs: 30, clientRate: 0, clientBurst: 1 }, log)
  t.teardown(() => gate.close())
  const a = client()
  const b = client()
  const done: string[] = []
  gate.admit(a, () => done.push('before'))
  t.same(done, ['before'], 'not behind: at once')
  // Block the loop well past the limit, as a burst of work would.
  await new Promise((r) => setTimeout(r, 15))
  const until = performance.now() + 120
  while (performance.now() < until) { /* busy */ }
  gate.admit(a, () => done.push('a1'))
  gate.admit(b, () => done.push('b1'))
  gate.admit(a, () => done.push('a2'))
  t.same(done, ['before'], 'held while behind')
  t.equal(gate.stats.overloaded, 1)
  t.equal(gate.stats.heldPublishes, 3)
  t.same(ingressMetrics(gate.stats, 2).match(/^chime_broker_(overloaded|held_publishes) \d+$/gm), ['chime_broker_overloaded 1', 'chime_broker_held_publishes 3'], 'and says so in the metrics')
  await waitFor('caught up', () => (done.length === 4 ? true : undefined))
  t.same(done.filter((d) => d !== 'b1'), ['before', 'a1', 'a2'], 'each connection in its order')
  t.ok(done.includes('b1'))
  t.equal(gate.stats.overloaded, 0)
  t.equal(gate.stats.overloads, 1)
  t.equal(gate.stats.overloadHolds, 3)
  t.ok(gate.stats.overloadedMs > 0)
  t.match(warn, [/broker overloaded/], 'a log line when it begins')
  t.match(info, [/caught up/], 'and when it ends')
})

t.test('a connection that goes away takes its held publishes with it; close lets the rest through', async (t) => {
  const { log } = logger()
  const gate = new IngressGate({ maxLagMs: 0, clientRate: 1, clientBurst: 1 }, log)
  const gone = client()
  const stays = client()
  const done: string[] = []
  gate.admit(gone, () => done.push('gone0'))
  gate.admit(gone, () => done.push('gone1'))
  gate.admit(stays, () => done.push('stays0'))
  gate.admit(stays, () => done.push('stays1'))
  gate.forget(gone)
  t.equal(gate.stats.heldPublishes, 1)
  t.equal(gate.stats.heldClients, 1)
  gate.close()
  t.same(done, ['gone0', 'stays0', 'stays1'])
  t.equal(gate.stats.heldPublishes, 0)
})
