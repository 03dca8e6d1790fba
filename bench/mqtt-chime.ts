// Starts Chime's broker for the raw MQTT scenarios in a child process (mqtt-chime-child.ts)
// and hands back its pid, MQTT port and seeded users, with a CPU profiler switch and
// garbage collections before memory is read (the child runs with --expose-gc, nothing else).
import { fork, type ChildProcess } from 'node:child_process'
import { nextReport, stopChild } from './forked-worker.ts'
import { fileURLToPath } from 'node:url'

export interface BenchUser {
  userId: string
  username: string
  token: string
  /** The user's presence topic: the one topic it may publish on for others to receive. */
  topic: string
}

export type ChimeChildCommand = { type: 'seed'; users: number } | { type: 'profile-start' } | { type: 'profile-stop'; file: string } | { type: 'gc' } | { type: 'memory' } | { type: 'heap-snapshot'; file: string } | { type: 'stop' }

/** process.memoryUsage() of the broker process, bytes. */
export interface ChimeMemory {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

export type ChimeChildReport =
  | { type: 'ready'; pid: number; mqttPort: number; httpPort: number; users: BenchUser[]; seedMs: number }
  | { type: 'profiling' }
  | { type: 'profiled'; file: string }
  | { type: 'collected'; heapUsed: number; external: number; memory: ChimeMemory; collections: number }
  | { type: 'memory'; memory: ChimeMemory }
  | { type: 'heap-snapshot'; file: string }
  | { type: 'failed'; error: string }

export interface ChimeBroker {
  pid: number
  url: string
  /** GET /metrics of its HTTP port (ingress levelling, broker/src/ingress.ts). */
  metricsUrl: string
  users: BenchUser[]
  seedMs: number
  /** Starts a CPU profile of the broker process (node:inspector, 500 µs sampling). */
  profileStart(): Promise<void>
  /** Stops it and writes the .cpuprofile to `file`. */
  profileStop(file: string): Promise<void>
  /**
   * Full garbage collections in the broker process until its committed heap stops shrinking
   * (at most 30); answers its V8 heap in use and external memory, bytes, and how many ran.
   */
  collectGarbage(): Promise<{ heapUsed: number; external: number; memory: ChimeMemory; collections: number }>
  /** The broker process's memory as it is (no collection forced). */
  memory(): Promise<ChimeMemory>
  /** Writes a heap snapshot of the broker process (a full collection first) to `file`. */
  heapSnapshot(file: string): Promise<void>
  stop(): Promise<void>
}

const next = (child: ChildProcess, want: ChimeChildReport['type'], ms: number): Promise<ChimeChildReport> => nextReport<ChimeChildReport>(child, want, ms, "Chime's broker process")

/** The embedded profile with `users` seeded users, listening for MQTT on a free loopback port. */
export async function startChimeBroker(users: number): Promise<ChimeBroker> {
  const child = fork(fileURLToPath(new URL('./mqtt-chime-child.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const send = (cmd: ChimeChildCommand): void => void child.send(cmd)
  try {
    const ready = next(child, 'ready', 120_000)
    send({ type: 'seed', users })
    const r = (await ready) as Extract<ChimeChildReport, { type: 'ready' }>
    return {
      pid: r.pid,
      url: `mqtt://127.0.0.1:${r.mqttPort}`,
      metricsUrl: `http://127.0.0.1:${r.httpPort}/metrics`,
      users: r.users,
      seedMs: r.seedMs,
      async profileStart() {
        const answer = next(child, 'profiling', 10_000)
        send({ type: 'profile-start' })
        await answer
      },
      async profileStop(file) {
        const answer = next(child, 'profiled', 60_000)
        send({ type: 'profile-stop', file })
        await answer
      },
      async collectGarbage() {
        const answer = next(child, 'collected', 30_000)
        send({ type: 'gc' })
        const r = (await answer) as Extract<ChimeChildReport, { type: 'collected' }>
        return { heapUsed: r.heapUsed, external: r.external, memory: r.memory, collections: r.collections }
      },
      async memory() {
        const answer = next(child, 'memory', 30_000)
        send({ type: 'memory' })
        return ((await answer) as Extract<ChimeChildReport, { type: 'memory' }>).memory
      },
      async heapSnapshot(file) {
        const answer = next(child, 'heap-snapshot', 300_000)
        send({ type: 'heap-snapshot', file })
        await answer
      },
      stop: () => stopChild(child, () => send({ type: 'stop' }), 15_000),
    }
  } catch (err) {
    await stopChild(child, () => child.kill('SIGKILL'), 15_000)
    throw err
  }
}

