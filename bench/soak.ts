// Soak: connect/disconnect churn against Chime's broker for a fixed time, the broker's memory
// sampled all along (issue 8, part 6: no growth over 10 minutes).
//   npm run bench -- soak [--minutes 10] [--connections 2000] [--churn 50] [--sample-s 10] [--quick]
// The broker is the embedded profile as `npm start` runs it, in a process of its own
// (mqtt-chime.ts, the same as the raw MQTT scenarios). `connections` devices (soak-worker.ts,
// in two load-generator processes) connect as the SDK does, then `churn` of them a second
// leave (9 in 10 with DISCONNECT, 1 in 10 by dropping the socket) and come back 2 s later with
// the same client id. Every `sample-s` seconds the broker's RSS and V8 heap are read as they
// are (no collection forced); at the start (once every device is connected) and at the end
// (churn stopped, every device back) they are also read after full garbage collections
// (until the committed heap stops shrinking), and once more after every device has gone. The
// summary: start, end, min, max, the slope of RSS over the run and over its second half, and
// the growth between the two collected readings. Writes bench/results/soak.json. docs/benchmarks.md, "Soak".
import { fork, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startChimeBroker, type ChimeMemory } from './mqtt-chime.ts'
import { cpuSeconds, rssBytes } from './mqtt-proc.ts'
import type { SoakCommand, SoakReport, SoakSlot, SoakStats } from './soak-worker.ts'
import { topics } from '../clients/sdk/src/topics.ts'

export interface SoakOptions {
  minutes: number
  connections: number
  /** Devices that leave (and come back) per second. */
  churn: number
  sampleSeconds: number
  command: string
}

export interface SoakSample {
  /** Seconds since the churn started. */
  t: number
  rssMiB: number
  heapUsedMiB: number
  heapTotalMiB: number
  externalMiB: number
  /** Broker CPU since the previous sample, percent of one core. */
  cpuPercent: number | null
  connected: number
  connects: number
  disconnects: number
  lost: number
}

interface Collected {
  rssMiB: number
  heapUsedMiB: number
  heapTotalMiB: number
  externalMiB: number
}

export interface SoakSummary {
  startMiB: number
  endMiB: number
  minMiB: number
  maxMiB: number
  /** Least-squares slope of RSS, MiB per minute, over every sample and over the second half. */
  slopeMiBPerMin: number
  secondHalfSlopeMiBPerMin: number
  heapUsedSlopeMiBPerMin: number
  /** After full collections (until the heap stops shrinking): every device connected, at the start and at the end, and all gone. */
  collectedStart: Collected
  collectedEnd: Collected
  collectedClosed: Collected
  connects: number
  disconnects: number
  dropped: number
  lost: number
  errors: Record<string, number>
}

const ABRUPT_SHARE = 0.1
const AWAY_MS = 2000
const CONNECT_CONCURRENCY = 20
const PROCESSES = 2

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d
const mib = (bytes: number): number => round(bytes / 2 ** 20, 1)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** One load-generator process of the soak, with replies awaited by type (bounded in time). */
class SoakProcess {
  private readonly child: ChildProcess
  private readonly inbox: SoakReport[] = []
  private readonly waiters: Array<{ type: SoakReport['type']; resolve: (r: SoakReport) => void }> = []
  constructor(label: string) {
    this.child = fork(fileURLToPath(new URL('./soak-worker.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (r: SoakReport) => {
      const i = this.waiters.findIndex((w) => w.type === r.type)
      if (i < 0) return void this.inbox.push(r)
      this.waiters.splice(i, 1)[0]!.resolve(r)
    })
    this.child.once('exit', (code) => {
      if (this.waiters.length > 0) console.log(`soak: load generator ${label} exited (${code})`)
    })
  }
  send(cmd: SoakCommand): void {
    if (this.child.connected) this.child.send(cmd)
  }
  next<T extends SoakReport['type']>(type: T, ms: number): Promise<Extract<SoakReport, { type: T }>> {
    const i = this.inbox.findIndex((r) => r.type === type)
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Extract<SoakReport, { type: T }>)
    return new Promise((resolve, reject) => {
      const w = { type, resolve: resolve as (r: SoakReport) => void }
      this.waiters.push(w)
      setTimeout(() => {
        const k = this.waiters.indexOf(w)
        if (k < 0) return
        this.waiters.splice(k, 1)
        reject(new Error(`soak: no ${type} from a load generator within ${ms / 1000} s`))
      }, ms)
    })
  }
  async stats(): Promise<SoakStats> {
    const answer = this.next('stats', 10_000)
    this.send({ type: 'stats' })
    return answer
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000)
    this.send({ type: 'stop' })
    await exited
    clearTimeout(timer)
  }
}

/** Least-squares slope of y over x (per unit of x). */
function slope(points: Array<[number, number]>): number {
  if (points.length < 2) return 0
  const n = points.length
  const mx = points.reduce((a, p) => a + p[0], 0) / n
  const my = points.reduce((a, p) => a + p[1], 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

const collected = (m: ChimeMemory, rss: number): Collected => ({ rssMiB: mib(rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external) })

export async function runSoak(o: SoakOptions): Promise<SoakSummary> {
  const load = loadavg().map((l) => round(l))
  console.log(`soak: ${o.minutes} min, ${o.connections} devices, ${o.churn} leave and come back per second (${Math.round(ABRUPT_SHARE * 100)} % dropping the socket, back after ${AWAY_MS / 1000} s); load average before ${load.join(', ')}`)
  const users = Math.min(o.connections, 2000)
  const broker = await startChimeBroker(users)
  const procs = Array.from({ length: PROCESSES }, (_, j) => new SoakProcess(`soak/${j}`))
  const run = Date.now().toString(36)
  try {
    const slots: SoakSlot[] = Array.from({ length: o.connections }, (_, i) => {
      const u = broker.users[i % broker.users.length]!
      const other = broker.users[(i + 1) % broker.users.length]!
      return { clientId: `soak-${run}-${i}`, username: u.username, token: u.token, inbox: topics.inbox(u.userId), presence: u.topic, watch: other.topic }
    })
    const durationMs = o.minutes * 60_000
    const t0 = Date.now()
    procs.forEach((p, j) => p.send({ type: 'start', url: broker.url, keepalive: 60, slots: slots.filter((_, i) => i % PROCESSES === j), concurrency: CONNECT_CONCURRENCY, churnPerS: o.churn / PROCESSES, awayMs: AWAY_MS, abruptShare: ABRUPT_SHARE, durationMs }))
    const ready = await Promise.all(procs.map((p) => p.next('connected', 330_000)))
    const connected = ready.reduce((n, r) => n + r.connected, 0)
    console.log(`soak: ${connected} of ${o.connections} devices connected in ${round((Date.now() - t0) / 1000, 1)} s${ready.some((r) => Object.keys(r.errors).length > 0) ? `, errors ${JSON.stringify(ready.map((r) => r.errors))}` : ''}`)
    // The churn runs from here; the first collected reading is taken right away.
    const start = await broker.collectGarbage()
    const collectedStart = collected(start.memory, rssBytes(broker.pid) ?? 0)
    console.log(`soak: start, after full collections: RSS ${collectedStart.rssMiB} MiB, V8 heap in use ${collectedStart.heapUsedMiB} MiB`)
    const samples: SoakSample[] = []
    const began = Date.now()
    let cpuBefore = cpuSeconds(broker.pid)
    let cpuAt = Date.now()
    const stats = async (): Promise<SoakStats[]> => Promise.all(procs.map((p) => p.stats()))
    for (let k = 1; Date.now() - began < durationMs; k++) {
      await sleep(Math.max(0, began + k * o.sampleSeconds * 1000 - Date.now()))
      const m = await broker.memory()
      const rss = rssBytes(broker.pid) ?? 0
      const cpu = cpuSeconds(broker.pid)
      const s = await stats()
      const sample: SoakSample = {
        t: round((Date.now() - began) / 1000, 1), rssMiB: mib(rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external),
        cpuPercent: cpu === null || cpuBefore === null ? null : Math.round(((cpu - cpuBefore) / ((Date.now() - cpuAt) / 1000)) * 100),
        connected: s.reduce((n, x) => n + x.connected, 0), connects: s.reduce((n, x) => n + x.connects, 0), disconnects: s.reduce((n, x) => n + x.disconnects + x.dropped, 0), lost: s.reduce((n, x) => n + x.lost, 0),
      }
      cpuBefore = cpu
      cpuAt = Date.now()
      samples.push(sample)
      console.log(`soak +${Math.round(sample.t)} s: RSS ${sample.rssMiB} MiB, V8 heap ${sample.heapUsedMiB} / ${sample.heapTotalMiB} MiB, broker CPU ${sample.cpuPercent ?? '-'} %, ${sample.connected} connected, ${sample.connects} connects, ${sample.disconnects} leaves, ${sample.lost} lost`)
    }
    // The churn is over (the workers stop it after the same time); wait until every device is back.
    const settleDeadline = Date.now() + 60_000
    let final = await stats()
    while ((final.some((x) => x.churning) || final.reduce((n, x) => n + x.connected, 0) < connected) && Date.now() < settleDeadline) {
      await sleep(500)
      final = await stats()
    }
    const end = await broker.collectGarbage()
    const collectedEnd = collected(end.memory, rssBytes(broker.pid) ?? 0)
    console.log(`soak: end (${final.reduce((n, x) => n + x.connected, 0)} connected), after full collections: RSS ${collectedEnd.rssMiB} MiB, V8 heap in use ${collectedEnd.heapUsedMiB} MiB`)
    await Promise.all(procs.map((p) => p.stop()))
    await sleep(2000)
    const closed = await broker.collectGarbage()
    const collectedClosed = collected(closed.memory, rssBytes(broker.pid) ?? 0)
    const errors: Record<string, number> = {}
    for (const s of final) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v
    const rss = samples.map((s) => s.rssMiB)
    const half = samples.filter((s) => s.t >= (o.minutes * 60) / 2)
    const summary: SoakSummary = {
      startMiB: rss[0] ?? NaN, endMiB: rss.at(-1) ?? NaN, minMiB: Math.min(...rss), maxMiB: Math.max(...rss),
      slopeMiBPerMin: round(slope(samples.map((s) => [s.t / 60, s.rssMiB]))),
      secondHalfSlopeMiBPerMin: round(slope(half.map((s) => [s.t / 60, s.rssMiB]))),
      heapUsedSlopeMiBPerMin: round(slope(samples.map((s) => [s.t / 60, s.heapUsedMiB]))),
      collectedStart, collectedEnd, collectedClosed,
      connects: final.reduce((n, x) => n + x.connects, 0), disconnects: final.reduce((n, x) => n + x.disconnects, 0), dropped: final.reduce((n, x) => n + x.dropped, 0), lost: final.reduce((n, x) => n + x.lost, 0), errors,
    }
    const after = loadavg().map((l) => round(l))
    console.log(`\nload average after the run ${after.join(', ')}`)
    console.log('\n| minutes | devices | churn /s | connects | leaves (dropped) | lost | RSS start → end MiB (min, max) | RSS slope MiB/min (all, second half) | V8 heap in use slope MiB/min | after full collections, start → end: RSS / V8 heap MiB | all gone: RSS / V8 heap MiB |')
    console.log('|---|---|---|---|---|---|---|---|---|---|---|')
    console.log(`| ${o.minutes} | ${o.connections} | ${o.churn} | ${summary.connects} | ${summary.disconnects + summary.dropped} (${summary.dropped}) | ${summary.lost} | ${summary.startMiB} → ${summary.endMiB} (${summary.minMiB}, ${summary.maxMiB}) | ${summary.slopeMiBPerMin}, ${summary.secondHalfSlopeMiBPerMin} | ${summary.heapUsedSlopeMiBPerMin} | ${collectedStart.rssMiB} → ${collectedEnd.rssMiB} / ${collectedStart.heapUsedMiB} → ${collectedEnd.heapUsedMiB} | ${collectedClosed.rssMiB} / ${collectedClosed.heapUsedMiB} |`)
    if (Object.keys(errors).length > 0) console.log(`errors: ${JSON.stringify(errors)}`)
    await mkdir(new URL('./results/', import.meta.url), { recursive: true })
    await writeFile(new URL('./results/soak.json', import.meta.url), JSON.stringify({
      at: new Date().toISOString(), command: o.command, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverageBefore: load, loadAverageAfter: after,
      broker: 'Chime embedded profile (startEmbedded), own process', devices: o.connections, users, churnPerS: o.churn, abruptShare: ABRUPT_SHARE, awayMs: AWAY_MS, minutes: o.minutes, sampleSeconds: o.sampleSeconds,
      summary, samples,
    }, null, 2))
    return summary
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
    await broker.stop()
  }
}
