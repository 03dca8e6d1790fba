// Runs a suite on both profiles: embedded (SQLite, in-memory broker) and production
// (MariaDB + a private redis-server, aedes-persistence-redis and mqemitter-redis).
import type { Test } from 'tap'
import type { Config } from '../../config/schema.ts'
import { startTestChime, type TestChime } from './chime.ts'
import { freshMysqlUrl } from './databases.ts'
import { startRedis } from './redis.ts'

export async function eachProfile(t: Test, name: string, fn: (t: Test, chime: TestChime) => Promise<void>, overrides: Partial<Config> = {}): Promise<void> {
  await t.test(`${name} [embedded]`, async (t) => fn(t, await startTestChime(t, overrides)))
  await t.test(`${name} [production]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    await fn(t, await startTestChime(t, { ...overrides, databaseUrl, redisUrl: redis.url }))
  })
}
