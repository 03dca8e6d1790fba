// Ingress levelling. Aedes reads every publisher as fast as the sockets deliver and writes
// to subscribers as fast as it is handed messages, so past its knee the work queued in the
// process (parsed packets, socket buffers, garbage) grows until throughput collapses. The
// broker instead holds publishes back, before handling them, while it is behind:
//  - overload: the event loop is late by more than CHIME_INGRESS_MAX_LAG_MS (measured by a
//    10 ms timer, and by how long that timer has not run). Every publish that arrives
//    meanwhile waits until the delay is back under half the limit.
//  - a per-connection budget: CHIME_INGRESS_CLIENT_RATE publishes per second (requests
//    included), bursts up to CHIME_INGRESS_CLIENT_BURST. A connection over it waits until its
//    budget allows the next packet, so one client cannot take the broker from the others.
// A held publish is one whose authorizePublish has not answered yet: aedes handles it (and
// sends its PUBACK) once it is let through, and reads little more from that connection while
// its packets are unfinished. Each connection's publishes go through in the order they came.
// Nothing is dropped or refused. The state is in `stats` (served as metrics by
// metrics-route.ts) and a log line says when overload begins and ends.
import type { Client } from 'aedes'

export interface IngressOptions {
  /** Event-loop delay, ms, above which publishes are held; 0 turns overload holding off. */
  maxLagMs: number
  /** Publishes per second one connection may sustain; 0: no limit. */
  clientRate: number
  /** Publishes one connection may send at once beyond its rate. */
  clientBurst: number
}

export interface IngressLogger {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface IngressStats {
  /** Whether the broker is behind now (1) or not (0). */
  overloaded: number
  /** Times the broker fell behind. */
  overloads: number
  /** Milliseconds spent behind, in all. */
  overloadedMs: number
  /** Connections with publishes held now. */
  heldClients: number
  /** Publishes held now. */
  heldPublishes: number
  /** Publishes held because the broker was behind. */
  overloadHolds: number
  /** Publishes held because their connection was over its budget. */
  budgetHolds: number
  /** The event loop's latest delay, ms. */
  lagMs: number
}

interface ClientState {
  tokens: number
  at: number
  /** Publishes waiting, oldest first. */
  waiting: (() => void)[]
  /** Set while waiting for the budget to refill. */
  timer: NodeJS.Timeout | null
}

const TICK_MS = 10

export class IngressGate {
  readonly stats: IngressStats = { overloaded: 0, overloads: 0, overloadedMs: 0, heldClients: 0, heldPublishes: 0, overloadHolds: 0, budgetHolds: 0, lagMs: 0 }
  private readonly clients = new Map<Client, ClientState>()
  /** Connections with publishes held while the broker is behind. */
  private readonly held = new Set<Client>()
  private readonly timer: NodeJS.Timeout
  private lastTick = performance.now()
  private overloadStart = 0
  private lastLog = -Infinity
  private overloadLogged = false

  constructor(
    private readonly opts: IngressOptions,
    private readonly log: IngressLogger,
  ) {
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.timer.unref()
  }

  /** Called for each PUBLISH a client sends, before it is handled; `proceed` handles it (now, or once let through). */
  admit(client: Client, proceed: () => void): void {
    const now = performance.now()
    if (this.opts.maxLagMs > 0 && this.stats.overloaded === 0) {
      // The timer may be starved: then the broker is behind by at least that long.
      const starved = now - this.lastTick - TICK_MS
      if (starved > this.opts.maxLagMs) this.enterOverload(starved, now)
    }
    if (this.opts.clientRate <= 0 && this.stats.overloaded === 0) return proceed()
    let st = this.clients.get(client)
    if (st === undefined) {
      st = { tokens: this.opts.clientBurst, at: now, waiting: [], timer: null }
      this.clients.set(client, st)
    }
    if (st.waiting.length === 0 && this.stats.overloaded === 0 && this.take(st, now)) return proceed()
    if (st.waiting.length === 0) this.stats.heldClients += 1
    st.waiting.push(proceed)
    this.stats.heldPublishes += 1
    if (this.stats.overloaded === 1) {
      this.stats.overloadHolds += 1
      this.held.add(client)
    } else {
      this.stats.budgetHolds += 1
      this.waitForBudget(client, st)
    }
  }

  /** Forgets a connection that went away, with its held publishes. */
  forget(client: Client): void {
    const st = this.clients.get(client)
    if (st === undefined) return
    this.clients.delete(client)
    this.held.delete(client)
    if (st.timer !== null) clearTimeout(st.timer)
    if (st.waiting.length > 0) this.stats.heldClients -= 1
    this.stats.heldPublishes -= st.waiting.length
  }

  /** Lets every held publish through and stops the timer. */
  close(): void {
    clearInterval(this.timer)
    this.stats.overloaded = 0
    for (const [client, st] of this.clients) {
      if (st.timer !== null) clearTimeout(st.timer)
      st.timer = null
      const waiting = st.waiting.splice(0)
      this.clients.delete(client)
      for (const proceed of waiting) proceed()
    }
    this.held.clear()
    this.stats.heldClients = 0
    this.stats.heldPublishes = 0
  }

  /** Spends one publish of the budget, if there is one. */
  private take(st: ClientState, now: number): boolean {
    if (this.opts.clientRate <= 0) return true
    st.tokens = Math.min(this.opts.clientBurst, st.tokens + ((now - st.at) * this.opts.clientRate) / 1000)
    st.at = now
    if (st.tokens < 1) return false
    st.tokens -= 1
    return true
  }

  private waitForBudget(client: Client, st: ClientState): void {
    if (st.timer !== null) return
    const ms = Math.max(1, Math.ceil(((1 - st.tokens) * 1000) / this.opts.clientRate))
    st.timer = setTimeout(() => {
      st.timer = null
      this.release(client, st)
    }, ms)
  }

  /** Lets a connection's held publishes through, in order, as far as the broker and its budget allow. */
  private release(client: Client, st: ClientState): void {
    while (st.waiting.length > 0) {
      if (this.stats.overloaded === 1) {
        this.held.add(client)
        return
      }
      if (!this.take(st, performance.now())) {
        this.waitForBudget(client, st)
        return
      }
      const proceed = st.waiting.shift()!
      this.stats.heldPublishes -= 1
      if (st.waiting.length === 0) this.stats.heldClients -= 1
      proceed()
    }
  }

  private tick(): void {
    const now = performance.now()
    const lag = Math.max(0, now - this.lastTick - TICK_MS)
    this.lastTick = now
    this.stats.lagMs = Math.round(lag)
    if (this.opts.maxLagMs <= 0) return
    if (this.stats.overloaded === 0) {
      if (lag > this.opts.maxLagMs) this.enterOverload(lag, now)
      return
    }
    if (lag > this.opts.maxLagMs / 2) return
    // Caught up: let the held publishes through.
    const behindMs = now - this.overloadStart
    this.stats.overloaded = 0
    this.stats.overloadedMs += behindMs
    const held = [...this.held]
    this.held.clear()
    for (const client of held) {
      const st = this.clients.get(client)
      if (st !== undefined && st.timer === null) this.release(client, st)
    }
    if (this.overloadLogged) this.log.info({ behindMs: Math.round(behindMs), heldClients: held.length, overloads: this.stats.overloads }, 'broker caught up; publishes go through again')
  }

  private enterOverload(lag: number, now: number): void {
    this.stats.overloaded = 1
    this.stats.overloads += 1
    this.overloadStart = now
    // At most one pair of lines per 10 s however often it happens; the metrics count every time.
    this.overloadLogged = now - this.lastLog >= 10_000
    if (this.overloadLogged) this.lastLog = now
    if (this.overloadLogged) this.log.warn({ lagMs: Math.round(lag), maxLagMs: this.opts.maxLagMs, overloads: this.stats.overloads }, 'broker overloaded: publishes are held until it catches up (nothing is dropped)')
  }
}

/** The gate's figures in Prometheus's text format. */
export function ingressMetrics(stats: IngressStats, connections: number): string {
  const lines: string[] = []
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`)
  }
  metric('chime_broker_connections', 'gauge', 'Connected MQTT clients.', connections)
  metric('chime_broker_overloaded', 'gauge', '1 while the broker is behind and holds publishes.', stats.overloaded)
  metric('chime_broker_overloads_total', 'counter', 'Times the broker fell behind.', stats.overloads)
  metric('chime_broker_overloaded_seconds_total', 'counter', 'Time spent behind.', stats.overloadedMs / 1000)
  metric('chime_broker_held_clients', 'gauge', 'Connections with publishes held now.', stats.heldClients)
  metric('chime_broker_held_publishes', 'gauge', 'Publishes held now.', stats.heldPublishes)
  metric('chime_broker_overload_holds_total', 'counter', 'Publishes held because the broker was behind.', stats.overloadHolds)
  metric('chime_broker_budget_holds_total', 'counter', 'Publishes held because their connection was over its budget (CHIME_INGRESS_CLIENT_RATE).', stats.budgetHolds)
  metric('chime_event_loop_lag_ms', 'gauge', 'The latest event-loop delay.', stats.lagMs)
  return lines.join('\n') + '\n'
}

/** The gate's options from the configuration (config/schema.ts). */
export function ingressFrom(config: { ingressMaxLagMs: number; ingressClientRate: number; ingressClientBurst: number }): IngressOptions {
  return { maxLagMs: config.ingressMaxLagMs, clientRate: config.ingressClientRate, clientBurst: config.ingressClientBurst }
}
