// What the chat scenarios' coordinator (bench/chat.ts, bench/reconnect-storm.ts) and a chat
// load-generator process (worker.ts) tell each other over the fork IPC channel. Times are
// µs of the shared monotonic clock (mqtt-load/codec.ts nowMicros).

/**
 * One signed-in member's connection:
 * - subscriber: subscribes to the channel's topic and records the latency of every
 *   PUBLISH_DELTA that carries a send stamp;
 * - poster: subscribes to its inbox, sends POST_MESSAGE requests (QoS 1) on its requests
 *   topic at the step's rate and records the latency of each POST_MESSAGE_RESPONSE;
 * - watcher (reconnect storm): subscribes to the channel and its inbox, keeps the seqs it
 *   has, and after a reconnect SYNCs the channel from the last seq it had.
 */
export interface ChatConnSpec {
  role: 'subscriber' | 'poster' | 'watcher'
  clientId: string
  username: string
  password: string
  channelId: string
  channelTopic: string
  inbox: string
}

export interface ChatInit {
  type: 'init'
  url: string
  /** Seconds; every connection sends PINGREQ at half of it. */
  keepalive: number
}

export interface ChatConnect {
  type: 'connect'
  conns: ChatConnSpec[]
  /** CONNECTs outstanding at once. */
  concurrency: number
  /** Loopback source addresses `<prefix>1..254`, `perAddress` connections each; null: the system's. */
  localAddressPrefix: string | null
  perAddress: number
}

/**
 * Posters send `ratePerPoster` posts/s each from `startAtUs` for `warmMs + measureMs`;
 * posts stamped within the last `measureMs` are the measured ones, wherever their
 * deliveries and responses arrive (also after the sending ended).
 */
export interface ChatStep {
  type: 'step'
  startAtUs: number
  warmMs: number
  measureMs: number
  ratePerPoster: number
}

/** Watchers: the last seq each has is the highest seen live, or `baseSeq` when none was. */
export interface StormStatus {
  type: 'storm-status'
  /** Count the watchers that have this seq. */
  probeSeq: number
}

/** Destroys every socket at once (no DISCONNECT: the broker sees the connections drop). */
export interface StormDrop {
  type: 'drop'
  /** The last seq of a watcher that saw none live (the channel's last seq before the probe). */
  fallbackSeq: number
}

/** Every watcher reconnects at once, subscribes, and SYNCs until it has every seq up to `targetSeq`. */
export interface StormReconnect {
  type: 'reconnect'
  targetSeq: number
  /** Give up (and report what is missing) this long after the reconnect began. */
  deadlineMs: number
  localAddressPrefix: string | null
  perAddress: number
}

export type ChatCommand = ChatInit | ChatConnect | ChatStep | { type: 'collect' } | StormStatus | StormDrop | StormReconnect | { type: 'storm-collect' } | { type: 'close' }

export interface ChatConnected {
  type: 'connected'
  opened: number
  failed: number
  connectMs: number
  errors: Record<string, number>
}

/** Everything counted since the last step began. */
export interface ChatCounts {
  type: 'counts'
  /** PUBLISH_DELTAs received by subscribers (any stamp). */
  received: number
  /** ...of posts stamped within the measured window. */
  deliveredOfWindow: number
  /** Their latencies, post sent → PUBLISH_DELTA read: sparse histogram (mqtt-load/histogram.ts). */
  publishHistogram: Array<[number, number]>
  publishMaxUs: number
  /** Deliveries by the QoS they arrived at: [QoS 0, QoS 1]. */
  deliveredQos: [number, number]
  /** POST_MESSAGE_RESPONSEs of posts stamped within the window, and their latencies. */
  responsesOfWindow: number
  postHistogram: Array<[number, number]>
  postMaxUs: number
  /** Posts sent this step, and within the measured window. */
  sent: number
  sentInWindow: number
  /** Posts not sent: the connection backed up, its QoS 1 window was full, or the process fell behind. */
  heldBack: number
  /** Requests not acknowledged yet. */
  unacked: number
  /** The latest a poster tick ran after it was due, ms (the generator's own lag). */
  maxTickLagMs: number
  /** CPU time of this process within the measured window, µs. */
  windowCpuUs: number
  errors: Record<string, number>
}

export interface StormStatusReport {
  type: 'storm-status'
  watchers: number
  open: number
  haveProbe: number
}

export interface StormCounts {
  type: 'storm-counts'
  watchers: number
  /** Watchers whose reconnect was accepted (CONNACK), subscribed, finished SYNC (`recovered`), and hold every seq up to the target. */
  connected: number
  subscribed: number
  synced: number
  complete: number
  /** Seqs up to the target that complete-less watchers still miss, summed. */
  missing: number
  /** Per watcher, ms after the reconnect began (absent when it did not get there). */
  connackMs: number[]
  doneMs: number[]
  /** CONNECT attempts beyond the first, and why the earlier ones failed. */
  retries: number
  syncRequests: number
  /** Deltas received through SYNC answers, and live on the channel after the reconnect. */
  syncDeltas: number
  liveDeltas: number
  errors: Record<string, number>
}

export type ChatReport = ChatConnected | ChatCounts | StormStatusReport | StormCounts | { type: 'armed' } | { type: 'sent'; sent: number; heldBack: number } | { type: 'dropped'; dropped: number } | { type: 'reconnecting' } | { type: 'closed' }
