// Reconnect storm (issue 8, part 3): 5,000 signed-in members of one server, each on its own
// lean MQTT connection watching the server's general channel (SUBSCRIBE to the channel's
// topic and the member's inbox, clean session), spread over several load-generator
// processes. Then:
//   1. a probe post: every watcher must get it live (so each knows the last seq it has);
//   2. every socket is destroyed at once (no DISCONNECT), and the broker is polled until it
//      has seen every connection go;
//   3. `away` posts (300 by default) are made while they are away (over HTTP, by the owner);
//   4. every watcher reconnects at once (same client id, clean session: no queued
//      deliveries, the way back is SYNC), subscribes again, and SYNCs the channel from the last
//      seq it had (pages of 1,000) until `recovered`;
//   5. the storm is over when every watcher holds every seq up to the last away post.
// Measured: the time until all have reconnected (CONNACK) and until all have finished SYNC
// with nothing missing, per-watcher p50/p99/max of both, reconnect attempts that failed,
// the SYNC traffic, Chime's CPU and peak RSS (and MariaDB's and Redis's on production).
// Clean sessions, because a server of 5,000 members is above CHIME_QOS1_MAX_MEMBERS (1,000):
// its deltas go out at QoS 0, which a persistent session would not queue either.
// Bounded: connects 180 s, the probe 30 s, the drop 30 s, the reconnect 180 s.
//   npm run bench -- reconnect-storm [--profile embedded|production|both] [--clients 5000] [--away 300]
import { describeMachine, machine, round2, loadNow, writeResult } from './bench-machine.ts'
import { startChatChime, sampleUsage, watchedProcesses, type Usage } from './chat-chime.ts'
import type { BenchProfile } from './bench-chime.ts'
import type { ChatConnSpec, StormCounts } from './chat-load/messages.ts'
import { ChatLoadProcess } from './chat-load/process.ts'
import type { PostMessageResponseData } from '../clients/sdk/src/protocol.ts'

export interface StormOptions {
  profiles: BenchProfile[]
  clients: number
  away: number
}

export interface StormResult {
  profile: string
  clients: number
  processes: number
  session: 'clean'
  away: number
  seedS: number
  connectS: number
  probeMs: number
  /** Connections open before the drop, and watchers that got the probe post live. */
  openBeforeDrop: number
  probeLive: number
  /** From the sockets' destruction until the broker counted no client. */
  dropSeenMs: number
  awayPostMs: number
  /** Time from the reconnect until every watcher had its CONNACK, and until every one had finished SYNC with nothing missing (null: not all did in time). */
  allConnackMs: number | null
  allSyncedMs: number | null
  connackP50: number
  connackP99: number
  doneP50: number
  doneP99: number
  doneMax: number
  connected: number
  complete: number
  missing: number
  retries: number
  syncRequests: number
  syncDeltas: number
  liveDeltas: number
  usage: Usage
  errors: Record<string, number>
  loadAverage: number
}

export interface StormRun {
  scenario: 'reconnect-storm'
  machine: ReturnType<typeof machine>
  command: string
  options: StormOptions
  results: StormResult[]
  /** Profiles whose run stopped with an error. */
  failures: Array<{ profile: string; error: string }>
}

const CLIENTS_PER_PROCESS = 1250
const CONNECT_CONCURRENCY = 40
const RECONNECT_DEADLINE_MS = 180_000

const q = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return round2(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!)
}

async function until<T>(what: string, ms: number, every: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`)
    await new Promise((r) => setTimeout(r, every))
  }
}

async function stormOn(profile: BenchProfile, opts: StormOptions, log: (line: string) => void): Promise<StormResult> {
  const t0 = performance.now()
  const chime = await startChatChime(profile, [{ members: opts.clients }])
  const procs: ChatLoadProcess[] = []
  try {
    const seedS = round2((performance.now() - t0) / 1000)
    const group = chime.groups[0]!
    const tag = Date.now().toString(36)
    const nProcs = Math.max(2, Math.ceil(opts.clients / CLIENTS_PER_PROCESS))
    const prefixOf = (k: number): string => `127.0.${k + 2}.`
    const t1 = performance.now()
    const connecting = []
    for (let k = 0; k < nProcs; k++) {
      const proc = new ChatLoadProcess(`watchers-${k}`)
      procs.push(proc)
      proc.send({ type: 'init', url: chime.mqttUrl, keepalive: 60 })
      const conns: ChatConnSpec[] = []
      for (let i = k; i < opts.clients; i += nProcs) {
        const u = group.users[i]!
        conns.push({ role: 'watcher', clientId: `w${i}-${tag}`, username: u.username, password: u.token, channelId: group.channelId, channelTopic: group.topic, inbox: u.inbox })
      }
      connecting.push(proc.request({ type: 'connect', conns, concurrency: CONNECT_CONCURRENCY, localAddressPrefix: prefixOf(k), perAddress: 500 }, 'connected', 180_000))
    }
    const connected = await Promise.all(connecting)
    const failed = connected.reduce((n, c) => n + c.failed, 0)
    if (failed > 0) throw new Error(`${failed} watchers failed to connect: ${JSON.stringify(connected.map((c) => c.errors))}`)
    const connectS = round2((performance.now() - t1) / 1000)
    log(`reconnect-storm [${profile}]: ${opts.clients} members seeded in ${seedS} s, connected in ${connectS} s over ${nProcs} processes`)

    // 1. The probe: every watcher has it live.
    const post = (content: string, i: number) => ({ action: 'POST_MESSAGE', data: { channel_id: group.channelId, content, client_msg_id: `storm-${tag}-${i}` } })
    let t = performance.now()
    const probe = await chime.call<{ data: PostMessageResponseData }>('POST', '/api/post/', post('probe', 0), chime.owner.token)
    const probeSeq = Number(probe.data.seq)
    // Bounded: a watcher without it SYNCs from the seq before it (and must get it then).
    let status = { open: 0, haveProbe: 0 }
    await until('every watcher has the probe live', 30_000, 100, async () => {
      const s = await Promise.all(procs.map((p) => p.request({ type: 'storm-status', probeSeq }, 'storm-status', 10_000)))
      status = { open: s.reduce((n, x) => n + x.open, 0), haveProbe: s.reduce((n, x) => n + x.haveProbe, 0) }
      return status.haveProbe === opts.clients ? true : undefined
    }).catch(() => log(`reconnect-storm [${profile}]: only ${status.haveProbe} of ${opts.clients} watchers got the probe live within 30 s (${status.open} connections open)`))
    const probeMs = Math.round(performance.now() - t)

    // 2. Drop every socket at once; wait until the broker has seen them all go.
    t = performance.now()
    await Promise.all(procs.map((p) => p.request({ type: 'drop', fallbackSeq: probeSeq - 1 }, 'dropped', 10_000)))
    await until('the broker sees every connection drop', 30_000, 50, async () => ((await chime.stats()).connected === 0 ? true : undefined))
    const dropSeenMs = Math.round(performance.now() - t)

    // 3. Posts while they are away, in batches of 100 through POST /api/requests.
    t = performance.now()
    let targetSeq = probeSeq
    for (let i = 0; i < opts.away; i += 100) {
      const batch = Array.from({ length: Math.min(100, opts.away - i) }, (_, k) => post(`while away ${i + k + 1}`, i + k + 1))
      const replies = await chime.call<Array<{ action: string; data: PostMessageResponseData }>>('POST', '/api/requests', batch, chime.owner.token)
      for (const r of replies) {
        if (r.action !== 'POST_MESSAGE_RESPONSE') throw new Error(`a post while away was refused: ${JSON.stringify(r)}`)
        targetSeq = Math.max(targetSeq, Number(r.data.seq))
      }
    }
    if (targetSeq !== probeSeq + opts.away) throw new Error(`the away posts end at seq ${targetSeq}, not ${probeSeq + opts.away}`)
    const awayPostMs = Math.round(performance.now() - t)

    // 4. Everyone back at once.
    const loadAverage = loadNow()
    const usage = sampleUsage(watchedProcesses(chime))
    const t4 = performance.now()
    await Promise.all(procs.map((p, k) => p.request({ type: 'reconnect', targetSeq, deadlineMs: RECONNECT_DEADLINE_MS, localAddressPrefix: prefixOf(k), perAddress: 500 }, 'reconnecting', 10_000)))
    let allConnackMs: number | null = null
    let counts: StormCounts[] = []
    for (;;) {
      counts = await Promise.all(procs.map((p) => p.request({ type: 'storm-collect' }, 'storm-counts', 20_000)))
      const connectedNow = counts.reduce((n, c) => n + c.connected, 0)
      const complete = counts.reduce((n, c) => n + c.complete, 0)
      if (allConnackMs === null && connectedNow === opts.clients) allConnackMs = Math.max(...counts.flatMap((c) => c.connackMs))
      if (complete === opts.clients) break
      if (performance.now() - t4 > RECONNECT_DEADLINE_MS + 2000) break
      await new Promise((r) => setTimeout(r, 250))
    }
    const used = usage.stop()
    const connack = counts.flatMap((c) => c.connackMs)
    const done = counts.flatMap((c) => c.doneMs)
    const complete = counts.reduce((n, c) => n + c.complete, 0)
    const errors: Record<string, number> = {}
    for (const c of counts) for (const [k, v] of Object.entries(c.errors)) errors[k] = (errors[k] ?? 0) + v
    return {
      profile: profile === 'embedded' ? 'embedded (SQLite)' : 'production (MariaDB + Redis)',
      clients: opts.clients, processes: nProcs, session: 'clean', away: opts.away, seedS, connectS, probeMs, openBeforeDrop: status.open, probeLive: status.haveProbe, dropSeenMs, awayPostMs,
      allConnackMs: allConnackMs === null ? null : round2(allConnackMs),
      allSyncedMs: complete === opts.clients ? round2(Math.max(...done)) : null,
      connackP50: q(connack, 50), connackP99: q(connack, 99), doneP50: q(done, 50), doneP99: q(done, 99), doneMax: q(done, 100),
      connected: counts.reduce((n, c) => n + c.connected, 0), complete, missing: counts.reduce((n, c) => n + c.missing, 0),
      retries: counts.reduce((n, c) => n + c.retries, 0), syncRequests: counts.reduce((n, c) => n + c.syncRequests, 0),
      syncDeltas: counts.reduce((n, c) => n + c.syncDeltas, 0), liveDeltas: counts.reduce((n, c) => n + c.liveDeltas, 0),
      usage: used, errors, loadAverage,
    }
  } finally {
    await Promise.all(procs.map((p) => p.close()))
    await chime.stop()
  }
}

export async function reconnectStorm(opts: StormOptions, log: (line: string) => void = console.log): Promise<StormRun> {
  const run: StormRun = { scenario: 'reconnect-storm', machine: machine(), command: '', options: opts, results: [], failures: [] }
  for (const profile of opts.profiles) {
    try {
      run.results.push(await stormOn(profile, opts, log))
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      log(`reconnect-storm [${profile}]: stopped: ${error}`)
      run.failures.push({ profile, error })
    }
  }
  return run
}

export function stormTable(results: StormResult[]): string {
  const lines = [
    '| profile | clients (processes) | posts while away | all reconnected (CONNACK) s | all synced, none missing s | CONNACK p50 / p99 ms | synced p50 / p99 / max ms | complete / clients | missing | failed attempts | SYNC requests / deltas | Chime CPU % / peak RSS MiB | MariaDB, Redis CPU % | errors | load avg |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  const s = (ms: number | null): string => (ms === null ? 'not all' : String(round2(ms / 1000)))
  for (const r of results) {
    const db = r.usage.cpuPercent['mariadb'] === undefined ? '-' : `${r.usage.cpuPercent['mariadb'] ?? '?'}, ${r.usage.cpuPercent['redis'] ?? '?'}`
    const errs = Object.entries(r.errors).map(([k, v]) => `${k}: ${v}`).join('; ') || '0'
    lines.push(`| ${r.profile} | ${r.clients} (${r.processes}) | ${r.away} | ${s(r.allConnackMs)} | ${s(r.allSyncedMs)} | ${r.connackP50} / ${r.connackP99} | ${r.doneP50} / ${r.doneP99} / ${r.doneMax} | ${r.complete} / ${r.clients} | ${r.missing} | ${r.retries} | ${r.syncRequests} / ${r.syncDeltas} | ${r.usage.cpuPercent['chime'] ?? '?'} % / ${r.usage.peakRssMiB['chime'] ?? '?'} | ${db} | ${errs} | ${r.loadAverage} |`)
  }
  return lines.join('\n')
}

/** The scenario for bench/run.ts: runs, prints the table, writes bench/results/reconnect-storm.json. */
export async function runReconnectStorm(opts: StormOptions, command: string): Promise<StormRun> {
  const run = await reconnectStorm(opts)
  run.command = command
  console.log(`\nreconnect-storm: ${describeMachine(run.machine)}\n${command}\n`)
  console.log(stormTable(run.results))
  for (const f of run.failures) console.log(`\n${f.profile}: stopped: ${f.error}`)
  console.log(`\nwritten to ${await writeResult('reconnect-storm', run)}`)
  return run
}
