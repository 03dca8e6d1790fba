// Starts Chime for the chat scenarios in a child process (chat-chime-child.ts) with seeded
// members, and reads what the Chime process (and, on the production profile, MariaDB and
// Redis) use: CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status, sampled.
import { fork, type ChildProcess } from 'node:child_process'
import { nextReport, stopChild } from './forked-worker.ts'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Config } from '../config/schema.ts'
import type { BenchProfile } from './bench-chime.ts'
import { cpuSeconds, rssBytes } from './mqtt-proc.ts'

export interface ChatUser {
  userId: string
  username: string
  token: string
  inbox: string
}

export interface SeededGroup {
  serverId: string
  channelId: string
  /** The channel's topic (PUBLISH_DELTA). */
  topic: string
  users: ChatUser[]
}

export type ChatChimeCommand =
  | { type: 'start'; profile: BenchProfile; name: string; overrides?: Partial<Config>; groups: Array<{ members: number }> }
  | { type: 'stats' }
  | { type: 'stop' }

export type ChatChimeReport =
  | { type: 'ready'; pid: number; mqttPort: number; httpPort: number; databaseUrl: string; owner: ChatUser; groups: SeededGroup[]; seedMs: number }
  | { type: 'stats'; connected: number; rss: number; heapUsed: number }
  | { type: 'failed'; error: string }

export interface ChatChime {
  profile: BenchProfile
  pid: number
  mqttUrl: string
  httpBase: string
  owner: ChatUser
  groups: SeededGroup[]
  seedMs: number
  /** MQTT clients the broker counts as connected, and the process's memory. */
  stats(): Promise<{ connected: number; rss: number; heapUsed: number }>
  /** One HTTP call to the API as `token` (JSON in, JSON out). */
  call<T>(method: string, path: string, body: unknown, token: string): Promise<T>
  stop(): Promise<void>
}

const next = (child: ChildProcess, want: ChatChimeReport['type'], ms: number): Promise<ChatChimeReport> => nextReport<ChatChimeReport>(child, want, ms, 'the Chime process')


/** Chime on `profile` with one server per group of `members` seeded users each. */
export async function startChatChime(profile: BenchProfile, groups: Array<{ members: number }>, overrides: Partial<Config> = {}): Promise<ChatChime> {
  // CHIME_BENCH_CPU_PROF=<dir>: the Chime process writes a .cpuprofile there when it stops
  // (summarise it with `npx tsx bench/mqtt-profile.ts <file>`).
  const profDir = process.env['CHIME_BENCH_CPU_PROF']
  const execArgv = ['--import', 'tsx', ...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [])]
  const child = fork(fileURLToPath(new URL('./chat-chime-child.ts', import.meta.url)), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  try {
    const ready = next(child, 'ready', 180_000)
    child.send({ type: 'start', profile, name: 'chat', overrides, groups } satisfies ChatChimeCommand)
    const r = (await ready) as Extract<ChatChimeReport, { type: 'ready' }>
    const httpBase = `http://127.0.0.1:${r.httpPort}`
    return {
      profile, pid: r.pid, mqttUrl: `mqtt://127.0.0.1:${r.mqttPort}`, httpBase, owner: r.owner, groups: r.groups, seedMs: r.seedMs,
      async stats() {
        const answer = next(child, 'stats', 10_000)
        child.send({ type: 'stats' } satisfies ChatChimeCommand)
        const s = (await answer) as Extract<ChatChimeReport, { type: 'stats' }>
        return { connected: s.connected, rss: s.rss, heapUsed: s.heapUsed }
      },
      async call<T>(method: string, path: string, body: unknown, token: string): Promise<T> {
        const res = await fetch(httpBase + path, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) })
        if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
        return (await res.json()) as T
      },
      stop: () => stopChild(child, () => child.send({ type: 'stop' } satisfies ChatChimeCommand), 20_000),
    }
  } catch (err) {
    await stopChild(child, () => child.kill('SIGKILL'), 20_000)
    throw err
  }
}

/** The processes whose CPU and memory a chat figure includes: Chime, and on production MariaDB and Redis. */
export function watchedProcesses(chime: ChatChime): Array<{ name: string; pid: number }> {
  const out = [{ name: 'chime', pid: chime.pid }]
  if (chime.profile !== 'production') return out
  const mysqlPort = new URL(process.env['CHIME_BENCH_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306').port || '3306'
  const redisPort = new URL(process.env['CHIME_BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379').port || '6379'
  let mariadb: number | null = null
  let redis: number | null = null
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim()
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if ((comm === 'mariadbd' || comm === 'mysqld') && mysqlPort === '3306' && mariadb === null) mariadb = Number(entry)
      if (comm === 'redis-server' && cmdline.includes(`:${redisPort}`) && redis === null) redis = Number(entry)
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  if (mariadb !== null) out.push({ name: 'mariadb', pid: mariadb })
  if (redis !== null) out.push({ name: 'redis', pid: redis })
  return out
}

export interface Usage {
  /** Percent of one core over the sampled interval. */
  cpuPercent: Record<string, number | null>
  /** Highest RSS seen while sampling, MiB. */
  peakRssMiB: Record<string, number | null>
  endRssMiB: Record<string, number | null>
}

/** Samples CPU and RSS of `procs` every `everyMs` from now until `stop()`. */
export function sampleUsage(procs: Array<{ name: string; pid: number }>, everyMs = 250): { stop(): Usage } {
  const t0 = performance.now()
  const cpu0 = new Map(procs.map((p) => [p.name, cpuSeconds(p.pid)]))
  const peak = new Map<string, number>()
  const sample = (): void => {
    for (const p of procs) {
      const rss = rssBytes(p.pid)
      if (rss !== null && rss > (peak.get(p.name) ?? 0)) peak.set(p.name, rss)
    }
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    stop() {
      clearInterval(timer)
      sample()
      const seconds = (performance.now() - t0) / 1000
      const mib = (b: number | null | undefined): number | null => (b === null || b === undefined ? null : Math.round(b / 2 ** 20))
      const usage: Usage = { cpuPercent: {}, peakRssMiB: {}, endRssMiB: {} }
      for (const p of procs) {
        const a = cpu0.get(p.name)
        const b = cpuSeconds(p.pid)
        usage.cpuPercent[p.name] = a === null || a === undefined || b === null ? null : Math.round(((b - a) / seconds) * 100)
        usage.peakRssMiB[p.name] = mib(peak.get(p.name))
        usage.endRssMiB[p.name] = mib(rssBytes(p.pid))
      }
      return usage
    },
  }
}
