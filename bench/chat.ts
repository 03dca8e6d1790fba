// Chat scenarios (issue 8, part 3), Chime only:
//   chat       POST → PUBLISH latency at 100, 1,000 and 5,000 posts/s offered into a channel
//              with 10 and with 1,000 subscribers, on each profile;
//   max-posts  the highest offered posts/s whose p99 POST → PUBLISH stays within 100 ms
//              (10 subscribers; 500, 1,000, 2,000, ... until the first step that fails).
// Chime runs in a child process (chat-chime.ts) with seeded members; every subscriber and
// poster is a signed-in member of the channel's server on a lean MQTT connection
// (chat-load/worker.ts), subscribers in one process per 500, posters (20 by default, the
// offered rate split between them) in another. A post's content carries its send time; each
// subscriber records the latency of every delivery (post sent → PUBLISH_DELTA read), each
// poster that of its POST_MESSAGE_RESPONSE (request sent → response read). Each step sends
// for warm-up + measured window (1 s + 4 s by default; posts stamped in the window are the
// measured ones), then waits until every delivery and response due has arrived (at most 30 s,
// or 5 s without progress). A step asks for at most --max-deliveries deliveries (warm-up
// included; 250,000 by default, all of a 5 s step at 5,000 posts/s to 10 subscribers), so
// with 1,000 subscribers it is cut short: 5,000 posts/s to 1,000 subscribers is five million
// deliveries a second, and a whole 5 s of it would queue gigabytes in the broker.
// A step that has not drained after 30 s is reported as such, and the next step starts on a
// fresh Chime with fresh generators so it does not inherit the backlog.
//   npm run bench -- chat [--profile embedded|production|both] [--rates 100,1000,5000]
//                         [--subscribers 10,1000] [--posters 20] [--step-ms 5000] [--max-deliveries 250000]
//   npm run bench -- max-posts [--profile ...] [--rates 500,1000,2000,4000,8000,16000] [--subscribers 10]
import { describeMachine, machine, round2, loadNow, writeResult } from './bench-machine.ts'
import { startChatChime, sampleUsage, watchedProcesses, type ChatChime, type Usage } from './chat-chime.ts'
import type { BenchProfile } from './bench-chime.ts'
import { nowMicros } from './mqtt-load/codec.ts'
import { LatencyHistogram } from './mqtt-load/histogram.ts'
import { cpuSeconds } from './mqtt-proc.ts'
import type { ChatConnSpec, ChatCounts } from './chat-load/messages.ts'
import { ChatLoadProcess } from './chat-load/process.ts'

export interface ChatOptions {
  profiles: BenchProfile[]
  rates: number[]
  subscribers: number[]
  posters: number
  warmMs: number
  measureMs: number
  /** Most deliveries (posts × subscribers, warm-up included) one step may ask for. */
  maxDeliveries: number
  /** max-posts: stop at the first step that is not sustained. */
  stopAtFirstFailure: boolean
  /** max-posts: run a step that failed only by its tail once more (a burst of other work on a shared machine). */
  retryTailFailures: boolean
}

/** A step is sustained when p99 POST → PUBLISH is within this... */
export const MAX_P99_MS = 100
/** ...every delivery due arrived, at most this share of the schedule was held back, and at least this share of the offered posts/s were committed in the window. */
const MAX_HELD_BACK = 0.01
const MIN_COMMITTED = 0.95
const DRAIN_MS = 30_000
const DRAIN_STALL_MS = 5_000
const SUBSCRIBERS_PER_PROCESS = 500
const CONNECT_CONCURRENCY = 40

export interface ChatStepResult {
  profile: string
  subscribers: number
  posters: number
  offered: number
  measureMs: number
  warmMs: number
  /** Posts sent in the measured window, and POST_MESSAGE_RESPONSEs received for them. */
  posts: number
  responses: number
  /** Responses of window posts per second of the window. */
  committedPerS: number
  postP50: number
  postP99: number
  postMax: number
  publishP50: number
  publishP99: number
  publishMax: number
  delivered: number
  expected: number
  deliveredPerS: number
  /** QoS the deliveries arrived at. */
  deliveredQos: [number, number]
  heldBack: number
  unackedAfterDrain: number
  drainMs: number
  /** Everything due had arrived when the drain ended (else the next step gets a fresh Chime and generators). */
  drained: boolean
  /** This step ran on a Chime started afresh because the step before had not drained. */
  freshSession: boolean
  /** max-posts: this step failed by its tail alone and was run once more (the next row). */
  runAgain?: boolean
  maxTickLagMs: number
  /** CPU (percent of one core) and peak RSS over warm-up + window. */
  usage: Usage
  generatorCpuPercent: number
  errors: Record<string, number>
  loadAverage: number
  sustained: boolean
  why: string[]
}

export interface ChatRun {
  scenario: 'chat' | 'max-posts'
  machine: ReturnType<typeof machine>
  command: string
  options: ChatOptions
  steps: ChatStepResult[]
  /** max-posts: per profile, the highest sustained rate and the first step that failed. */
  limits: Array<{ profile: string; lastPassing: number | null; failing: ChatStepResult | null }>
  /** Sessions that could not start (seeding or connecting failed). */
  failures: Array<{ profile: string; subscribers: number; error: string }>
}

const profileLabel = (p: BenchProfile): string => (p === 'embedded' ? 'embedded (SQLite)' : 'production (MariaDB + Redis)')

interface Session {
  chime: ChatChime
  subscriberProcs: Array<{ proc: ChatLoadProcess; subscribers: number }>
  posterProc: ChatLoadProcess
  subscribers: number
  posters: number
  close(): Promise<void>
}

async function openSession(profile: BenchProfile, subscribers: number, posters: number): Promise<Session> {
  const chime = await startChatChime(profile, [{ members: subscribers + posters }])
  const procs: ChatLoadProcess[] = []
  const close = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.close()))
    await chime.stop()
  }
  try {
    const group = chime.groups[0]!
    const tag = Date.now().toString(36)
    const spec = (role: ChatConnSpec['role'], i: number): ChatConnSpec => {
      const u = group.users[i]!
      return { role, clientId: `${role[0]}${i}-${tag}`, username: u.username, password: u.token, channelId: group.channelId, channelTopic: group.topic, inbox: u.inbox }
    }
    const subscriberProcs: Session['subscriberProcs'] = []
    const nProcs = Math.max(1, Math.ceil(subscribers / SUBSCRIBERS_PER_PROCESS))
    const connecting: Array<Promise<{ opened: number; failed: number; errors: Record<string, number> }>> = []
    for (let k = 0; k < nProcs; k++) {
      const proc = new ChatLoadProcess(`subscribers-${k}`)
      procs.push(proc)
      proc.send({ type: 'init', url: chime.mqttUrl, keepalive: 60 })
      const mine: ChatConnSpec[] = []
      for (let i = k; i < subscribers; i += nProcs) mine.push(spec('subscriber', i))
      subscriberProcs.push({ proc, subscribers: mine.length })
      connecting.push(proc.request({ type: 'connect', conns: mine, concurrency: CONNECT_CONCURRENCY, localAddressPrefix: null, perAddress: 1000 }, 'connected', 120_000))
    }
    const posterProc = new ChatLoadProcess('posters')
    procs.push(posterProc)
    posterProc.send({ type: 'init', url: chime.mqttUrl, keepalive: 60 })
    connecting.push(posterProc.request({ type: 'connect', conns: Array.from({ length: posters }, (_, j) => spec('poster', subscribers + j)), concurrency: CONNECT_CONCURRENCY, localAddressPrefix: null, perAddress: 1000 }, 'connected', 120_000))
    const connected = await Promise.all(connecting)
    const failed = connected.reduce((n, c) => n + c.failed, 0)
    if (failed > 0) throw new Error(`${failed} connections failed: ${JSON.stringify(connected.map((c) => c.errors))}`)
    return { chime, subscriberProcs, posterProc, subscribers, posters, close }
  } catch (err) {
    await close()
    throw err
  }
}

function mergeErrors(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v
}

async function collectAll(s: Session): Promise<ChatCounts[]> {
  return Promise.all([...s.subscriberProcs.map((p) => p.proc), s.posterProc].map((p) => p.request({ type: 'collect' }, 'counts', 10_000)))
}

async function runStep(s: Session, offered: number, opts: ChatOptions): Promise<ChatStepResult> {
  const perSecondDeliveries = offered * s.subscribers
  const measureMs = Math.max(50, Math.min(opts.measureMs, Math.floor((1000 * opts.maxDeliveries) / perSecondDeliveries / 1.25)))
  const warmMs = Math.min(opts.warmMs, Math.round(measureMs / 4))
  const procs = [...s.subscriberProcs.map((p) => p.proc), s.posterProc]
  const loadAverage = loadNow()
  const usage = sampleUsage(watchedProcesses(s.chime))
  const genCpu0 = procs.map((p) => cpuSeconds(p.pid))
  const t0 = performance.now()
  const startAtUs = nowMicros() + 300_000
  await Promise.all(procs.map((p) => p.request({ type: 'step', startAtUs, warmMs, measureMs, ratePerPoster: offered / s.posters }, 'armed', 10_000)))
  await s.posterProc.expect('sent', warmMs + measureMs + 20_000)
  const sendingS = (performance.now() - t0) / 1000
  const used = usage.stop()
  const generatorCpuPercent = Math.round(procs.reduce((sum, p, i) => sum + ((cpuSeconds(p.pid) ?? 0) - (genCpu0[i] ?? 0)), 0) / sendingS * 100)

  // Drain: until every delivery and response due has arrived, or no progress for a while.
  const drainStart = performance.now()
  let lastProgress = drainStart
  let lastSeen = -1
  let counts = await collectAll(s)
  let drained = false
  for (;;) {
    const poster = counts.at(-1)!
    const delivered = counts.slice(0, -1).reduce((n, c) => n + c.deliveredOfWindow, 0)
    const due = poster.responsesOfWindow * s.subscribers
    // Any delivery or acknowledgement is progress (those of warm-up posts too, which go first).
    const progress = counts.reduce((n, c) => n + c.received, 0) + poster.sent - poster.unacked
    const errorReplies = Object.entries(poster.errors).filter(([k]) => k.startsWith('ERROR')).reduce((n, [, v]) => n + v, 0)
    if (poster.unacked === 0 && poster.responsesOfWindow + errorReplies >= poster.sentInWindow && delivered >= due) {
      drained = true
      break
    }
    if (progress !== lastSeen) {
      lastSeen = progress
      lastProgress = performance.now()
    }
    if (performance.now() - lastProgress > DRAIN_STALL_MS || performance.now() - drainStart > DRAIN_MS) break
    await new Promise((r) => setTimeout(r, 200))
    counts = await collectAll(s)
  }
  const drainMs = Math.round(performance.now() - drainStart)

  const poster = counts.at(-1)!
  const subs = counts.slice(0, -1)
  const pub = new LatencyHistogram()
  for (const c of subs) pub.add(c.publishHistogram, c.publishMaxUs)
  const post = new LatencyHistogram()
  post.add(poster.postHistogram, poster.postMaxUs)
  const errors: Record<string, number> = {}
  for (const c of counts) mergeErrors(errors, c.errors)
  const delivered = subs.reduce((n, c) => n + c.deliveredOfWindow, 0)
  const expected = poster.sentInWindow * s.subscribers
  const ms = (us: number): number => round2(us / 1000)
  const windowS = measureMs / 1000
  const result: ChatStepResult = {
    profile: profileLabel(s.chime.profile), subscribers: s.subscribers, posters: s.posters, offered, measureMs, warmMs,
    posts: poster.sentInWindow, responses: poster.responsesOfWindow, committedPerS: Math.round(poster.responsesOfWindow / windowS),
    postP50: ms(post.percentileUs(50)), postP99: ms(post.percentileUs(99)), postMax: ms(post.maxUs),
    publishP50: ms(pub.percentileUs(50)), publishP99: ms(pub.percentileUs(99)), publishMax: ms(pub.maxUs),
    delivered, expected, deliveredPerS: Math.round(delivered / windowS),
    deliveredQos: subs.reduce<[number, number]>((q, c) => [q[0] + c.deliveredQos[0], q[1] + c.deliveredQos[1]], [0, 0]),
    heldBack: poster.heldBack, unackedAfterDrain: poster.unacked, drainMs, drained, freshSession: false, maxTickLagMs: poster.maxTickLagMs,
    usage: used, generatorCpuPercent, errors, loadAverage, sustained: false, why: [],
  }
  const why = result.why
  if (!(result.publishP99 <= MAX_P99_MS)) why.push(`p99 POST → PUBLISH ${result.publishP99} ms > ${MAX_P99_MS} ms`)
  if (delivered < expected) why.push(`${expected - delivered} of ${expected} deliveries missing after the drain`)
  if (poster.heldBack > MAX_HELD_BACK * (poster.sent + poster.heldBack)) why.push(`${poster.heldBack} posts held back by the posters (backlog or unacknowledged window full)`)
  if (result.committedPerS < MIN_COMMITTED * offered) why.push(`committed ${result.committedPerS} posts/s of ${offered} offered`)
  if (Object.keys(errors).length > 0) why.push(`errors: ${JSON.stringify(errors)}`)
  result.sustained = why.length === 0
  return result
}

/** A step failed only by its latency tail while everything arrived and the median was low: run it once more. */
function tailOnly(r: ChatStepResult): boolean {
  return r.why.length === 1 && r.why[0]!.startsWith('p99') && r.publishP50 < MAX_P99_MS / 4
}

export async function chatScenario(scenario: 'chat' | 'max-posts', opts: ChatOptions, log: (line: string) => void = console.log): Promise<ChatRun> {
  const m = machine()
  const run: ChatRun = { scenario, machine: m, command: '', options: opts, steps: [], limits: [], failures: [] }
  for (const profile of opts.profiles) {
    for (const subscribers of opts.subscribers) {
      let s: Session
      try {
        s = await openSession(profile, subscribers, opts.posters)
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err)
        log(`${scenario} [${profile}, ${subscribers} subscribers]: stopped: ${error}`)
        run.failures.push({ profile: profileLabel(profile), subscribers, error })
        continue
      }
      log(`${scenario} [${profile}, ${subscribers} subscribers, ${opts.posters} posters]: seeded in ${(s.chime.seedMs / 1000).toFixed(1)} s`)
      let lastPassing: number | null = null
      let failing: ChatStepResult | null = null
      try {
        let fresh = false
        for (const rate of opts.rates) {
          let r = await runStep(s, rate, opts)
          r.freshSession = fresh
          fresh = false
          log(`  ${rate} posts/s: ${summary(r)}`)
          if (!r.sustained && opts.retryTailFailures && tailOnly(r)) {
            r.runAgain = true
            run.steps.push(r)
            r = await runStep(s, rate, opts)
            log(`  ${rate} posts/s again: ${summary(r)}`)
          }
          run.steps.push(r)
          if (r.sustained) lastPassing = rate
          else if (failing === null) failing = r
          if (!r.sustained && opts.stopAtFirstFailure) break
          if (!r.drained && rate !== opts.rates.at(-1)) {
            // What is still queued would be the next step's load: start again from nothing.
            await s.close()
            s = await openSession(profile, subscribers, opts.posters)
            fresh = true
          }
        }
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err)
        log(`${scenario} [${profile}, ${subscribers} subscribers]: stopped: ${error}`)
        run.failures.push({ profile: profileLabel(profile), subscribers, error })
      } finally {
        await s.close()
      }
      run.limits.push({ profile: `${profileLabel(profile)}, ${subscribers} subscribers`, lastPassing, failing })
    }
  }
  return run
}

function summary(r: ChatStepResult): string {
  return `POST p99 ${r.postP99} ms, PUBLISH p50/p99 ${r.publishP50}/${r.publishP99} ms, ${r.delivered}/${r.expected} delivered, ${r.committedPerS} committed/s, Chime CPU ${r.usage.cpuPercent['chime']}%${r.sustained ? '' : ` (${r.why.join('; ')})`}`
}

const fmt = (n: number): string => n.toLocaleString('en-US')
const lat = (a: number, b: number, c: number): string => (Number.isNaN(a) ? 'none arrived' : `${a} / ${b} / ${c}`)

function usageCell(u: Usage, name: string): string {
  const cpu = u.cpuPercent[name]
  const rss = u.peakRssMiB[name]
  return cpu === undefined ? '-' : `${cpu ?? '?'} % / ${rss ?? '?'}`
}

export function chatTable(steps: ChatStepResult[]): string {
  const lines = [
    '| profile | subscribers | posts/s offered | measured posts (window s) | committed posts/s | POST p50 / p99 / max ms | PUBLISH p50 / p99 / max ms | delivered / expected | delivered QoS 0 / 1 | Chime CPU % / peak RSS MiB | MariaDB, Redis CPU % | generators CPU % | errors | load avg | p99 ≤ 100 ms, all delivered |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of steps) {
    const db = r.usage.cpuPercent['mariadb'] === undefined ? '-' : `${r.usage.cpuPercent['mariadb'] ?? '?'}, ${r.usage.cpuPercent['redis'] ?? '?'}`
    const errs = Object.entries(r.errors).map(([k, v]) => `${k}: ${v}`).join('; ') || '0'
    lines.push(`| ${r.profile} | ${fmt(r.subscribers)} | ${fmt(r.offered)} | ${fmt(r.posts)} (${r.measureMs / 1000})${r.freshSession ? ' ¹' : ''} | ${fmt(r.committedPerS)} | ${lat(r.postP50, r.postP99, r.postMax)} | ${lat(r.publishP50, r.publishP99, r.publishMax)} | ${fmt(r.delivered)} / ${fmt(r.expected)} | ${fmt(r.deliveredQos[0])} / ${fmt(r.deliveredQos[1])} | ${usageCell(r.usage, 'chime')} | ${db} | ${r.generatorCpuPercent} | ${errs} | ${r.loadAverage} | ${r.sustained ? 'yes' : r.runAgain === true ? 'no (tail only: run again)' : 'no'} |`)
  }
  return lines.join('\n')
}

export function limitsTable(run: ChatRun): string {
  const lines = ['| profile | highest sustained posts/s | first failing step | its POST p99 ms | its PUBLISH p50 / p99 ms | delivered / expected | committed posts/s | why |', '|---|---|---|---|---|---|---|---|']
  for (const l of run.limits) {
    const f = l.failing
    lines.push(`| ${l.profile} | ${l.lastPassing === null ? 'none' : fmt(l.lastPassing)} | ${f === null ? 'none (every step passed)' : fmt(f.offered)} | ${f?.postP99 ?? '-'} | ${f === null ? '-' : `${f.publishP50} / ${f.publishP99}`} | ${f === null ? '-' : `${fmt(f.delivered)} / ${fmt(f.expected)}`} | ${f === null ? '-' : fmt(f.committedPerS)} | ${f?.why.join('; ') ?? '-'} |`)
  }
  return lines.join('\n')
}

/** The scenario for bench/run.ts: runs, prints the tables, writes bench/results/<scenario>.json. */
export async function runChat(scenario: 'chat' | 'max-posts', opts: ChatOptions, command: string): Promise<ChatRun> {
  const run = await chatScenario(scenario, opts)
  run.command = command
  console.log(`\n${scenario}: ${describeMachine(run.machine)}\n${command}\n`)
  console.log(chatTable(run.steps))
  if (run.steps.some((r) => r.freshSession)) console.log('\n¹ on a Chime started afresh: the step before had not drained within its 30 s')
  if (scenario === 'max-posts') console.log(`\n${limitsTable(run)}`)
  for (const f of run.failures) console.log(`\n${f.profile}, ${f.subscribers} subscribers: stopped: ${f.error}`)
  const file = await writeResult(scenario, run)
  console.log(`\nwritten to ${file}`)
  return run
}
