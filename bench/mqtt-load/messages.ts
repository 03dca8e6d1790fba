// What the coordinator (bench/mqtt.ts) and a load-generator process (worker.ts) tell each
// other over the fork IPC channel. Times are µs of the shared monotonic clock (codec.ts
// nowMicros), so every process agrees on when a step and its measured window start.

/** One connection: a subscriber (subscribe), a publisher (publish), or idle (neither). */
export interface ConnSpec {
  clientId: string
  username?: string
  password?: string
  /** Filters sent in one SUBSCRIBE after CONNACK. */
  subscribe?: string[]
  /** The topic this connection publishes on in each step. */
  publish?: string
}

export interface InitCommand {
  type: 'init'
  /** mqtt://host:port of the broker under test. */
  url: string
  /**
   * The QoS subscribers ask for. A step publishes at its own QoS and the broker delivers at
   * the lower of the two, so subscribers at 1 serve the QoS 0 and the QoS 1 steps alike.
   */
  subscribeQos: 0 | 1
  /** Seconds; every connection sends PINGREQ at half of it. */
  keepalive: number
}

/** Opens more connections (at most `concurrency` CONNECTs outstanding). */
export interface ConnectCommand {
  type: 'connect'
  conns: ConnSpec[]
  concurrency: number
  /**
   * Loopback source addresses to spread the connections over: `<prefix>1`, `<prefix>2`, ...,
   * each for `perAddress` connections of this process (counted over every connect command),
   * so many connections to one broker port neither run out of local ports nor make the
   * kernel search long for a free one. Null: the system picks the source address.
   */
  localAddressPrefix: string | null
  perAddress: number
}

/**
 * Publishers send `ratePerConn` messages/s each from `startAtUs` for `warmMs + measureMs`;
 * subscribers count what arrives and record the latency of what arrives in the measured
 * window (the last `measureMs`).
 */
export interface StepCommand {
  type: 'step'
  qos: 0 | 1
  startAtUs: number
  warmMs: number
  measureMs: number
  ratePerConn: number
}

export type WorkerCommand = InitCommand | ConnectCommand | StepCommand | { type: 'collect' } | { type: 'close' }

export interface ConnectedReport {
  type: 'connected'
  opened: number
  failed: number
  connectMs: number
  errors: Record<string, number>
}

/** Sent by a process with publishers when its step's sending time is over. */
export interface SentReport {
  type: 'sent'
  sent: number
  /** Messages not sent because the connection was backed up, its QoS 1 window was full, or this process fell behind. */
  heldBack: number
}

/** Everything counted since the last step began (cumulative until the next step). */
export interface CountsReport {
  type: 'counts'
  received: number
  /** Received within the measured window. */
  inWindow: number
  /** Received (at any time so far) of the messages sent within the measured window. */
  ofWindowSends: number
  /** Sent within the measured window (publishers). */
  sentInWindow: number
  /** Latencies of the messages received in the window: sparse histogram (histogram.ts). */
  histogram: Array<[number, number]>
  maxUs: number
  sent: number
  heldBack: number
  /** QoS 1 publishes not acknowledged yet. */
  unacked: number
  /** CPU time of this process within the measured window, µs. */
  windowCpuUs: number
  errors: Record<string, number>
}

export type WorkerReport = ConnectedReport | SentReport | CountsReport | { type: 'armed' } | { type: 'closed' }
