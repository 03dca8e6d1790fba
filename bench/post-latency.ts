// POST to PUBLISH latency: a poster sends POST_MESSAGE requests over MQTT at a fixed rate;
// a subscriber on the channel measures the time from send to PUBLISH_DELTA arrival. The
// poster and subscriber run in a child process so the broker's process only serves.
//   npm run bench -- post-latency [--profile embedded|production] [--rate 100] [--count 2000] [--warmup 200]
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startBenchChime } from './bench-chime.ts'

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
  const chime = await startBenchChime(args.profile, 'bench')
  const running = chime.running
  try {
    const post = <T>(path: string, body: unknown, token?: string): Promise<T> => chime.call<T>('POST', path, body, token)
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
    await chime.close()
  }
}
