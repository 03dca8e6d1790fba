// The production profile's stores in one process: MariaDB for the log, Redis for broker
// sessions and fan-out. The same invariant suite as the embedded profile.
import t from 'tap'
import { runInvariantSuite } from './invariant-suite.ts'
import { startTestChime } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'

t.test('invariants on MariaDB + Redis', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  const chime = await startTestChime(t, { databaseUrl, redisUrl: redis.url })
  await runInvariantSuite(t, chime)
})
