// A Chime for a benchmark: either profile in this process (embedded: SQLite and the
// in-memory broker; production: a fresh MariaDB database and Redis), a JSON caller for its
// HTTP API, and a close that removes what it made.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'
import pino from 'pino'
import { loadConfig } from '../config/load-config.ts'
import type { Config } from '../config/schema.ts'
import { startEmbedded, type Running } from '../bin/processes.ts'
import { migrate } from '../api/src/db/migrate.ts'

export type BenchProfile = 'embedded' | 'production'

/** Chime's log level in benchmarks: silent, or CHIME_BENCH_LOG_LEVEL (say `warn`) to see why something failed. */
function benchLogLevel(): 'silent' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' {
  const level = process.env['CHIME_BENCH_LOG_LEVEL']
  return level === 'fatal' || level === 'error' || level === 'warn' || level === 'info' || level === 'debug' || level === 'trace' ? level : 'silent'
}

export interface BenchChime {
  running: Running
  call<T>(method: string, path: string, body: unknown, token?: string): Promise<T>
  close(): Promise<void>
}

export async function startBenchChime(profile: BenchProfile, name: string, overrides: Partial<Config> = {}): Promise<BenchChime> {
  const dataDir = await mkdtemp(join(tmpdir(), 'chime-bench-'))
  let databaseUrl = ''
  let dropDb: (() => Promise<void>) | undefined
  if (profile === 'production') {
    const server = process.env['CHIME_BENCH_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306'
    const database = `chime_${name}_${process.pid}`
    databaseUrl = `${server}/${database}`
    await migrate(databaseUrl)
    dropDb = async () => {
      const c = await createConnection(server)
      await c.query(`DROP DATABASE IF EXISTS \`${database}\``)
      await c.end()
    }
  }
  const config = loadConfig({}, {
    httpPort: 0, mqttPort: 0, host: '127.0.0.1', dataDir, logLevel: benchLogLevel(), databaseUrl,
    redisUrl: profile === 'production' ? (process.env['CHIME_BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379') : '',
    ...overrides,
  })
  const running = await startEmbedded(config, pino({ level: benchLogLevel() }))
  const base = `http://127.0.0.1:${running.httpPort}`
  return {
    running,
    async call<T>(method: string, path: string, body: unknown, token?: string): Promise<T> {
      const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) })
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
      return (await res.json()) as T
    },
    async close() {
      await running.close()
      await dropDb?.()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
