// POST to PUBLISH latency: a poster sends POST_MESSAGE requests over MQTT at a fixed rate;
// a subscriber on the channel measures the time from send to PUBLISH_DELTA arrival. The
// poster and subscriber run in a child process so the broker's process only serves.
//   npm run bench -- post-latency [--profile embedded|production] [--rate 100] [--count 2000] [--warmup 200]
import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createConnection } from 'mysql2/promise'
import pino from 'pino'
import { loadConfig } from '../config/load-config.ts'
import { startEmbedded } from '../bin/processes.ts'
import { migrate } from '../api/src/db/migrate.ts'

export interface LatencyResult {
  profile: string
  rate: number
  count: number
  delivered: number
  p50: number
  p99: number
  max: number
  seconds: number
}

interface Args {
  profile: 'embedded' | 'production'
  rate: number
  count: number
  warmup: number
}

export async function postLatency(args: Args): Promise<LatencyResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'chime-bench-'))
  let databaseUrl = ''
  let dropDb: (() => Promise<void>) | undefined
  if (args.profile === 'production') {
    const base = process.env['CHIME_BENCH_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306'
    const name = `chime_bench_${process.pid}`
    databaseUrl = `${base}/${name}`
    await migrate(databaseUrl)
    dropDb = async () => {
      const c = await createConnection(base)
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``)
      await c.end()
    }
  }
  const config = loadConfig({}, {
    httpPort: 0, mqttPort: 0, host: '127.0.0.1', dataDir, logLevel: 'silent', databaseUrl,
    redisUrl: args.profile === 'production' ? (process.env['CHIME_BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379') : '',
  })
  const running = await startEmbedded(config, pino({ level: 'silent' }))
  try {
    const base = `http://127.0.0.1:${running.httpPort}`
    const post = async <T>(path: string, body: unknown, token?: string): Promise<T> => {
      const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) })
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
      return (await res.json()) as T
    }
    const username = `bench${Date.now()}`
    const user = await post<{ user_id: string; token: string }>('/api/auth/register', { username, password: 'benchmark password' })
    const server = await post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'bench' }, user.token)
    const child = fork(fileURLToPath(new URL('./post-latency-client.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] })
    const result = await new Promise<Omit<LatencyResult, 'profile'>>((resolve, reject) => {
      child.once('message', (m) => resolve(m as Omit<LatencyResult, 'profile'>))
      child.once('error', reject)
      child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)))
      child.send({ mqttUrl: `mqtt://127.0.0.1:${running.mqttPort}`, username, token: user.token, serverId: server.server_id, channelId: server.channel_id, rate: args.rate, count: args.count, warmup: args.warmup })
    })
    child.kill()
    return { profile: args.profile === 'embedded' ? 'embedded (SQLite, in-memory broker)' : 'production (MariaDB + Redis, one process)', ...result }
  } finally {
    await running.close()
    await dropDb?.()
    await rm(dataDir, { recursive: true, force: true })
  }
}
