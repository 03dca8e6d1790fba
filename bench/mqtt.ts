// Raw MQTT against a peer broker in the same run (issue 8, part 2):
//   fan-out    1 publisher → 100 and 1,000 subscribers, QoS 0 and QoS 1;
//   fan-in     100 publishers → 1 subscriber, QoS 0;
//   p2p        1,000 publisher → subscriber pairs, QoS 0 and QoS 1;
//   idle       10,000 and 50,000 connections: broker RSS per connection.
// Chime's broker runs in a child (mqtt-chime.ts: the embedded profile as shipped, every hook
// on), the peer is any broker by URL (by default a private Mosquitto, mqtt-peer.ts), and the
// same lean load generators (mqtt-load/) drive both, one after the other, per scenario.
// Each rate scenario is a short ramp: the offered delivery rate doubles until a step is not
// sustained (under 95 % of the deliveries due for what was sent in the measured window
// arrived, or p99 over 50 ms), then two steps narrow the gap; the highest sustained step is
// the broker's rate, and p99 is compared at the highest rate both sustained (the faster
// broker runs one more step at the slower one's rate). Every step is bounded in time; so are
// connects, drains and closes. docs/benchmarks.md, "Raw MQTT against Mosquitto".
//   npm run bench -- mqtt [--peer mqtt://127.0.0.1:1883 | aedes] [--only fanout,fanin,p2p,idle]
//                         [--quick] [--cpu-prof] [--subscribers 100,1000] [--pairs 1000]
//                         [--idle 10000,50000] [--step-ms 1200]
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startChimeBroker, type BenchUser, type ChimeMemory } from './mqtt-chime.ts'
import { CONNECTION_OWNERS, heapGrowth, printHeapGrowth, type HeapGrowth } from './heap-summary.ts'
import { startPrivateMosquitto, startRawAedes, peerAt, type PeerBroker } from './mqtt-peer.ts'
import { cpuSeconds, mayRaiseHardLimits, openFileCount, openFilesHardLimit, openFilesLimit, rssBytes } from './mqtt-proc.ts'
import { printSummary, summarizeFile, type ProfileSummary } from './mqtt-profile.ts'
import { nowMicros } from './mqtt-load/codec.ts'
import { LatencyHistogram } from './mqtt-load/histogram.ts'
import type { ConnSpec, CountsReport } from './mqtt-load/messages.ts'
import { LoadProcess } from './mqtt-load/process.ts'

export const MQTT_GROUPS = ['fanout', 'fanin', 'p2p', 'idle'] as const
export type MqttGroup = (typeof MQTT_GROUPS)[number]

export interface MqttOptions {
  /** The peer broker's URL, or `aedes` for a raw Aedes; a private Mosquitto when absent. */
  peer?: string
  only: MqttGroup[]
  /** Fan-out subscriber counts. */
  subscribers: number[]
  pairs: number
  idle: number[]
  warmMs: number
  measureMs: number
  /** Profile Chime's broker during each of its ramps (one .cpuprofile per scenario). */
  cpuProf: boolean
  /** Heap snapshots of Chime's broker before and after the idle connections, summarised per connection. */
  heapSnapshot?: boolean
  command: string
}

/**
 * A step is sustained when the publishers kept to the schedule (at most 5 % held back), at
 * least this share of the deliveries due for the messages sent in the window arrived...
 */
const SUSTAINED_SHARE = 0.95
/** ...and their p99 latency stays under this (the seed's PUBLISH target). */
const SUSTAINED_P99_MS = 50
const DRAIN_MS = 3000
/** Doublings a ramp may take above its first step. */
const RAMP_UP_STEPS = 7
/** Halvings below its first step when that one is not sustained. */
const RAMP_DOWN_STEPS = 2
/** Steps between the highest sustained rate and the lowest failed one (each halves the gap, geometrically). */
const RAMP_REFINE_STEPS = 2
/** First offered delivery rates, msgs/s. */
const FANOUT_START = 10_000
const FANIN_START = 5000
const P2P_START = 5000
/**
 * CONNECTs one load-generator process has outstanding: with two processes, within
 * Mosquitto's listen backlog of 100, so no SYN is dropped and retried a second later.
 */
const CONNECT_CONCURRENCY = 40
/** Connections one load-generator process opens at most (20,000 open files per process here). */
const CONNS_PER_PROCESS = 10_000

/**
 * The connections of a scenario, opened once per broker and used for each of its QoS levels
 * in turn (subscribers ask for QoS 1; a QoS 0 publish is delivered at QoS 0).
 */
interface Shape {
  key: string
  title: string
  group: Exclude<MqttGroup, 'idle'>
  qosLevels: Array<0 | 1>
  publishers: ConnSpec[]
  subscribers: ConnSpec[]
  /** Deliveries each publish causes. */
  fanout: number
  /** The first offered delivery rate, msgs/s; the ramp doubles it until a step fails. */
  start: number
}

interface Broker {
  name: 'chime' | 'peer'
  label: string
  url: string
  pid: number | null
  /** Full garbage collections (until the heap stops shrinking) before memory is read (Chime's process); answers its memory then. */
  collectGarbage?: () => Promise<{ heapUsed: number; memory: ChimeMemory; collections: number }>
  /** Its Prometheus metrics (Chime's process). */
  metricsUrl?: string
  /** Its memory as it is (Chime's process). */
  memory?: () => Promise<ChimeMemory>
  /** Writes a heap snapshot of it (Chime's process). */
  heapSnapshot?: (file: string) => Promise<void>
}

export interface StepResult {
  offered: number
  sentPerS: number
  deliveredPerS: number
  p50: number
  p99: number
  max: number
  cpuPercent: number | null
  rssMiB: number | null
  /** CPU of the load generators over the window, percent of one core. */
  generatorCpuPercent: number
  /** Deliveries that never arrived after the drain (QoS 0: dropped; QoS 1: still queued). */
  lost: number
  heldBack: number
  /** Of the deliveries due for the messages sent in the window, the share that arrived by the end of the drain. */
  deliveredShare: number
  /** The load generators, not the broker, fell behind the schedule (too little CPU for them). */
  publishersBehind: boolean
  errors: Record<string, number>
  sustained: boolean
}

export interface RampResult {
  broker: string
  connectMs: number
  connectErrors: Record<string, number>
  steps: StepResult[]
  best: StepResult | null
  /**
   * The lowest rate that failed above the best one failed only because the load generators
   * fell behind: the broker's own limit is higher than `best` (shown as "≥").
   */
  generatorBound: boolean
  /** One step at twice the highest sustained offered rate: how much of `best` is still delivered past the knee. */
  overload?: { offered: number; deliveredPerS: number; ofBest: number; step: StepResult; levelling?: Record<string, number> }
  profile?: ProfileSummary & { file: string }
}

export interface ScenarioResult {
  key: string
  title: string
  qos: number
  publishers: number
  subscribers: number
  chime: RampResult
  peer: RampResult
  /** The highest offered rate both sustained, with each one's figures there. */
  equal: { offered: number; chime: StepResult; peer: StepResult } | null
}

export interface IdleResult {
  broker: string
  requested: number
  held: number
  rssBeforeMiB: number
  rssAfterMiB: number
  kbPerConnection: number
  connectSeconds: number
  /** RSS once the broker is quiet, before any collection is forced (the figure an operator sees). */
  rssUnforcedMiB?: number
  kbPerConnectionUnforced?: number
  /** Growth of the V8 heap in use after full collections, per connection (Chime only; RSS can grow less when the heap had room). */
  heapKbPerConnection?: number
  /** Growth of the V8 heap committed (in use and free) after full collections, per connection. */
  heapCommittedKbPerConnection?: number
  /** Growth of the memory V8 accounts outside its heap (ArrayBuffer contents), per connection. */
  externalKbPerConnection?: number
  /** Full collections before the "after" reading (Chime: until the committed heap stopped shrinking). */
  collections?: number
  /** After every idle connection of the run was closed again (and full collections, Chime). */
  closed?: { rssMiB: number; heapUsedGrowthMiB?: number }
  errors: Record<string, number>
  note?: string
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d
const mib = (bytes: number | null): number | null => (bytes === null ? null : round(bytes / 2 ** 20, 1))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function addErrors(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v
}

/** Fills the specs of every scenario from the seeded users (the same for both brokers). */
function shapes(users: BenchUser[], o: MqttOptions): Shape[] {
  const conn = (key: string, role: string, i: number, u: BenchUser, extra: Partial<ConnSpec>): ConnSpec => ({ clientId: `${key}-${role}${i}`, username: u.username, password: u.token, ...extra })
  const out: Shape[] = []
  if (o.only.includes('fanout')) {
    for (const n of o.subscribers) {
      const key = `fanout-${n}`
      const pub = users[0]!
      out.push({
        key, title: `fan-out 1 → ${n.toLocaleString('en')}`, group: 'fanout', qosLevels: [0, 1], fanout: n, start: FANOUT_START,
        publishers: [conn(key, 'p', 0, pub, { publish: pub.topic })],
        subscribers: users.slice(1, n + 1).map((u, i) => conn(key, 's', i, u, { subscribe: [pub.topic] })),
      })
    }
  }
  if (o.only.includes('fanin')) {
    const key = 'fanin-100'
    const pubs = users.slice(0, 100)
    out.push({
      key, title: 'fan-in 100 → 1', group: 'fanin', qosLevels: [0], fanout: 1, start: FANIN_START,
      publishers: pubs.map((u, i) => conn(key, 'p', i, u, { publish: u.topic })),
      subscribers: [conn(key, 's', 0, users[100]!, { subscribe: pubs.map((u) => u.topic) })],
    })
  }
  if (o.only.includes('p2p')) {
    const key = `p2p-${o.pairs}`
    const pubs = users.slice(0, o.pairs)
    out.push({
      key, title: `point-to-point ${o.pairs.toLocaleString('en')} pairs`, group: 'p2p', qosLevels: [0, 1], fanout: 1, start: P2P_START,
      publishers: pubs.map((u, i) => conn(key, 'p', i, u, { publish: u.topic })),
      subscribers: users.slice(o.pairs, 2 * o.pairs).map((u, i) => conn(key, 's', i, u, { subscribe: [pubs[i]!.topic] })),
    })
  }
  return out
}

/** Users the selected scenarios need (the idle one reuses them, several devices each). */
export function usersNeeded(o: MqttOptions): number {
  let n = 100
  if (o.only.includes('fanout')) n = Math.max(n, Math.max(...o.subscribers) + 1)
  if (o.only.includes('fanin')) n = Math.max(n, 101)
  if (o.only.includes('p2p')) n = Math.max(n, 2 * o.pairs)
  return n
}

function split<T>(xs: T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => [])
  xs.forEach((x, i) => out[Math.floor((i * parts) / xs.length)]!.push(x))
  return out.filter((p) => p.length > 0)
}

/** Waits (at most `ms`) until the broker uses under 10 % of a core, so one scenario's backlog does not bleed into the next. */
async function quiet(pid: number | null, ms = 10_000): Promise<void> {
  if (pid === null) return sleep(500)
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const a = cpuSeconds(pid)
    await sleep(250)
    const b = cpuSeconds(pid)
    if (a === null || b === null || (b - a) / 0.25 < 0.1) return
  }
}

async function collect(procs: LoadProcess[]): Promise<CountsReport[]> {
  return Promise.all(procs.map((p) => p.request({ type: 'collect' }, 'counts', 10_000)))
}

async function runStep(s: Shape, qos: 0 | 1, broker: Broker, pubs: LoadProcess[], subs: LoadProcess[], offered: number, o: MqttOptions): Promise<StepResult> {
  const all = [...pubs, ...subs]
  const ratePerConn = offered / s.fanout / s.publishers.length
  const startAtUs = nowMicros() + 300_000
  const windowStartUs = startAtUs + o.warmMs * 1000
  const windowEndUs = windowStartUs + o.measureMs * 1000
  const sampleAt = (atUs: number): Promise<{ cpu: number | null; at: number; rss: number | null }> =>
    new Promise((resolve) => setTimeout(() => resolve({ cpu: broker.pid === null ? null : cpuSeconds(broker.pid), at: nowMicros(), rss: broker.pid === null ? null : rssBytes(broker.pid) }), Math.max(0, (atUs - nowMicros()) / 1000)))
  const armed = all.map((p) => p.expect('armed', 10_000))
  const sentReports = pubs.map((p) => p.expect('sent', 10_000 + o.warmMs + o.measureMs))
  for (const p of all) p.send({ type: 'step', qos, startAtUs, warmMs: o.warmMs, measureMs: o.measureMs, ratePerConn })
  const [first, last] = [sampleAt(windowStartUs), sampleAt(windowEndUs)]
  await Promise.all(armed)
  const sent = (await Promise.all(sentReports)).reduce((n, r) => n + r.sent, 0)
  const [c0, c1] = await Promise.all([first, last])
  // Drain: until every delivery (and every QoS 1 acknowledgement) arrived, or nothing moved for 500 ms.
  const expected = sent * s.fanout
  const drainStart = Date.now()
  let counts = await collect(all)
  let received = counts.reduce((n, c) => n + c.received, 0)
  let movedAt = Date.now()
  while (Date.now() - drainStart < DRAIN_MS) {
    const unacked = counts.reduce((n, c) => n + c.unacked, 0)
    if (received >= expected && unacked === 0) break
    if (Date.now() - movedAt > 500) break
    await sleep(100)
    counts = await collect(all)
    const now = counts.reduce((n, c) => n + c.received, 0)
    if (now !== received) movedAt = Date.now()
    received = now
  }
  const histogram = new LatencyHistogram()
  const errors: Record<string, number> = {}
  let inWindow = 0
  let ofWindowSends = 0
  let sentInWindow = 0
  let heldBack = 0
  let generatorCpuUs = 0
  for (const c of counts) {
    histogram.add(c.histogram, c.maxUs)
    inWindow += c.inWindow
    ofWindowSends += c.ofWindowSends
    sentInWindow += c.sentInWindow
    heldBack += c.heldBack
    generatorCpuUs += c.windowCpuUs
    addErrors(errors, c.errors)
  }
  const measureS = o.measureMs / 1000
  const deliveredPerS = inWindow / measureS
  const p99 = histogram.percentileUs(99) / 1000
  const cpuPercent = c0.cpu === null || c1.cpu === null ? null : round(((c1.cpu - c0.cpu) / ((c1.at - c0.at) / 1e6)) * 100, 0)
  const lost = Math.max(0, expected - received)
  // The publishing processes could not send the schedule in the window (CPU), though the
  // broker took it: the step says nothing about the broker then (one message per connection
  // of slack: the window holds a whole number of each connection's sends).
  const publishersBehind = sentInWindow < SUSTAINED_SHARE * (offered / s.fanout) * measureS - s.publishers.length
  const lostConnections = Object.keys(errors).some((k) => k.startsWith('connection lost'))
  return {
    offered,
    sentPerS: Math.round((sent * s.fanout) / ((o.warmMs + o.measureMs) / 1000)),
    deliveredPerS: Math.round(deliveredPerS),
    p50: round(histogram.percentileUs(50) / 1000),
    p99: round(p99),
    max: round(histogram.maxUs / 1000),
    cpuPercent,
    rssMiB: mib(c1.rss),
    generatorCpuPercent: round((generatorCpuUs / (o.measureMs * 1000)) * 100, 0),
    lost,
    heldBack,
    errors,
    // Judged on the messages sent in the window (not on arrivals in it: at a few publishes a
    // second the window holds a varying whole number of them).
    deliveredShare: sentInWindow === 0 ? 0 : round(ofWindowSends / (sentInWindow * s.fanout), 3),
    publishersBehind,
    sustained: !publishersBehind && heldBack <= (1 - SUSTAINED_SHARE) * (sent + heldBack) && sentInWindow > 0 && ofWindowSends >= SUSTAINED_SHARE * sentInWindow * s.fanout && p99 <= SUSTAINED_P99_MS && !lostConnections && (qos === 0 || lost === 0),
  }
}

interface Profiler {
  start(): Promise<void>
  stop(file: string): Promise<void>
}

/** Opens the shape's connections on one broker and runs its ramp at each QoS level; one result per level. */
async function runShape(s: Shape, broker: Broker, o: MqttOptions, profiler: Profiler | null, equalAt: ReadonlyMap<number, number> = new Map()): Promise<RampResult[]> {
  await quiet(broker.pid)
  const pubs = split(s.publishers, s.publishers.length > 1 ? 2 : 1).map((conns, i) => ({ conns, proc: new LoadProcess(`${s.key}/${broker.name}/pub${i}`) }))
  const subs = split(s.subscribers, Math.min(2, s.subscribers.length)).map((conns, i) => ({ conns, proc: new LoadProcess(`${s.key}/${broker.name}/sub${i}`) }))
  const results: RampResult[] = []
  try {
    const t0 = performance.now()
    const connectErrors: Record<string, number> = {}
    for (const g of [...subs, ...pubs]) g.proc.send({ type: 'init', url: broker.url, subscribeQos: 1, keepalive: 60 })
    // Subscribers first, so the first publish already has every receiver.
    for (const group of [subs, pubs]) {
      const reports = await Promise.all(group.map((g) => g.proc.request({ type: 'connect', conns: g.conns, concurrency: CONNECT_CONCURRENCY, localAddressPrefix: null, perAddress: CONNS_PER_PROCESS }, 'connected', 300_000)))
      for (const r of reports) {
        addErrors(connectErrors, r.errors)
        if (r.failed > 0) connectErrors['connections failed'] = (connectErrors['connections failed'] ?? 0) + r.failed
      }
    }
    const connectMs = Math.round(performance.now() - t0)
    console.log(`${s.key} [${broker.name}]: ${s.publishers.length + s.subscribers.length} connections in ${round(connectMs / 1000, 1)} s`)
    for (const qos of s.qosLevels) {
      const result: RampResult = { broker: broker.label, connectMs, connectErrors, steps: [], best: null, generatorBound: false }
      results.push(result)
      if (Object.keys(connectErrors).length > 0) {
        console.log(`${s.key} [${broker.name}]: connecting failed: ${JSON.stringify(connectErrors)}`)
        continue
      }
      await quiet(broker.pid)
      if (profiler !== null) await profiler.start()
      const run = async (offered: number, label = ''): Promise<boolean> => {
        for (let attempt = 1; ; attempt++) {
          const step = await runStep(s, qos, broker, pubs.map((g) => g.proc), subs.map((g) => g.proc), offered, o)
          result.steps.push(step)
          console.log(`${s.key} QoS ${qos} [${broker.name}]${label}${attempt > 1 ? ' (again)' : ''} offered ${offered}/s: delivered ${step.deliveredPerS}/s (${Math.round(step.deliveredShare * 100)} % of the window's sends), p50 ${step.p50} p99 ${step.p99} max ${step.max} ms, CPU ${step.cpuPercent ?? '-'} %, generators ${step.generatorCpuPercent} %, lost ${step.lost}, held back ${step.heldBack}${Object.keys(step.errors).length > 0 ? `, errors ${JSON.stringify(step.errors)}` : ''}${step.publishersBehind ? ', publishers fell behind' : ''}${step.sustained ? '' : ' (not sustained)'}`)
          if (step.sustained && (result.best === null || offered > result.best.offered)) result.best = step
          if (step.sustained) return true
          await quiet(broker.pid)
          // Everything delivered and the median low, only the tail over the limit (or the load
          // generators behind): on a shared machine that is often another process's burst, so
          // such a step gets one more try. A broker falling behind shows in the median too.
          const tailOnly = step.deliveredShare >= SUSTAINED_SHARE && step.heldBack === 0 && step.p50 <= SUSTAINED_P99_MS / 2
          if (attempt >= 2 || !(tailOnly || step.publishersBehind)) return false
        }
      }
      // Doubling until a step is not sustained; when even the first is not, halving (so a
      // slow broker still gets a figure); then halving the gap between the highest sustained
      // and the lowest failed rate a few times.
      let failed: number | null = null
      for (let k = 0, r = s.start; k <= RAMP_UP_STEPS && failed === null; k++, r *= 2) if (!(await run(r))) failed = r
      for (let k = 1; k <= RAMP_DOWN_STEPS && result.best === null; k++) {
        const r = s.start / 2 ** k
        if (!(await run(r))) failed = r
      }
      for (let k = 0; k < RAMP_REFINE_STEPS && result.best !== null && failed !== null; k++) {
        const r = Math.round(Math.sqrt(result.best.offered * failed) / 100) * 100
        if (r <= result.best.offered || r >= failed) break
        if (!(await run(r))) failed = r
      }
      const above = result.steps.filter((x) => !x.sustained && x.offered > (result.best?.offered ?? 0))
      const lowest = Math.min(...above.map((x) => x.offered))
      result.generatorBound = above.length > 0 && above.filter((x) => x.offered === lowest).every((x) => x.publishersBehind)
      // The other broker's highest sustained rate, when this ramp went past it without a
      // step there: one more step at it, so p99 can be compared at an equal delivered rate.
      const other = equalAt.get(qos)
      if (other !== undefined && result.best !== null && other < result.best.offered && !result.steps.some((x) => x.offered === other && x.sustained)) {
        await quiet(broker.pid)
        await run(other, ' (at the other broker\'s highest rate)')
      }
      // Past the knee: twice the highest sustained rate offered. A broker that levels off
      // still delivers about its best; one that collapses delivers a fraction of it.
      if (result.best !== null) {
        await quiet(broker.pid)
        const offered = result.best.offered * 2
        const before = await readMetrics(broker.metricsUrl)
        const step = await runStep(s, qos, broker, pubs.map((g) => g.proc), subs.map((g) => g.proc), offered, o)
        const after = await readMetrics(broker.metricsUrl)
        const levelling = before !== null && after !== null
          ? Object.fromEntries(['chime_broker_overloads_total', 'chime_broker_overloaded_seconds_total', 'chime_broker_overload_holds_total', 'chime_broker_budget_holds_total'].map((k) => [k.replace(/^chime_broker_/, ''), round((after[k] ?? 0) - (before[k] ?? 0), 2)]))
          : undefined
        result.overload = { offered, deliveredPerS: step.deliveredPerS, ofBest: round(step.deliveredPerS / result.best.deliveredPerS, 2), step, ...(levelling ? { levelling } : {}) }
        if (levelling) console.log(`${s.key} QoS ${qos} [${broker.name}] levelling during that step: ${JSON.stringify(levelling)}`)
        console.log(`${s.key} QoS ${qos} [${broker.name}] overload: offered ${offered}/s (twice the highest sustained), delivered ${step.deliveredPerS}/s = ${Math.round(result.overload.ofBest * 100)} % of the ${result.best.deliveredPerS}/s delivered at the knee; p50 ${step.p50} p99 ${step.p99} ms, lost ${step.lost}, held back ${step.heldBack}`)
      }
      if (profiler !== null) {
        const file = `bench/results/mqtt-chime-${s.key}-q${qos}.cpuprofile`
        await profiler.stop(fileURLToPath(new URL(`../${file}`, import.meta.url)))
        const summary = await summarizeFile(fileURLToPath(new URL(`../${file}`, import.meta.url)), 20)
        printSummary(`CPU profile of Chime's broker, ${s.key} QoS ${qos}`, summary)
        result.profile = { ...summary, file }
      }
    }
    return results
  } finally {
    await Promise.all([...pubs, ...subs].map((g) => g.proc.close()))
  }
}

/**
 * Idle clients connected and closed before the base is read: the first connections grow the
 * broker once (compiled code, mqtt-packet's table of 65,536 packet-id buffers, caches of the
 * database layer, V8's young generation), which is not a cost per connection.
 */
const IDLE_WARM_UP = 1000
/** Descriptors left to the broker beyond those it has open before the idle clients come. */
const IDLE_FD_MARGIN = 100

interface MemoryReading {
  rss: number
  /** V8 heap in use, committed, and memory outside it (Chime's process only), bytes. */
  heapUsed?: number
  heapTotal?: number
  external?: number
  /** Full collections run before the reading. */
  collections?: number
}

/**
 * Reads the broker's memory: as it is, or (Chime) after full collections until its committed
 * heap stops shrinking, and a second's rest.
 */
async function readMemory(broker: Broker, pid: number, collect: boolean): Promise<MemoryReading> {
  if (collect && broker.collectGarbage !== undefined) {
    const { memory: m, collections } = await broker.collectGarbage()
    await sleep(1000)
    return { rss: rssBytes(pid) ?? 0, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, collections }
  }
  const m = await broker.memory?.()
  return { rss: rssBytes(pid) ?? 0, ...(m !== undefined ? { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external } : {}) }
}

/** Why a broker process cannot hold more than `cap` connections here, in one sentence. */
function capReason(pid: number, limit: number, cap: number, node: boolean): string {
  const hard = openFilesHardLimit(pid)
  const raise = mayRaiseHardLimits(pid)
  const soft = hard !== null && hard > limit ? `its soft limit of open files is ${limit} (hard ${hard})` : `its limit of open files is ${limit}, soft and hard${node ? ' (Node raises the soft limit to the hard one at start)' : ''}`
  const capability = raise === false ? '; raising the hard limit needs CAP_SYS_RESOURCE, which no process here has' : ''
  return `one broker process holds at most ${cap.toLocaleString('en')} connections here: ${soft}${capability}`
}

/**
 * Connects idle clients up to each count in turn and reads the broker's memory at each:
 * after a warm-up (IDLE_WARM_UP clients connected and closed), the base; at each count, RSS
 * as it is once the broker is quiet, then (Chime) after full collections until its heap stops
 * shrinking; after the last count, everything is closed and read again (what the
 * connections leave behind).
 */
async function runIdle(broker: Broker, users: BenchUser[], counts: number[], tag: number, profiler: Profiler | null, snapshots: boolean): Promise<{ results: IdleResult[]; profile?: ProfileSummary & { file: string }; heap?: HeapGrowth & { files: string[] } }> {
  const pid = broker.pid
  if (pid === null) return { results: counts.map((n) => ({ broker: broker.label, requested: n, held: 0, rssBeforeMiB: NaN, rssAfterMiB: NaN, kbPerConnection: NaN, connectSeconds: 0, errors: {}, note: 'the broker process is not visible here: no RSS' })) }
  const limit = openFilesLimit(pid) ?? Number.POSITIVE_INFINITY
  const cap = Math.floor(limit - (openFileCount(pid) ?? 500) - IDLE_FD_MARGIN)
  const top = Math.min(Math.max(...counts), cap)
  const procs = Array.from({ length: Math.ceil(top / CONNS_PER_PROCESS) }, (_, j) => new LoadProcess(`idle/${broker.name}/${j}`))
  const out: IdleResult[] = []
  const addressOf = (j: number): string | null => (broker.url.includes('://127.') ? `127.${tag}.${j}.` : null)
  const spec = (id: string, i: number): ConnSpec => {
    const u = users[i % users.length]!
    return { clientId: id, username: u.username, password: u.token }
  }
  const file = (what: string): string => fileURLToPath(new URL(`../bench/results/mqtt-chime-idle-${what}.heapsnapshot`, import.meta.url))
  let heap: (HeapGrowth & { files: string[] }) | undefined
  try {
    for (const p of procs) p.send({ type: 'init', url: broker.url, subscribeQos: 0, keepalive: 60 })
    const warm = new LoadProcess(`idle/${broker.name}/warm-up`)
    try {
      warm.send({ type: 'init', url: broker.url, subscribeQos: 0, keepalive: 60 })
      const w = await warm.request({ type: 'connect', conns: Array.from({ length: IDLE_WARM_UP }, (_, i) => spec(`idle-${tag}-w${i}`, i)), concurrency: CONNECT_CONCURRENCY, localAddressPrefix: addressOf(250), perAddress: 1000 }, 'connected', 120_000)
      if (w.failed > 0) console.log(`idle [${broker.name}]: warm-up: ${w.failed} of ${IDLE_WARM_UP} connections failed: ${JSON.stringify(w.errors)}`)
    } finally {
      await warm.close(60_000)
    }
    await quiet(pid)
    await sleep(1000)
    const before = await readMemory(broker, pid, true)
    if (snapshots && broker.heapSnapshot !== undefined) await broker.heapSnapshot(file('base'))
    // The profile covers the connects only (CONNECT handling: authentication and its database reads).
    let profile: (ProfileSummary & { file: string }) | undefined
    let held = 0
    let next = 0
    let seconds = 0
    const errors: Record<string, number> = {}
    for (const requested of [...counts].sort((a, b) => a - b)) {
      const n = Math.min(requested, cap)
      const specs = Array.from({ length: Math.max(0, n - next) }, (_, k) => spec(`idle-${tag}-${next + k}`, next + k))
      next = Math.max(next, n)
      const t0 = performance.now()
      if (profiler !== null) await profiler.start()
      const reports = await Promise.all(split(specs, procs.length).map((part, j) => procs[j]!.request({
        type: 'connect', conns: part, concurrency: CONNECT_CONCURRENCY,
        // Loopback source addresses of this run (127.<run>.<process>.<k>), 1,000 connections each.
        localAddressPrefix: addressOf(j + 1), perAddress: 1000,
      }, 'connected', 300_000)))
      seconds += (performance.now() - t0) / 1000
      if (profiler !== null) {
        const f = `bench/results/mqtt-chime-idle-connect-${n}.cpuprofile`
        await profiler.stop(fileURLToPath(new URL(`../${f}`, import.meta.url)))
        profile = { ...(await summarizeFile(fileURLToPath(new URL(`../${f}`, import.meta.url)), 20)), file: f }
        printSummary(`CPU profile of Chime's broker while ${held + reports.reduce((a, r) => a + r.opened, 0)} idle clients connect`, profile)
      }
      for (const r of reports) {
        held += r.opened
        addErrors(errors, r.errors)
      }
      await quiet(pid)
      await sleep(2000)
      const unforced = await readMemory(broker, pid, false)
      const after = await readMemory(broker, pid, true)
      const perConn = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || held === 0 ? undefined : round((b - a) / held / 1024, 1))
      const notes = [
        ...(requested > cap ? [`${requested.toLocaleString('en')} requested; ${capReason(pid, limit, cap, broker.name === 'chime')}`] : []),
        ...(snapshots && broker.heapSnapshot !== undefined ? ['heap snapshots taken in this run: its RSS figures include their buffers'] : []),
      ]
      out.push({
        broker: broker.label, requested, held, rssBeforeMiB: mib(before.rss)!, rssAfterMiB: mib(after.rss)!, kbPerConnection: perConn(before.rss, after.rss) ?? NaN,
        rssUnforcedMiB: mib(unforced.rss)!, kbPerConnectionUnforced: perConn(before.rss, unforced.rss) ?? NaN,
        connectSeconds: round(seconds, 1), errors: { ...errors }, ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
        ...(after.collections !== undefined ? { collections: after.collections } : {}),
        ...(after.heapUsed !== undefined ? { heapKbPerConnection: perConn(before.heapUsed, after.heapUsed)!, heapCommittedKbPerConnection: perConn(before.heapTotal, after.heapTotal)!, externalKbPerConnection: perConn(before.external, after.external)! } : {}),
      })
      const r = out.at(-1)!
      console.log(`idle [${broker.name}]: ${held} connections held (${requested} requested), RSS ${mib(before.rss)} → ${mib(unforced.rss)} MiB as it is, ${mib(after.rss)} MiB ${after.collections === undefined ? 'a second later' : `after ${after.collections} full collections`}: ${r.kbPerConnectionUnforced} / ${r.kbPerConnection} KB per connection${r.heapKbPerConnection !== undefined ? ` (V8 heap in use ${r.heapKbPerConnection} KB, committed ${r.heapCommittedKbPerConnection} KB, external ${r.externalKbPerConnection} KB)` : ''}, connected in ${round(seconds, 1)} s${Object.keys(errors).length > 0 ? `, errors ${JSON.stringify(errors)}` : ''}`)
      if (snapshots && broker.heapSnapshot !== undefined && n === top) {
        await broker.heapSnapshot(file(String(n)))
        heap = { ...(await heapGrowth(file('base'), file(String(n)), held, 30, CONNECTION_OWNERS)), files: [file('base'), file(String(n))].map((f) => f.slice(f.indexOf('bench/results/'))) }
        printHeapGrowth(`Chime's broker: objects new since the base, per connection (${held} idle connections)`, heap)
      }
    }
    // Everything closed: what stays behind.
    await Promise.all(procs.splice(0).map((p) => p.close(120_000)))
    await quiet(pid)
    await sleep(1000)
    const closed = await readMemory(broker, pid, true)
    for (const r of out) r.closed = { rssMiB: mib(closed.rss)!, ...(closed.heapUsed !== undefined && before.heapUsed !== undefined ? { heapUsedGrowthMiB: round((closed.heapUsed - before.heapUsed) / 2 ** 20, 1) } : {}) }
    console.log(`idle [${broker.name}]: all closed: RSS ${mib(closed.rss)} MiB (base ${mib(before.rss)})${closed.heapUsed !== undefined && before.heapUsed !== undefined ? `, V8 heap in use ${mib(closed.heapUsed)} MiB (base ${mib(before.heapUsed)})` : ''}`)
    return { results: out, ...(profile !== undefined ? { profile } : {}), ...(heap !== undefined ? { heap } : {}) }
  } finally {
    await Promise.all(procs.map((p) => p.close(120_000)))
  }
}

/** A Prometheus text page as name -> value, or null without a URL or an answer. */
async function readMetrics(url: string | undefined): Promise<Record<string, number> | null> {
  if (url === undefined) return null
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text()
    return Object.fromEntries(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => { const [k, v] = l.split(' '); return [k!, Number(v)] }))
  } catch {
    return null
  }
}

const fmt = (x: number | null | undefined): string => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toLocaleString('en'))
const ratio = (a: number | null | undefined, b: number | null | undefined): string => (a === null || a === undefined || b === null || b === undefined || b === 0 || Number.isNaN(a) || Number.isNaN(b) ? '-' : (a / b).toFixed(2))

export function printTables(results: ScenarioResult[], idle: IdleResult[], peerName: string): void {
  if (results.length > 0) {
    console.log(`\n| scenario | QoS | Chime highest sustained msgs/s | ${peerName} highest sustained msgs/s | Chime / ${peerName} | equal rate msgs/s | p99 ms Chime / ${peerName} | p99 ratio | Chime CPU % / RSS MiB at its max | ${peerName} CPU % / RSS MiB at its max | lost, errors |`)
    console.log('|---|---|---|---|---|---|---|---|---|---|---|')
    for (const r of results) {
      const c = r.chime.best
      const p = r.peer.best
      const errs = [r.chime, r.peer].map((x) => x.steps.reduce((n, s) => n + Object.values(s.errors).reduce((a, b) => a + b, 0), 0) + Object.values(x.connectErrors).reduce((a, b) => a + b, 0))
      const lost = [c?.lost ?? 0, p?.lost ?? 0]
      const atLeast = (x: RampResult): string => (x.generatorBound ? '≥ ' : '')
      console.log(`| ${r.title} | ${r.qos} | ${atLeast(r.chime)}${fmt(c?.offered)} | ${atLeast(r.peer)}${fmt(p?.offered)} | ${ratio(c?.offered, p?.offered)} | ${fmt(r.equal?.offered)} | ${r.equal ? `${r.equal.chime.p99} / ${r.equal.peer.p99}` : '-'} | ${ratio(r.equal?.chime.p99, r.equal?.peer.p99)} | ${fmt(c?.cpuPercent)} / ${fmt(c?.rssMiB)} | ${fmt(p?.cpuPercent)} / ${fmt(p?.rssMiB)} | ${lost[0]} / ${lost[1]}, ${errs[0]} / ${errs[1]} |`)
    }
  }
  if (results.some((r) => r.chime.overload !== undefined || r.peer.overload !== undefined)) {
    console.log(`\n| scenario | QoS | Chime: delivered at twice its knee, msgs/s (share of its best) | ${peerName}: the same |`)
    console.log('|---|---|---|---|')
    const at = (x: RampResult): string => (x.overload === undefined ? '-' : `${fmt(x.overload.deliveredPerS)} of ${fmt(x.overload.offered / 2)} offered at the knee (${Math.round(x.overload.ofBest * 100)} %)`)
    for (const r of results) console.log(`| ${r.title} | ${r.qos} | ${at(r.chime)} | ${at(r.peer)} |`)
  }
  if (idle.length > 0) {
    console.log('\n| broker | idle connections requested | held | RSS base → as it is → after full collections, MiB | RSS KB per connection as it is / after full collections | V8 heap in use / committed KB per connection | RSS after all closed MiB | connect time s | errors |')
    console.log('|---|---|---|---|---|---|---|---|---|')
    for (const r of idle) console.log(`| ${r.broker} | ${fmt(r.requested)} | ${fmt(r.held)} | ${fmt(r.rssBeforeMiB)} → ${fmt(r.rssUnforcedMiB)} → ${fmt(r.rssAfterMiB)} | ${fmt(r.kbPerConnectionUnforced)} / ${fmt(r.kbPerConnection)} | ${fmt(r.heapKbPerConnection)} / ${fmt(r.heapCommittedKbPerConnection)} | ${fmt(r.closed?.rssMiB)} | ${fmt(r.connectSeconds)} | ${Object.values(r.errors).reduce((a, b) => a + b, 0)}${r.note ? ` (${r.note})` : ''} |`)
  }
}

export async function runMqtt(o: MqttOptions): Promise<void> {
  const load = loadavg().map((l) => round(l))
  console.log(`raw MQTT: load average before the run ${load.join(', ')}; measured window ${o.measureMs} ms after ${o.warmMs} ms of warm-up per step`)
  const started = Date.now()
  const chime = await startChimeBroker(usersNeeded(o))
  let peer: PeerBroker | null = null
  try {
    peer = o.peer === 'aedes' ? await startRawAedes() : o.peer !== undefined ? peerAt(o.peer) : (await startPrivateMosquitto()) ?? peerAt('mqtt://127.0.0.1:1883')
    console.log(`Chime: embedded profile, pid ${chime.pid}, ${chime.users.length} users seeded in ${round(chime.seedMs / 1000, 1)} s; peer: ${peer.label}, pid ${peer.pid ?? 'unknown'}`)
    const brokers: Broker[] = [
      { name: 'chime', label: 'Chime (embedded)', url: chime.url, pid: chime.pid, metricsUrl: chime.metricsUrl, collectGarbage: () => chime.collectGarbage(), memory: () => chime.memory(), heapSnapshot: (f) => chime.heapSnapshot(f) },
      { name: 'peer', label: peer.label, url: peer.url, pid: peer.pid },
    ]
    const results: ScenarioResult[] = []
    for (const s of shapes(chime.users, o)) {
      const profiler = o.cpuProf ? { start: () => chime.profileStart(), stop: (f: string) => chime.profileStop(f) } : null
      const chimeRamps = await runShape(s, brokers[0]!, o, profiler)
      const chimeBest = new Map(s.qosLevels.flatMap((qos, i) => (chimeRamps[i]?.best ? [[qos, chimeRamps[i]!.best!.offered] as [number, number]] : [])))
      const peerRamps = await runShape(s, brokers[1]!, o, null, chimeBest)
      s.qosLevels.forEach((qos, i) => {
        const [c, p] = [chimeRamps[i]!, peerRamps[i]!]
        let equal: ScenarioResult['equal'] = null
        for (const step of c.steps) {
          const other = p.steps.find((x) => x.offered === step.offered && x.sustained)
          if (step.sustained && other?.sustained === true && (equal === null || step.offered > equal.offered)) equal = { offered: step.offered, chime: step, peer: other }
        }
        results.push({ key: `${s.key}-q${qos}`, title: s.title, qos, publishers: s.publishers.length, subscribers: s.subscribers.length, chime: c, peer: p, equal })
      })
    }
    const idle: IdleResult[] = []
    let idleProfile: (ProfileSummary & { file: string }) | undefined
    let idleHeap: (HeapGrowth & { files: string[] }) | undefined
    if (o.only.includes('idle')) {
      const tag = 1 + Math.floor(Math.random() * 249)
      for (const b of brokers) {
        const r = await runIdle(b, chime.users, o.idle, tag, o.cpuProf && b.name === 'chime' ? { start: () => chime.profileStart(), stop: (f: string) => chime.profileStop(f) } : null, o.heapSnapshot === true)
        idle.push(...r.results)
        idleProfile ??= r.profile
        idleHeap ??= r.heap
      }
    }
    const after = loadavg().map((l) => round(l))
    console.log(`\nload average after the run ${after.join(', ')}; ${round((Date.now() - started) / 1000, 0)} s in all`)
    printTables(results, idle, peer.label.startsWith('Mosquitto') ? 'Mosquitto' : peer.label.startsWith('raw Aedes') ? 'raw Aedes' : 'peer')
    await mkdir(new URL('./results/', import.meta.url), { recursive: true })
    await writeFile(new URL('./results/mqtt.json', import.meta.url), JSON.stringify({
      at: new Date().toISOString(), command: o.command, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverageBefore: load, loadAverageAfter: after, seconds: round((Date.now() - started) / 1000, 0),
      chime: { label: 'Chime embedded profile (startEmbedded: Aedes, Chime hooks, bounded in-memory persistence, API and SQLite in the same process)', pid: chime.pid },
      peer: { label: peer.label, url: peer.url, pid: peer.pid, config: peer.config },
      rule: { sustainedShare: SUSTAINED_SHARE, sustainedP99Ms: SUSTAINED_P99_MS, warmMs: o.warmMs, measureMs: o.measureMs, payloadBytes: 80 },
      scenarios: results, idle, ...(idleProfile !== undefined ? { idleConnectProfile: idleProfile } : {}), ...(idleHeap !== undefined ? { idleHeapGrowth: idleHeap } : {}),
    }, null, 2))
  } finally {
    await chime.stop()
    await peer?.stop()
  }
}
