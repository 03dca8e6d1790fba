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
import { openInLanes, PacketIdWindow, runPacedStep, type PacingCounts } from './pacing.ts'

/** Bytes queued for one publisher socket beyond which it sends nothing until they drain. */
const MAX_BACKLOG_BYTES = 4 * 2 ** 20
/** QoS 1 publishes one connection may have unacknowledged. */
const MAX_UNACKED = 20_000

interface Publisher {
  conn: LeanConnection
  /** The PUBLISH at QoS 0 and at QoS 1. */
  templates: [PublishTemplate, PublishTemplate]
  /** Messages scheduled so far this step (sent or held back). */
  scheduled: number
  /** Its QoS 1 packet ids. */
  ids: PacketIdWindow
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
let pacing: PacingCounts = { sent: 0, sentInWindow: 0, heldBack: 0, maxTickLagMs: 0, windowCpuUs: 0 }
let windowStartUs = Number.POSITIVE_INFINITY
let windowEndUs = Number.NEGATIVE_INFINITY
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
    const p: Publisher = { conn, templates: [publishTemplate(spec.publish, 0), publishTemplate(spec.publish, 1)], scheduled: 0, ids: new PacketIdWindow() }
    conn.onPuback = (id) => p.ids.release(id)
    publishers.push(p)
  }
}

async function connectAll(cmd: ConnectCommand): Promise<void> {
  const t0 = performance.now()
  const before = conns.length
  const { failed, failures } = await openInLanes(cmd.conns, cmd.concurrency, (spec) =>
    openConnection(spec, cmd.localAddressPrefix === null ? undefined : `${cmd.localAddressPrefix}${1 + (Math.floor(addressed++ / cmd.perAddress) % 254)}`))
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
      const id = p.ids.take()
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
  return p.ids.free(due, MAX_UNACKED)
}

function runStep(cmd: StepCommand): void {
  histogram.reset()
  received = 0
  inWindow = 0
  ofWindowSends = 0
  errors = {}
  windowStartUs = cmd.startAtUs + cmd.warmMs * 1000
  windowEndUs = windowStartUs + cmd.measureMs * 1000
  send({ type: 'armed' })
  pacing = runPacedStep({
    senders: publishers, ratePerSender: cmd.ratePerConn, startAtUs: cmd.startAtUs, windowStartUs, windowEndUs,
    sendable: (p, due) => sendable(p, cmd.qos, due),
    write: (p, m, now) => p.conn.write(batch(p, cmd.qos, m, now)),
    done: (c) => send({ type: 'sent', sent: c.sent, heldBack: c.heldBack }),
  })
}

function counts(): CountsReport {
  let unacked = 0
  for (const p of publishers) unacked += p.ids.unacked
  const { sent, sentInWindow, heldBack, windowCpuUs } = pacing
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
