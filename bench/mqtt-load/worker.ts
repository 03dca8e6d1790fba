// A load-generator process (forked by bench/mqtt.ts): many lean connections to one broker,
// driven over IPC (messages.ts). Publishers pace themselves against the shared monotonic
// clock and stamp each message with its send time; subscribers read the stamp and record
// the end-to-end latency. Every loop is bounded: a step sends for warmMs + measureMs only,
// and a backed-up connection or a full QoS 1 window holds messages back instead of queueing
// them without end.
import { LatencyHistogram } from './histogram.ts'
import { LeanConnection, parseMqttUrl, type Target } from './connection.ts'
import { nowMicros, publishTemplate, readStamp, writeStamp, STAMP_FROM_END, type PublishTemplate } from './codec.ts'
import type { ConnSpec, ConnectCommand, CountsReport, InitCommand, StepCommand, WorkerCommand, WorkerReport } from './messages.ts'

/** Bytes queued for one publisher socket beyond which it sends nothing until they drain. */
const MAX_BACKLOG_BYTES = 4 * 2 ** 20
/** QoS 1 publishes one connection may have unacknowledged. */
const MAX_UNACKED = 20_000
/** A publisher that fell behind catches up at most this much of its schedule at once. */
const MAX_CATCH_UP_S = 0.1

interface Publisher {
  conn: LeanConnection
  /** The PUBLISH at QoS 0 and at QoS 1. */
  templates: [PublishTemplate, PublishTemplate]
  /** Messages scheduled so far this step (sent or held back). */
  scheduled: number
  /** Packet ids in use (QoS 1). */
  inUse: Uint8Array
  nextId: number
  unacked: number
}

let init: InitCommand | null = null
let target: Target | null = null
const conns: LeanConnection[] = []
const publishers: Publisher[] = []
let pingTimer: NodeJS.Timeout | null = null
/** Connections given a source address so far (ConnectCommand.localAddressPrefix). */
let addressed = 0

// Counters of the current step.
const histogram = new LatencyHistogram()
let received = 0
let inWindow = 0
let ofWindowSends = 0
let sent = 0
let sentInWindow = 0
let heldBack = 0
let windowStartUs = Number.POSITIVE_INFINITY
let windowEndUs = Number.NEGATIVE_INFINITY
let windowCpuUs = 0
let errors: Record<string, number> = {}

const count = (what: string): void => {
  errors[what] = (errors[what] ?? 0) + 1
}

function send(report: WorkerReport): void {
  process.send?.(report)
}

/** The handler of every subscriber connection of this process. */
function onPublish(buf: Buffer, _topicAt: number, _topicLength: number, payloadAt: number, payloadEnd: number, _qos: number, _packetId: number, nowUs: number): void {
  received++
  if (payloadEnd - payloadAt < STAMP_FROM_END) return count('payload without a stamp')
  const stamp = readStamp(buf, payloadEnd - STAMP_FROM_END)
  if (stamp >= windowStartUs && stamp < windowEndUs) ofWindowSends++
  if (nowUs >= windowStartUs && nowUs < windowEndUs) {
    inWindow++
    histogram.record(nowUs - stamp)
  }
}

async function openConnection(spec: ConnSpec, localAddress: string | undefined): Promise<void> {
  const conn = new LeanConnection(target!, localAddress)
  try {
    await conn.connect({ clientId: spec.clientId, username: spec.username, password: spec.password, keepalive: init!.keepalive, clean: true })
    if (spec.subscribe !== undefined && spec.subscribe.length > 0) {
      const codes = await conn.subscribe(spec.subscribe, init!.subscribeQos)
      if (codes.some((c) => c === 0x80)) throw new Error('subscription refused')
      conn.onPublish = onPublish
    }
  } catch (err) {
    conn.socket.destroy()
    throw err
  }
  conn.onClose = (why) => count(`connection lost: ${why}`)
  conns.push(conn)
  if (spec.publish !== undefined) {
    const p: Publisher = { conn, templates: [publishTemplate(spec.publish, 0), publishTemplate(spec.publish, 1)], scheduled: 0, inUse: new Uint8Array(65_536), nextId: 1, unacked: 0 }
    conn.onPuback = (id) => {
      if (p.inUse[id] === 1) {
        p.inUse[id] = 0
        p.unacked--
      }
    }
    publishers.push(p)
  }
}

async function connectAll(cmd: ConnectCommand): Promise<void> {
  const t0 = performance.now()
  const before = conns.length
  const failures: Record<string, number> = {}
  let failed = 0
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < cmd.conns.length) {
      const i = next++
      const address = cmd.localAddressPrefix === null ? undefined : `${cmd.localAddressPrefix}${1 + (Math.floor(addressed++ / cmd.perAddress) % 254)}`
      try {
        await openConnection(cmd.conns[i]!, address)
      } catch (err) {
        failed++
        const why = err instanceof Error ? err.message : String(err)
        failures[why] = (failures[why] ?? 0) + 1
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(cmd.concurrency, cmd.conns.length)) }, lane))
  if (pingTimer === null && init!.keepalive > 0) {
    pingTimer = setInterval(() => {
      for (const c of conns) if (c.isOpen) c.ping()
    }, (init!.keepalive * 1000) / 2)
  }
  send({ type: 'connected', opened: conns.length - before, failed, connectMs: Math.round(performance.now() - t0), errors: failures })
}

/** Fills one batch of `n` publishes for `p` at `qos`, all stamped `stampUs`. */
function batch(p: Publisher, qos: 0 | 1, n: number, stampUs: number): Buffer {
  const t = p.templates[qos]
  writeStamp(t.bytes, t.stampAt, stampUs)
  const size = t.bytes.length
  const out = Buffer.allocUnsafe(n * size)
  for (let k = 0; k < n; k++) {
    const at = k * size
    t.bytes.copy(out, at)
    if (qos === 1) {
      const id = p.nextId
      p.inUse[id] = 1
      p.unacked++
      p.nextId = id === 65_535 ? 1 : id + 1
      out[at + t.packetIdAt] = id >> 8
      out[at + t.packetIdAt + 1] = id & 0xff
    }
  }
  return out
}

/** How many of `due` a publisher may send now: its socket and its QoS 1 window decide. */
function sendable(p: Publisher, qos: 0 | 1, due: number): number {
  if (!p.conn.isOpen || p.conn.backlog > MAX_BACKLOG_BYTES) return 0
  if (qos === 0) return due
  let n = Math.min(due, MAX_UNACKED - p.unacked)
  // Never reuse a packet id that is still unacknowledged.
  for (let k = 0, id = p.nextId; k < n; k++, id = id === 65_535 ? 1 : id + 1) {
    if (p.inUse[id] === 1) {
      n = k
      break
    }
  }
  return Math.max(0, n)
}

function runStep(cmd: StepCommand): void {
  histogram.reset()
  received = 0
  inWindow = 0
  ofWindowSends = 0
  sent = 0
  sentInWindow = 0
  heldBack = 0
  errors = {}
  windowStartUs = cmd.startAtUs + cmd.warmMs * 1000
  windowEndUs = windowStartUs + cmd.measureMs * 1000
  windowCpuUs = 0
  let cpuAtStart: NodeJS.CpuUsage | null = null
  const untilWindow = Math.max(0, (windowStartUs - nowMicros()) / 1000)
  setTimeout(() => {
    cpuAtStart = process.cpuUsage()
  }, untilWindow)
  setTimeout(() => {
    const d = process.cpuUsage(cpuAtStart ?? undefined)
    windowCpuUs = d.user + d.system
  }, untilWindow + cmd.measureMs)
  send({ type: 'armed' })
  if (publishers.length === 0) return
  for (const p of publishers) p.scheduled = 0
  const endUs = windowEndUs
  const n = publishers.length
  const maxCatchUp = Math.max(1, Math.ceil(cmd.ratePerConn * MAX_CATCH_UP_S))
  const tick = (): void => {
    const now = nowMicros()
    if (now < cmd.startAtUs) {
      setTimeout(tick, Math.max(0, (cmd.startAtUs - now) / 1000))
      return
    }
    const elapsedS = (Math.min(now, endUs) - cmd.startAtUs) / 1e6
    for (let k = 0; k < n; k++) {
      const p = publishers[k]!
      // Connections are spread over the second (phase k/n) so they do not all send at once.
      let due = Math.floor(elapsedS * cmd.ratePerConn + k / n) - p.scheduled
      if (due <= 0) continue
      if (due > maxCatchUp) {
        heldBack += due - maxCatchUp
        p.scheduled += due - maxCatchUp
        due = maxCatchUp
      }
      const m = sendable(p, cmd.qos, due)
      heldBack += due - m
      p.scheduled += due
      if (m === 0) continue
      p.conn.write(batch(p, cmd.qos, m, now))
      sent += m
      if (now >= windowStartUs && now < windowEndUs) sentInWindow += m
    }
    if (now >= endUs) {
      send({ type: 'sent', sent, heldBack })
      return
    }
    setTimeout(tick, 1)
  }
  tick()
}

function counts(): CountsReport {
  let unacked = 0
  for (const p of publishers) unacked += p.unacked
  return { type: 'counts', received, inWindow, ofWindowSends, sentInWindow, histogram: histogram.sparse(), maxUs: histogram.maxUs, sent, heldBack, unacked, windowCpuUs, errors }
}

async function closeAll(): Promise<void> {
  if (pingTimer !== null) clearInterval(pingTimer)
  await Promise.all(conns.map((c) => c.close()))
  send({ type: 'closed' })
}

process.on('message', (cmd: WorkerCommand) => {
  switch (cmd.type) {
    case 'init':
      init = cmd
      target = parseMqttUrl(cmd.url)
      return
    case 'connect':
      void connectAll(cmd)
      return
    case 'step':
      runStep(cmd)
      return
    case 'collect':
      send(counts())
      return
    case 'close':
      void closeAll().finally(() => process.disconnect())
      return
  }
})
// The coordinator went away: nothing is left to report to.
process.on('disconnect', () => process.exit(0))
