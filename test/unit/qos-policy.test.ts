// The QoS of a server's deltas by its member count: threshold, cache lifetime, forgetting on
// membership changes, one read for concurrent askers, and what a failed read falls back to.
import t from 'tap'
import { createQosPolicy } from '../../api/src/publish/qos-policy.ts'
import { loadConfig, ConfigError } from '../../config/load-config.ts'

function sizes(initial: Record<string, number>) {
  const counts = new Map(Object.entries(initial))
  let reads = 0
  let fail = false
  return {
    counts,
    get reads() {
      return reads
    },
    failNext(v: boolean) {
      fail = v
    },
    async serverMemberCount(id: string): Promise<number | null> {
      reads++
      if (fail) throw new Error('database down')
      return counts.get(id) ?? null
    },
  }
}

t.test('above the limit QoS 0, at or below it QoS 1', async (t) => {
  const s = sizes({ small: 3, edge: 1000, big: 1001 })
  const p = createQosPolicy({ maxMembers: 1000, sizes: s })
  t.equal(await p.serverQos('small'), 1)
  t.equal(await p.serverQos('edge'), 1)
  t.equal(await p.serverQos('big'), 0)
  t.equal(await p.serverQos('gone'), 1, 'no such server: QoS 1')
  t.equal(await createQosPolicy({ maxMembers: 0, sizes: s }).serverQos('small'), 0, '0: every server at QoS 0')
})

t.test('cached for the TTL, forgotten on a membership change', async (t) => {
  let now = 1_000
  const s = sizes({ a: 2 })
  const p = createQosPolicy({ maxMembers: 2, sizes: s, ttlMs: 100, clock: () => now })
  t.equal(await p.serverQos('a'), 1)
  s.counts.set('a', 3)
  t.equal(await p.serverQos('a'), 1, 'still the cached count')
  t.equal(s.reads, 1, 'read once')
  now += 100
  t.equal(await p.serverQos('a'), 0, 'read again after the TTL')
  s.counts.set('a', 2)
  p.forget('a')
  t.equal(await p.serverQos('a'), 1, 'read again after forget')
  t.equal(s.reads, 3)
})

t.test('concurrent askers share one read; a change during the read is not overwritten', async (t) => {
  const s = sizes({ a: 5 })
  const p = createQosPolicy({ maxMembers: 2, sizes: s })
  const [x, y] = await Promise.all([p.serverQos('a'), p.serverQos('a')])
  t.same([x, y], [0, 0])
  t.equal(s.reads, 1, 'one read')
  p.forget()
  const pending = p.serverQos('a')
  p.forget('a') // a membership change while reading
  await pending
  await p.serverQos('a')
  t.equal(s.reads, 3, 'the read that raced the change was not cached')
})

t.test('a failed read keeps the last known count, else QoS 1', async (t) => {
  let now = 0
  const s = sizes({ big: 10 })
  const errors: unknown[] = []
  const p = createQosPolicy({ maxMembers: 2, sizes: s, ttlMs: 10, clock: () => now, onError: (e) => errors.push(e) })
  t.equal(await p.serverQos('big'), 0)
  s.failNext(true)
  now += 20
  t.equal(await p.serverQos('big'), 0, 'the last known count')
  t.equal(await p.serverQos('other'), 1, 'nothing known: QoS 1')
  t.equal(errors.length, 2, 'failures are reported')
})

t.test('offline bounds and the QoS limit are configuration', async (t) => {
  const c = loadConfig({ CHIME_OFFLINE_MAX_MESSAGES: '50', CHIME_OFFLINE_TTL_SECONDS: '60', CHIME_SESSION_EXPIRY_SECONDS: '120', CHIME_QOS1_MAX_MEMBERS: '0' })
  t.same([c.offlineMaxMessages, c.offlineTtlSeconds, c.sessionExpirySeconds, c.qos1MaxMembers], [50, 60, 120, 0])
  const d = loadConfig({})
  t.same([d.offlineMaxMessages, d.offlineTtlSeconds, d.sessionExpirySeconds, d.qos1MaxMembers], [1000, 604_800, 2_592_000, 1000])
  t.throws(() => loadConfig({ CHIME_OFFLINE_MAX_MESSAGES: '0' }), ConfigError, 'a cap of 0 is refused')
  t.throws(() => loadConfig({ CHIME_OFFLINE_TTL_SECONDS: 'soon' }), ConfigError)
})
