// A load-generator process of the soak (bench/soak.ts): devices that connect the way the SDK
// does (persistent session, a will that says offline, SUBSCRIBE to their inbox and to another
// user's presence, PUBLISH of their own presence, retained), stay connected, and leave and
// come back in churn at a fixed rate: most with DISCONNECT, some by dropping the socket (the
// broker then publishes the will). Each device keeps its client id across reconnects, as a
// phone or a browser tab does. Every loop is bounded: churn stops at the end of the run, at
// most `concurrency` CONNECTs are outstanding, and a connect waits 30 s at most.
import { LeanConnection, parseMqttUrl, type Target } from './mqtt-load/connection.ts'
import { encodePublish } from './mqtt-load/codec.ts'

export interface SoakSlot {
  clientId: string
  username: string
  token: string
  /** The device's own user's inbox and presence topics. */
  inbox: string
  presence: string
  /** Another user's presence topic, watched by this device. */
  watch: string
}

export type SoakCommand =
  | { type: 'start'; url: string; keepalive: number; slots: SoakSlot[]; concurrency: number; churnPerS: number; awayMs: number; abruptShare: number; durationMs: number }
  | { type: 'stats' }
  | { type: 'stop' }

export interface SoakStats {
  type: 'stats'
  /** Devices connected now. */
  connected: number
  /** Connects that completed (CONNACK, SUBACK, presence sent) since the start. */
  connects: number
  /** Devices that left on purpose: with DISCONNECT, or by dropping the socket. */
  disconnects: number
  dropped: number
  /** Connections the broker closed without being asked. */
  lost: number
  /** Messages received (presence deliveries, queued ones after a reconnect, inbox). */
  received: number
  /** Whether the churn is still running. */
  churning: boolean
  errors: Record<string, number>
}

export type SoakReport = SoakStats | { type: 'connected'; connected: number; ms: number; errors: Record<string, number> } | { type: 'stopped' }

const ONLINE = '{"action":"PRESENCE","data":{"status":"online"}}'
const OFFLINE = '{"action":"PRESENCE","data":{"status":"offline"}}'
const CONNECT_TIMEOUT_MS = 30_000

interface Device {
  slot: SoakSlot
  conn: LeanConnection | null
  /** Connecting, connected, or away (waiting to come back). */
  state: 'away' | 'connecting' | 'connected'
}

let target: Target | null = null
let keepalive = 60
let devices: Device[] = []
let connects = 0
let disconnects = 0
let dropped = 0
let lost = 0
let received = 0
let churning = false
let connecting = 0
const waiting: Device[] = []
let concurrency = 20
const errors: Record<string, number> = {}
const timers = new Set<NodeJS.Timeout>()
let pingTimer: NodeJS.Timeout | null = null

const count = (what: string): void => {
  errors[what] = (errors[what] ?? 0) + 1
}

function later(fn: () => void, ms: number): void {
  const t = setTimeout(() => {
    timers.delete(t)
    fn()
  }, ms)
  timers.add(t)
}

async function open(d: Device): Promise<void> {
  const conn = new LeanConnection(target!)
  d.conn = conn
  conn.onPublish = () => {
    received++
  }
  try {
    await conn.connect({ clientId: d.slot.clientId, username: d.slot.username, password: d.slot.token, keepalive, clean: false, will: { topic: d.slot.presence, payload: OFFLINE, qos: 1, retain: true } }, CONNECT_TIMEOUT_MS)
    const codes = await conn.subscribe([d.slot.inbox, d.slot.watch], 1, CONNECT_TIMEOUT_MS)
    if (codes.some((c) => c === 0x80)) throw new Error('subscription refused')
    conn.write(encodePublish(d.slot.presence, ONLINE, 1, true, 1))
  } catch (err) {
    conn.socket.destroy()
    d.conn = null
    throw err
  }
  conn.onClose = (why) => {
    if (d.conn !== conn) return
    lost++
    count(`connection lost: ${why}`)
    d.conn = null
    d.state = 'away'
    // A device whose connection the broker dropped comes back, as the SDK does.
    if (churning) later(() => request(d), 1000)
  }
  d.state = 'connected'
  connects++
}

/** Starts connecting `d` now or when a CONNECT slot frees up. */
function request(d: Device): void {
  if (d.state !== 'away') return
  d.state = 'connecting'
  if (connecting >= concurrency) {
    waiting.push(d)
    return
  }
  run(d)
}

function run(d: Device): void {
  connecting++
  open(d).catch((err: unknown) => {
    count(err instanceof Error ? err.message : String(err))
    d.state = 'away'
    if (churning) later(() => request(d), 1000)
  }).finally(() => {
    connecting--
    const next = waiting.shift()
    if (next !== undefined) run(next)
  })
}

/** Takes a connected device away: DISCONNECT, or (abrupt) the socket dropped; it comes back after `awayMs`. */
function leave(d: Device, abrupt: boolean, awayMs: number): void {
  const conn = d.conn
  if (conn === null || d.state !== 'connected') return
  d.conn = null
  d.state = 'away'
  if (abrupt) {
    dropped++
    conn.socket.destroy()
  } else {
    disconnects++
    void conn.close()
  }
  later(() => request(d), awayMs)
}

async function start(cmd: Extract<SoakCommand, { type: 'start' }>): Promise<void> {
  target = parseMqttUrl(cmd.url)
  keepalive = cmd.keepalive
  concurrency = cmd.concurrency
  devices = cmd.slots.map((slot) => ({ slot, conn: null, state: 'away' }))
  const t0 = performance.now()
  churning = true
  for (const d of devices) request(d)
  const deadline = Date.now() + 300_000
  while (devices.some((d) => d.state !== 'connected') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  process.send?.({ type: 'connected', connected: devices.filter((d) => d.state === 'connected').length, ms: Math.round(performance.now() - t0), errors: { ...errors } } satisfies SoakReport)
  pingTimer = setInterval(() => {
    for (const d of devices) if (d.state === 'connected') d.conn?.ping()
  }, (keepalive * 1000) / 2)
  // Churn: `churnPerS` devices a second leave (picked at random among the connected ones) and
  // come back `awayMs` later; a tick every 100 ms, until the run's time is up.
  const startedAt = Date.now()
  let taken = 0
  const tick = (): void => {
    const elapsed = Date.now() - startedAt
    if (elapsed >= cmd.durationMs) {
      churning = false
      return
    }
    const due = Math.floor((elapsed / 1000) * cmd.churnPerS) - taken
    const present = devices.filter((d) => d.state === 'connected')
    for (let k = 0; k < due && present.length > 0; k++) {
      const i = Math.floor(Math.random() * present.length)
      const d = present[i]!
      present[i] = present[present.length - 1]!
      present.pop()
      leave(d, Math.random() < cmd.abruptShare, cmd.awayMs)
    }
    taken += due
    later(tick, 100)
  }
  tick()
}

function stats(): SoakStats {
  return { type: 'stats', connected: devices.filter((d) => d.state === 'connected').length, connects, disconnects, dropped, lost, received, churning, errors: { ...errors } }
}

async function stop(): Promise<void> {
  churning = false
  for (const t of timers) clearTimeout(t)
  timers.clear()
  waiting.length = 0
  if (pingTimer !== null) clearInterval(pingTimer)
  await Promise.all(devices.map((d) => d.conn?.close() ?? Promise.resolve()))
  process.send?.({ type: 'stopped' } satisfies SoakReport)
}

process.on('message', (cmd: SoakCommand) => {
  if (cmd.type === 'start') void start(cmd)
  else if (cmd.type === 'stats') process.send?.(stats())
  else if (cmd.type === 'stop') void stop().finally(() => process.disconnect())
})
process.on('disconnect', () => process.exit(0))
