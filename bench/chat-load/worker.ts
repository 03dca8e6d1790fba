// A chat load-generator process (forked by bench/chat.ts and bench/reconnect-storm.ts): many
// lean MQTT connections (mqtt-load/connection.ts) of real signed-in members, driven over IPC
// (messages.ts).
//
// Posters publish POST_MESSAGE requests at QoS 1 on their requests topic, paced against the
// shared monotonic clock; each post's content starts with `bench~` and the send time in µs
// (16 digits), and carries a client_msg_id as the SDK's posts do. Subscribers find the stamp
// in each PUBLISH_DELTA with one byte search (no JSON parse) and record the latency; posters
// do the same with their POST_MESSAGE_RESPONSEs. Every loop is bounded: a step sends for
// warmMs + measureMs only, and a backed-up connection or a full window of unacknowledged
// requests holds posts back (counted) instead of queueing them without end.
//
// Watchers (the reconnect storm) parse what they get: live PUBLISH_DELTAs for their seq, and
// SYNC_RESPONSEs on their inbox.
import { LatencyHistogram } from '../mqtt-load/histogram.ts'
import { LeanConnection, parseMqttUrl, type Target } from '../mqtt-load/connection.ts'
import { nowMicros, readStamp, remainingLengthBytes, STAMP_DIGITS } from '../mqtt-load/codec.ts'
import { openInLanes, PacketIdWindow, runPacedStep, type PacingCounts } from '../mqtt-load/pacing.ts'
import type { ChatCommand, ChatConnSpec, ChatConnect, ChatCounts, ChatReport, ChatStep, StormCounts, StormReconnect } from './messages.ts'

/** Bytes queued for one poster socket beyond which it sends nothing until they drain. */
const MAX_BACKLOG_BYTES = 4 * 2 ** 20
/** Requests one poster may have unacknowledged (the broker acknowledges a post after its commit). */
const MAX_UNACKED = 5000
/** Where a post's send stamp starts: right after this in its content. */
export const STAMP_MARKER = 'bench~'
const MARKER = Buffer.from(STAMP_MARKER, 'latin1')
const RESPONSE_TAG = Buffer.from('"POST_MESSAGE_RESPONSE"', 'latin1')
const DUPLICATE_TAG = Buffer.from('"duplicate":true', 'latin1')

interface Poster {
  conn: LeanConnection
  spec: ChatConnSpec
  requestsTopic: Buffer
  scheduled: number
  /** Posts made by this connection so far (its client_msg_ids and request ids). */
  made: number
  /** Its QoS 1 packet ids. */
  ids: PacketIdWindow
}

let target: Target | null = null
let keepalive = 30
const conns: LeanConnection[] = []
const posters: Poster[] = []
let pingTimer: NodeJS.Timeout | null = null
let addressed = 0

// Counters of the current step.
const publishHistogram = new LatencyHistogram()
const postHistogram = new LatencyHistogram()
let received = 0
let deliveredOfWindow = 0
const deliveredQos: [number, number] = [0, 0]
let responsesOfWindow = 0
let pacing: PacingCounts = { sent: 0, sentInWindow: 0, heldBack: 0, maxTickLagMs: 0, windowCpuUs: 0 }
let windowStartUs = Number.POSITIVE_INFINITY
let windowEndUs = Number.NEGATIVE_INFINITY
let errors: Record<string, number> = {}

const count = (what: string, n = 1): void => {
  errors[what] = (errors[what] ?? 0) + n
}

function send(report: ChatReport): void {
  process.send?.(report)
}

/** The utf8 field of a topic (2-byte length, bytes). */
function topicField(topic: string): Buffer {
  const bytes = Buffer.from(topic, 'utf8')
  const out = Buffer.allocUnsafe(2 + bytes.length)
  out.writeUInt16BE(bytes.length, 0)
  bytes.copy(out, 2)
  return out
}

/** A QoS 1 PUBLISH of `payload` on a topic given as its utf8 field. */
function encodePublish(topic: Buffer, payload: string, packetId: number): Buffer {
  const bodyLength = Buffer.byteLength(payload, 'utf8')
  const remaining = topic.length + 2 + bodyLength
  const rl = remainingLengthBytes(remaining)
  const out = Buffer.allocUnsafe(1 + rl.length + remaining)
  out[0] = 0x32
  let at = 1
  for (const b of rl) out[at++] = b
  topic.copy(out, at)
  at += topic.length
  out[at++] = packetId >> 8
  out[at++] = packetId & 0xff
  out.write(payload, at, 'utf8')
  return out
}

/** The send stamp of a post in this packet, or -1 when it has none. */
function stampIn(buf: Buffer, payloadAt: number, payloadEnd: number): number {
  const at = buf.indexOf(MARKER, payloadAt)
  if (at < 0 || at + MARKER.length + STAMP_DIGITS > payloadEnd) return -1
  return readStamp(buf, at + MARKER.length)
}

/** Every subscriber of this process: one byte search per delivery. */
function onDelivery(buf: Buffer, _topicAt: number, _topicLength: number, payloadAt: number, payloadEnd: number, qos: number, _packetId: number, nowUs: number): void {
  received++
  deliveredQos[qos > 0 ? 1 : 0]++
  const stamp = stampIn(buf, payloadAt, payloadEnd)
  if (stamp < 0) return
  if (stamp >= windowStartUs && stamp < windowEndUs) {
    deliveredOfWindow++
    publishHistogram.record(nowUs - stamp)
  }
}

/** Every poster's inbox: POST_MESSAGE_RESPONSEs are timed, anything else is counted. */
function onReply(buf: Buffer, _topicAt: number, _topicLength: number, payloadAt: number, payloadEnd: number, _qos: number, _packetId: number, nowUs: number): void {
  const tag = buf.indexOf(RESPONSE_TAG, payloadAt)
  if (tag >= 0 && tag < payloadEnd) {
    const dup = buf.indexOf(DUPLICATE_TAG, payloadAt)
    if (dup >= 0 && dup < payloadEnd) count('duplicate: true (a client_msg_id was reused)')
    const stamp = stampIn(buf, payloadAt, payloadEnd)
    if (stamp >= windowStartUs && stamp < windowEndUs) {
      responsesOfWindow++
      postHistogram.record(nowUs - stamp)
    }
    return
  }
  try {
    const env = JSON.parse(buf.toString('utf8', payloadAt, payloadEnd)) as { action?: string; data?: { code?: string } }
    if (env.action === 'ERROR') count(`ERROR ${env.data?.code ?? '?'}`)
    else count(`inbox ${env.action ?? '?'}`)
  } catch {
    count('inbox: not JSON')
  }
}

function localAddress(prefix: string | null, perAddress: number): string | undefined {
  return prefix === null ? undefined : `${prefix}${1 + (Math.floor(addressed++ / perAddress) % 254)}`
}

async function openConnection(spec: ChatConnSpec, address: string | undefined): Promise<void> {
  if (spec.role === 'watcher') {
    const w: Watcher = newWatcher(spec)
    watchers.push(w)
    await connectWatcher(w, address, 30_000)
    return
  }
  const conn = new LeanConnection(target!, address)
  try {
    await conn.connect({ clientId: spec.clientId, username: spec.username, password: spec.password, keepalive, clean: true })
    const codes = await conn.subscribe([spec.role === 'subscriber' ? spec.channelTopic : spec.inbox], 1)
    if (codes.some((c) => c === 0x80)) throw new Error('subscription refused')
  } catch (err) {
    conn.socket.destroy()
    throw err
  }
  conn.onClose = (why) => count(`connection lost: ${why}`)
  conns.push(conn)
  if (spec.role === 'subscriber') {
    conn.onPublish = onDelivery
    return
  }
  conn.onPublish = onReply
  const p: Poster = { conn, spec, requestsTopic: topicField(`chime/v1/requests/${spec.clientId}`), scheduled: 0, made: 0, ids: new PacketIdWindow() }
  conn.onPuback = (id) => p.ids.release(id)
  posters.push(p)
}

async function connectAll(cmd: ChatConnect): Promise<void> {
  const t0 = performance.now()
  let opened = 0
  const lanes = openInLanes(cmd.conns, cmd.concurrency, async (spec) => {
    await openConnection(spec, localAddress(cmd.localAddressPrefix, cmd.perAddress))
    opened++
  })
  // Pings start with the first connection: a connect phase may outlast the keep-alive.
  if (pingTimer === null && keepalive > 0) {
    pingTimer = setInterval(() => {
      for (const c of conns) if (c.isOpen) c.ping()
      for (const w of watchers) if (w.conn?.isOpen) w.conn.ping()
    }, (keepalive * 1000) / 2)
  }
  const { failed, failures } = await lanes
  send({ type: 'connected', opened, failed, connectMs: Math.round(performance.now() - t0), errors: failures })
}

/** How many of `due` a poster may send now: its socket and its window of unacknowledged requests decide. */
function sendable(p: Poster, due: number): number {
  if (!p.conn.isOpen || p.conn.backlog > MAX_BACKLOG_BYTES) return 0
  return p.ids.free(due, MAX_UNACKED)
}

function postBatch(p: Poster, n: number, stampUs: number): Buffer {
  const stamp = String(stampUs).padStart(STAMP_DIGITS, '0')
  const parts: Buffer[] = []
  for (let k = 0; k < n; k++) {
    const id = p.ids.take()
    const m = ++p.made
    const payload = `{"action":"POST_MESSAGE","request_id":"r${m}","data":{"channel_id":"${p.spec.channelId}","content":"${STAMP_MARKER}${stamp} ${p.spec.username} ${m} lorem ipsum dolor sit amet","client_msg_id":"${p.spec.clientId}-${m}"}}`
    parts.push(encodePublish(p.requestsTopic, payload, id))
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
}

function runStep(cmd: ChatStep): void {
  publishHistogram.reset()
  postHistogram.reset()
  received = 0
  deliveredOfWindow = 0
  deliveredQos[0] = 0
  deliveredQos[1] = 0
  responsesOfWindow = 0
  errors = {}
  windowStartUs = cmd.startAtUs + cmd.warmMs * 1000
  windowEndUs = windowStartUs + cmd.measureMs * 1000
  send({ type: 'armed' })
  pacing = runPacedStep({
    senders: posters, ratePerSender: cmd.ratePerPoster, startAtUs: cmd.startAtUs, windowStartUs, windowEndUs,
    sendable,
    write: (p, m, now) => p.conn.write(postBatch(p, m, now)),
    done: (c) => send({ type: 'sent', sent: c.sent, heldBack: c.heldBack }),
  })
}

function counts(): ChatCounts {
  let unacked = 0
  for (const p of posters) unacked += p.ids.unacked
  return {
    type: 'counts', received, deliveredOfWindow, publishHistogram: publishHistogram.sparse(), publishMaxUs: publishHistogram.maxUs, deliveredQos: [deliveredQos[0], deliveredQos[1]],
    responsesOfWindow, postHistogram: postHistogram.sparse(), postMaxUs: postHistogram.maxUs, sent: pacing.sent, sentInWindow: pacing.sentInWindow, heldBack: pacing.heldBack, unacked, maxTickLagMs: Math.round(pacing.maxTickLagMs * 10) / 10, windowCpuUs: pacing.windowCpuUs, errors,
  }
}

// ---- watchers (reconnect storm)

interface Watcher {
  spec: ChatConnSpec
  conn: LeanConnection | null
  requestsTopic: Buffer
  /** Seqs of the channel this watcher has. */
  seen: Set<number>
  /** The last seq it had when the connection dropped. */
  watermark: number
  connackUs: number
  subscribed: boolean
  syncedUs: number
  doneUs: number
  missing: number
  nextPacketId: number
  syncs: number
  /** The seq the last SYNC asked from. */
  syncFrom: number
}

const watchers: Watcher[] = []
let storm: { startUs: number; targetSeq: number; deadlineUs: number; prefix: string | null; perAddress: number } | null = null
let retries = 0
let syncRequests = 0
let syncDeltas = 0
let liveDeltas = 0

function newWatcher(spec: ChatConnSpec): Watcher {
  return { spec, conn: null, requestsTopic: topicField(`chime/v1/requests/${spec.clientId}`), seen: new Set(), watermark: 0, connackUs: 0, subscribed: false, syncedUs: 0, doneUs: 0, missing: 0, nextPacketId: 1, syncs: 0, syncFrom: 0 }
}

function sendSync(w: Watcher, fromSeq: number): void {
  w.syncFrom = fromSeq
  const id = w.nextPacketId
  w.nextPacketId = id === 65_535 ? 1 : id + 1
  w.syncs++
  syncRequests++
  w.conn?.write(encodePublish(w.requestsTopic, JSON.stringify({ action: 'SYNC', request_id: `s${w.syncs}`, data: { channel_id: w.spec.channelId, client_seq: String(fromSeq), limit: 1000 } }), id))
}

interface DeltaLike {
  seq?: string
}

/** Whether `w` holds every seq after its watermark up to the storm's target; counts what it misses. */
function checkComplete(w: Watcher): void {
  if (storm === null || w.syncedUs === 0 || w.doneUs > 0) return
  let missing = 0
  for (let s = w.watermark + 1; s <= storm.targetSeq; s++) if (!w.seen.has(s)) missing++
  w.missing = missing
  if (missing === 0) w.doneUs = nowMicros()
}

function onWatcherPublish(w: Watcher, buf: Buffer, topicAt: number, topicLength: number, payloadAt: number, payloadEnd: number): void {
  const topic = buf.toString('utf8', topicAt, topicAt + topicLength)
  let env: { action?: string; data?: { seq?: string; code?: string; missing_deltas?: DeltaLike[]; has_more?: boolean; next_client_seq?: string; recovered?: boolean; restore_required?: boolean } }
  try {
    env = JSON.parse(buf.toString('utf8', payloadAt, payloadEnd)) as typeof env
  } catch {
    return count('watcher: not JSON')
  }
  const data = env.data ?? {}
  if (topic === w.spec.channelTopic) {
    if (env.action !== 'PUBLISH_DELTA') return
    w.seen.add(Number(data.seq))
    if (storm !== null) {
      liveDeltas++
      checkComplete(w)
    }
    return
  }
  if (topic !== w.spec.inbox) return count('watcher: delivery on an unexpected topic')
  if (env.action === 'ERROR') {
    // As a client would: the same SYNC again a moment later (counted), until the deadline.
    count(`SYNC ERROR ${data.code ?? '?'} (asked again)`)
    if (storm !== null && nowMicros() < storm.deadlineUs) setTimeout(() => w.conn?.isOpen === true && sendSync(w, w.syncFrom), 500 + Math.random() * 500)
    return
  }
  if (env.action !== 'SYNC_RESPONSE') return
  for (const d of data.missing_deltas ?? []) w.seen.add(Number(d.seq))
  syncDeltas += data.missing_deltas?.length ?? 0
  if (data.restore_required === true) return count('SYNC answered restore_required')
  if (data.has_more === true && data.next_client_seq !== undefined) return sendSync(w, Number(data.next_client_seq))
  w.syncedUs = nowMicros()
  checkComplete(w)
}

/** CONNECT (clean session) and SUBSCRIBE to the channel and the inbox; during a storm, then SYNC. */
async function connectWatcher(w: Watcher, address: string | undefined, timeoutMs: number): Promise<void> {
  const conn = new LeanConnection(target!, address)
  w.conn = conn
  conn.onPublish = (buf, topicAt, topicLength, payloadAt, payloadEnd) => onWatcherPublish(w, buf, topicAt, topicLength, payloadAt, payloadEnd)
  try {
    await conn.connect({ clientId: w.spec.clientId, username: w.spec.username, password: w.spec.password, keepalive, clean: true }, timeoutMs)
    if (storm !== null) w.connackUs = nowMicros()
    const codes = await conn.subscribe([w.spec.channelTopic, w.spec.inbox], 1, timeoutMs)
    if (codes.some((c) => c === 0x80)) throw new Error('subscription refused')
  } catch (err) {
    conn.onClose = null
    conn.socket.destroy()
    throw err
  }
  w.subscribed = true
  conn.onClose = (why) => {
    count(`connection lost: ${why}`)
    if (storm !== null && w.doneUs === 0) void reconnectWatcher(w)
  }
  if (storm !== null) sendSync(w, w.watermark)
}

/** One watcher's way back: reconnect (again after a failure, 0.5 to 1 s later) until the deadline. */
async function reconnectWatcher(w: Watcher): Promise<void> {
  const s = storm!
  w.subscribed = false
  w.syncedUs = 0
  for (let attempt = 0; ; attempt++) {
    const left = (s.deadlineUs - nowMicros()) / 1000
    if (left <= 0) return
    if (attempt > 0) retries++
    try {
      await connectWatcher(w, localAddress(s.prefix, s.perAddress), Math.min(30_000, left))
      return
    } catch (err) {
      count(`reconnect failed: ${err instanceof Error ? err.message : String(err)}`)
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 500))
    }
  }
}

function drop(fallbackSeq: number): number {
  let dropped = 0
  for (const w of watchers) {
    let high = 0
    for (const s of w.seen) if (s > high) high = s
    w.watermark = high > 0 ? high : fallbackSeq
    if (w.conn !== null) {
      w.conn.onClose = null
      w.conn.socket.destroy()
      w.conn = null
      dropped++
    }
  }
  return dropped
}

function reconnectAll(cmd: StormReconnect): void {
  const startUs = nowMicros()
  storm = { startUs, targetSeq: cmd.targetSeq, deadlineUs: startUs + cmd.deadlineMs * 1000, prefix: cmd.localAddressPrefix, perAddress: cmd.perAddress }
  retries = 0
  syncRequests = 0
  syncDeltas = 0
  liveDeltas = 0
  errors = {}
  for (const w of watchers) {
    w.connackUs = 0
    w.doneUs = 0
    w.missing = 0
  }
  // All at once: no lanes, every CONNECT goes out in this turn of the event loop.
  for (const w of watchers) void reconnectWatcher(w)
  send({ type: 'reconnecting' })
}

function stormCounts(): StormCounts {
  const s = storm
  const ms = (us: number): number => Math.round((us - (s?.startUs ?? 0)) / 100) / 10
  let missing = 0
  for (const w of watchers) {
    if (w.doneUs > 0) continue
    if (s === null) continue
    let m = 0
    for (let q = w.watermark + 1; q <= s.targetSeq; q++) if (!w.seen.has(q)) m++
    missing += m
  }
  return {
    type: 'storm-counts', watchers: watchers.length,
    connected: watchers.filter((w) => w.connackUs > 0).length,
    subscribed: watchers.filter((w) => w.subscribed).length,
    synced: watchers.filter((w) => w.syncedUs > 0).length,
    complete: watchers.filter((w) => w.doneUs > 0).length,
    missing,
    connackMs: watchers.filter((w) => w.connackUs > 0).map((w) => ms(w.connackUs)),
    doneMs: watchers.filter((w) => w.doneUs > 0).map((w) => ms(w.doneUs)),
    retries, syncRequests, syncDeltas, liveDeltas, errors,
  }
}

async function closeAll(): Promise<void> {
  if (pingTimer !== null) clearInterval(pingTimer)
  await Promise.all([...conns.map((c) => c.close()), ...watchers.map((w) => w.conn?.close())])
  send({ type: 'closed' })
}

process.on('message', (cmd: ChatCommand) => {
  switch (cmd.type) {
    case 'init':
      target = parseMqttUrl(cmd.url)
      keepalive = cmd.keepalive
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
    case 'storm-status':
      send({ type: 'storm-status', watchers: watchers.length, open: watchers.filter((w) => w.conn?.isOpen === true).length, haveProbe: watchers.filter((w) => w.seen.has(cmd.probeSeq)).length })
      return
    case 'drop':
      send({ type: 'dropped', dropped: drop(cmd.fallbackSeq) })
      return
    case 'reconnect':
      reconnectAll(cmd)
      return
    case 'storm-collect':
      send(stormCounts())
      return
    case 'close':
      void closeAll().finally(() => process.disconnect())
      return
  }
})
process.on('disconnect', () => process.exit(0))
