// The sign-in rate limiter: fixed windows per key, per address and per account.
import t from 'tap'
import { AuthRateLimiter, clientAddress, FixedWindowLimiter } from '../../api/src/auth/rate-limit.ts'
import { ChatError } from '../../clients/sdk/src/errors.ts'

t.test('a fixed window allows `limit` attempts, then tells how long to wait', async (t) => {
  let now = 0
  const l = new FixedWindowLimiter({ limit: 3, windowMs: 10_000, now: () => now })
  for (let i = 0; i < 3; i++) {
    t.equal(l.waitMs('k'), 0, `attempt ${i + 1} may go`)
    l.hit('k')
  }
  now = 4000
  t.equal(l.waitMs('k'), 6000, 'the fourth waits for the end of the window')
  t.equal(l.waitMs('other'), 0, 'keys are independent')
  now = 10_000
  t.equal(l.waitMs('k'), 0, 'a new window starts fresh')
  l.hit('k')
  t.equal(l.waitMs('k'), 0)
})

t.test('limit 0 never limits', async (t) => {
  const l = new FixedWindowLimiter({ limit: 0, windowMs: 1000 })
  for (let i = 0; i < 1000; i++) l.hit('k')
  t.equal(l.waitMs('k'), 0)
  t.equal(l.size, 0, 'and remembers nothing')
})

t.test('memory is bounded: expired windows go first, then the oldest', async (t) => {
  let now = 0
  const l = new FixedWindowLimiter({ limit: 1, windowMs: 1000, maxKeys: 100, now: () => now })
  for (let i = 0; i < 100; i++) l.hit(`a${i}`)
  t.equal(l.size, 100)
  now = 2000
  l.hit('fresh')
  t.equal(l.size, 1, 'expired windows were dropped')
  for (let i = 0; i < 150; i++) l.hit(`b${i}`)
  t.ok(l.size <= 100, `never more than maxKeys (${l.size})`)
  t.ok(l.waitMs('b149') > 0, 'the newest keys are kept')
})

t.test('AuthRateLimiter: RATE_LIMITED with retry_after_s; refused attempts are not counted', async (t) => {
  let now = 0
  const limiter = new AuthRateLimiter({ perIp: 5, perAccount: 2, windowSeconds: 60 }, () => now)
  limiter.attempt('10.0.0.1', 'Alice')
  limiter.attempt('10.0.0.2', 'alice')
  let caught: unknown
  try {
    limiter.attempt('10.0.0.3', 'ALICE')
  } catch (err) {
    caught = err
  }
  t.ok(caught instanceof ChatError, 'the third attempt on one account (any letter case, any address) is refused')
  t.equal((caught as ChatError).code, 'RATE_LIMITED')
  t.equal((caught as ChatError).status, 429)
  t.same((caught as ChatError).details, { retry_after_s: 60 })
  now = 59_500
  let late: unknown
  try {
    limiter.attempt('10.0.0.3', 'alice')
  } catch (err) {
    late = err
  }
  t.same((late as ChatError).details, { retry_after_s: 1 }, 'retry_after_s rounds up and is at least 1')
  limiter.attempt('10.0.0.3', 'bob')
  limiter.attempt('10.0.0.3')
  limiter.attempt('10.0.0.3')
  limiter.attempt('10.0.0.3')
  limiter.attempt('10.0.0.3')
  t.throws(() => limiter.attempt('10.0.0.3', 'carol'), { code: 'RATE_LIMITED' }, 'the sixth attempt from one address is refused')
  now = 119_500 // the address's window began with its first counted attempt, at 59.5 s
  limiter.attempt('10.0.0.3', 'carol')
  limiter.attempt('10.0.0.3', 'alice')
  t.pass('a new window lets both through')
  // The refused attempts were not counted: carol had one refused and one accepted attempt.
  limiter.attempt('10.0.0.4', 'carol')
  t.throws(() => limiter.attempt('10.0.0.4', 'carol'), { code: 'RATE_LIMITED' })
})

t.test('the client address behind trusted proxies', async (t) => {
  t.equal(clientAddress('10.0.0.9', '1.2.3.4', 0), '10.0.0.9', 'no trusted proxy: the socket address, X-Forwarded-For ignored')
  t.equal(clientAddress('10.0.0.9', undefined, 1), '10.0.0.9', 'no header: the socket address')
  t.equal(clientAddress('10.0.0.9', '1.2.3.4', 1), '1.2.3.4', 'one proxy: the address it saw')
  t.equal(clientAddress('10.0.0.9', 'forged, 1.2.3.4', 1), '1.2.3.4', 'a forged entry on the left is not taken')
  t.equal(clientAddress('10.0.0.9', 'forged, 1.2.3.4, 10.0.0.5', 2), '1.2.3.4', 'two proxies')
  t.equal(clientAddress('10.0.0.9', ['forged', '1.2.3.4'], 1), '1.2.3.4', 'repeated headers')
  t.equal(clientAddress('10.0.0.9', '1.2.3.4', 3), '1.2.3.4', 'fewer entries than hops: the left-most')
})
