// The RESTORE_HISTORY rate limit (services/restore-limiter.ts): a token bucket per user whose
// cost grows with the links and deltas asked for and with the process's commit traffic, and
// a cap on restores running at once. A fake clock makes every figure exact.
import t from 'tap'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import { RestoreLimiter, TrafficMeter } from '../../api/src/services/restore-limiter.ts'

const limits = { restoreBurst: 10, restoreRatePerSecond: 2, restoreBusyDeltasPerSecond: 1000, restoreMaxConcurrent: 2 }

function refusal(fn: () => unknown): { code: string; retryMs: number } | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    if (!(err instanceof ChatError)) throw err
    return { code: err.code, retryMs: Number(err.details?.['retry_after_ms']) }
  }
}

t.test('cost: 1 + links + deltas / 1000, times 1 + traffic / busy', async (t) => {
  let now = 0
  let appended = 0
  const meter = new TrafficMeter(() => appended, 5000, () => now)
  const limiter = new RestoreLimiter(limits, meter, () => now)
  t.equal(limiter.cost({ links: 0, deltas: 0 }), 1, 'an empty page costs 1')
  t.equal(limiter.cost({ links: 3, deltas: 500 }), 4.5, '3 links and 500 deltas: 4.5')
  now += 1000
  appended += 1000 // 1,000 deltas/s committed: twice the price
  t.equal(limiter.cost({ links: 3, deltas: 500 }), 9, 'at the busy rate the cost doubles')
  now += 10_000 // traffic stops; the window forgets it
  t.equal(limiter.cost({ links: 3, deltas: 500 }), 4.5, 'and falls back when the traffic is over')
})

t.test('the bucket refuses with the time until it holds the cost, per user', async (t) => {
  let now = 0
  const limiter = new RestoreLimiter(limits, new TrafficMeter(() => 0, 5000, () => now), () => now)
  limiter.acquire('u1', { links: 4, deltas: 0 })() // 5 of 10
  limiter.acquire('u1', { links: 3, deltas: 0 })() // 4: 1 left
  const refused = refusal(() => limiter.acquire('u1', { links: 2, deltas: 0 }))
  t.same(refused, { code: 'RATE_LIMITED', retryMs: 1000 }, 'cost 3 with 1 left at 2/s: retry in 1 s')
  t.equal(refusal(() => limiter.acquire('u2', { links: 2, deltas: 0 })()), undefined, 'another user is not affected')
  now += 999
  t.equal(refusal(() => limiter.acquire('u1', { links: 2, deltas: 0 }))?.code, 'RATE_LIMITED', 'not a millisecond early')
  now += 1
  t.equal(refusal(() => limiter.acquire('u1', { links: 2, deltas: 0 })()), undefined, 'on time it passes')
  now += 60_000
  t.equal(refusal(() => limiter.acquire('u1', { links: 500, deltas: 0 })()), undefined, 'a request larger than the burst runs from a full bucket')
  t.same(refusal(() => limiter.acquire('u1', { links: 0, deltas: 0 })), { code: 'RATE_LIMITED', retryMs: 246_000 }, 'and leaves the bucket in debt for its full cost')
})

t.test('at most restoreMaxConcurrent run at once; a slot is released once', async (t) => {
  const limiter = new RestoreLimiter({ ...limits, restoreBurst: 0 }, new TrafficMeter(() => 0))
  const a = limiter.acquire('u1', { links: 0, deltas: 0 })
  const b = limiter.acquire('u2', { links: 0, deltas: 0 })
  t.same(refusal(() => limiter.acquire('u3', { links: 0, deltas: 0 })), { code: 'RATE_LIMITED', retryMs: 250 }, 'the third concurrent restore is refused')
  a()
  a()
  const c = limiter.acquire('u3', { links: 0, deltas: 0 })
  t.equal(refusal(() => limiter.acquire('u4', { links: 0, deltas: 0 }))?.code, 'RATE_LIMITED', 'releasing twice frees one slot only')
  b()
  c()
})
