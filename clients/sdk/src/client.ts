// ChimeClient: one signed-in user's connection to Chime, in browsers (MQTT over WebSocket)
// and Node (WebSocket or TCP). What it promises the app:
//
// - Every watched channel's deltas arrive once each, in seq order, with no gap: live
//   deltas and SYNC pages are merged by seq (channel-stream.ts), and a gap, a reconnect or a
//   start triggers a SYNC from the persisted watermark. When the server says the client is
//   too far behind, `restore-required` is raised instead and nothing is guessed.
// - Posts go through an outbox that survives reloads: each gets its client_msg_id when it
//   is written, is shown at once (the app renders `outbox` items as pending), and is sent
//   again until the server confirms it, without ever posting twice.
// - Requests are answered by their reply or a ChatError (the server's code, or
//   REQUEST_TIMEOUT); reconnection uses exponential backoff with jitter.
// - Presence: the device says online (or what setPresence chose) on every connect and leaves
//   an MQTT will that says offline; watched users' presence is the retained value, asked for
//   again on every connect, so a reconnect never keeps a stale one.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { ChannelStream } from './channel-stream.ts'
import { Emitter } from './emitter.ts'
import { ChatError, isErrorCode } from './errors.ts'
import { ChimeHttp, type Session } from './http.ts'
import { newClientMsgId, Outbox, type OutboxItem } from './outbox.ts'
import { PRESENCE_STATUSES, type DeltaJson, type DeltaType, type Envelope, type PostMessageResponseData, type PresenceData, type PresenceStatus, type SyncResponseData } from './protocol.ts'
import { MemoryStorage, type ClientStorage } from './storage.ts'
import { channelTopic, parseTopic, topics, typingTopic } from './topics.ts'

export type ConnectionStatus = 'connecting' | 'online' | 'offline' | 'closed'

/** A channel or chat to follow: chats have no server. */
export interface WatchedChannel {
  channel_id: string
  server_id: string | null
}

export interface TypingEvent {
  channel_id: string
  user_id: string
  state: 'typing' | 'stopped'
}

/** A user's presence as its retained value says. */
export interface PresenceEvent {
  user_id: string
  status: PresenceStatus
  text?: string
}

export type ClientEvents = {
  status: ConnectionStatus
  /** Every delta of a watched channel, once, in seq order. */
  delta: DeltaJson
  /** The same, per delta type. */
  [K: `delta:${string}`]: DeltaJson
  /** A watched channel missed more than SYNC hands out: restore it (history), then `resetWatermark`. */
  'restore-required': { channel_id: string; missing?: string }
  /** A watched channel is caught up to `seq` after a (re)connect. */
  synced: { channel_id: string; seq: string }
  /** The outbox changed (an item added, sent, failed, discarded). */
  outbox: OutboxItem[]
  /** A post of the outbox was confirmed: its delta. */
  sent: { client_msg_id: string; delta: DeltaJson; duplicate: boolean }
  /** A post failed for good (a refusal that retrying cannot fix); it stays in the outbox as failed. */
  'send-failed': { client_msg_id: string; error: ChatError }
  /** Inbox envelopes that answer no request: MEMBERSHIP, NOTIFICATION, receipts... */
  inbox: Envelope<string, Record<string, unknown>>
  typing: TypingEvent
  /** A watched user's presence (and this user's own, as its devices set it). */
  presence: PresenceEvent
  /** Problems that are not the answer to a call: a SYNC that failed, a refused connection. */
  error: ChatError
}

export interface ChimeClientOptions {
  /** Base URL of the HTTP API. */
  baseUrl: string
  session: Session
  /** MQTT URL; default ws(s)://<host of baseUrl>/mqtt. Node may use mqtt://host:1883. */
  mqttUrl?: string
  /** Where watermarks, the outbox and the client id are kept (default: memory only). */
  storage?: ClientStorage
  /** This device's MQTT client id; default one generated once and kept in storage. */
  clientId?: string
  requestTimeoutMs?: number
  /** Reconnection backoff: the first delay and the cap, in ms (jitter on top). */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number }
  /**
   * Whether this device shows the user online: it publishes its presence on every connect
   * and leaves a will that says offline (default true; false for scripts that should not).
   */
  presence?: boolean
  /** Extra mqtt.js options (tests). */
  mqtt?: Partial<IClientOptions>
}

interface PendingRequest {
  resolve: (data: unknown) => void
  reject: (err: ChatError) => void
  timer: ReturnType<typeof setTimeout>
}

/** Errors after which a post is tried again later rather than failed. */
const RETRYABLE = new Set(['UNAVAILABLE', 'REQUEST_TIMEOUT', 'RATE_LIMITED', 'INTERNAL'])

const MAX_PRESENCE_TEXT = 256

function presencePayload(p: PresenceData): string {
  return JSON.stringify({ action: 'PRESENCE', data: p })
}

/** The presence in a retained payload; null when it is not one (an empty retained message clears it). */
function parsePresence(env: Envelope<string, Record<string, unknown>>): PresenceData | null {
  const status = env.data?.['status']
  const text = env.data?.['text']
  if (env.action !== 'PRESENCE' || !(PRESENCE_STATUSES as readonly unknown[]).includes(status)) return null
  return { status: status as PresenceStatus, ...(typeof text === 'string' ? { text } : {}) }
}

function defaultMqttUrl(baseUrl: string): string {
  const u = new URL(baseUrl)
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
  u.pathname = '/mqtt'
  u.search = ''
  return u.toString()
}

function randomId(prefix: string): string {
  const bytes = new Uint8Array(12)
  crypto.getRandomValues(bytes)
  return prefix + Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 20)
}

export class ChimeClient extends Emitter<ClientEvents> {
  readonly http: ChimeHttp
  readonly session: Session
  status: ConnectionStatus = 'offline'
  private mqtt: MqttClient | undefined
  private clientId = ''
  private readonly storage: ClientStorage
  private readonly outbox: Outbox
  private readonly streams = new Map<string, ChannelStream>()
  private readonly watched = new Map<string, WatchedChannel>()
  private readonly typingWatched = new Set<string>()
  /** Users whose presence is watched, and the latest known of each (absent: unknown or refused). */
  private readonly presenceWatched = new Set<string>()
  private readonly presence = new Map<string, PresenceEvent>()
  /** This device's own presence, published on every connect. */
  private ownPresence: PresenceData = { status: 'online' }
  /** Filters the broker's session holds for this client (lost with a session that was not kept). */
  private readonly subscribed = new Set<string>()
  private readonly pending = new Map<string, PendingRequest>()
  private readonly syncing = new Set<string>()
  private readonly resync = new Set<string>()
  private readonly inFlight = new Set<string>()
  private attempt = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  private connectedOnce = false
  /** Between a connection's end and mqtt.js's next attempt (its timer runs). */
  private waitingToReconnect = false
  private requestSeq = 0

  constructor(private readonly opts: ChimeClientOptions) {
    super()
    this.session = opts.session
    this.http = new ChimeHttp({ baseUrl: opts.baseUrl, token: opts.session.token })
    this.storage = opts.storage ?? new MemoryStorage()
    this.outbox = new Outbox(this.storage)
  }

  get id(): string {
    return this.clientId
  }

  /**
   * A renewed token (after /api/auth/refresh): used by HTTP calls at once and by the next
   * MQTT connection; a client waiting to connect again (the old token was refused, say)
   * tries at once.
   */
  setToken(token: string): void {
    this.session.token = token
    this.http.token = token
    const client = this.mqtt
    if (client === undefined) return
    client.options.password = token
    if (this.waitingToReconnect && !this.closed) {
      this.waitingToReconnect = false
      this.attempt = 0
      client.options.reconnectPeriod = this.backoff(0)
      // The same stores: what the broker has not acknowledged is still sent again.
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore })
    }
  }

  /** Loads what was kept, connects, and resolves on the first connection (or throws why it was refused). */
  async connect(): Promise<void> {
    await this.outbox.load()
    this.clientId = this.opts.clientId ?? (await this.storage.load('client-id')) ?? randomId('c')
    await this.storage.save('client-id', this.clientId)
    this.setStatus('connecting')
    const client = mqtt.connect(this.opts.mqttUrl ?? defaultMqttUrl(this.opts.baseUrl), {
      clientId: this.clientId,
      username: this.session.username,
      password: this.session.token,
      clean: false,
      // mqtt.js reconnects by itself (keeping unacknowledged requests to send again); the
      // period is set anew after each drop, for backoff with jitter.
      reconnectPeriod: this.backoff(0),
      connectTimeout: 10_000,
      resubscribe: false,
      ...(this.announces ? { will: { topic: topics.presence(this.session.user_id), payload: presencePayload({ status: 'offline' }), qos: 1 as const, retain: true } } : {}),
      ...this.opts.mqtt,
    })
    this.mqtt = client
    client.on('message', (topic, payload) => this.onMessage(topic, payload))
    client.on('connect', (connack) => void this.onConnect(connack.sessionPresent))
    client.on('close', () => {
      this.waitingToReconnect = !this.closed
      this.onClose(client)
    })
    client.on('reconnect', () => {
      this.waitingToReconnect = false
      if (!this.closed) this.setStatus('connecting')
    })
    client.on('error', (err: Error & { code?: number }) => {
      // 'close' follows; the status says it. A token refused on a reconnect (it expired while
      // connected) is for the app to renew (setToken); the client keeps trying.
      if (this.connectedOnce && !this.closed && (err.code === 4 || err.code === 5)) this.emit('error', new ChatError('UNAUTHENTICATED', `the broker refused the token: ${err.message}`))
    })
    await new Promise<void>((resolve, reject) => {
      const offConnected = this.on('status', (s) => {
        if (s === 'online') {
          offConnected()
          client.removeListener('error', refused)
          resolve()
        }
      })
      // CONNACK refusals that trying again cannot mend: another user's client id (2), a
      // token or username that is not accepted (4, 5). Server unavailable (3) is retried.
      const refused = (err: Error & { code?: number }): void => {
        const code = err.code === 2 ? 'CLIENT_ID_TAKEN' : err.code === 4 ? 'INVALID_CREDENTIALS' : err.code === 5 ? 'UNAUTHENTICATED' : null
        if (code === null) return
        offConnected()
        void this.close()
        reject(new ChatError(code, err.message))
      }
      client.on('error', refused)
    })
  }

  /** Ends the connection (saying offline first); pending requests fail with UNAVAILABLE; kept state stays in storage. */
  async close(): Promise<void> {
    if (this.closed && this.status === 'closed') return
    // The will would say it too (the forced end below sends no DISCONNECT), but only once the
    // broker notices the connection is gone: say offline now, waiting a moment at most.
    if (this.announces && this.status === 'online' && this.mqtt !== undefined) {
      await Promise.race([
        this.mqtt.publishAsync(topics.presence(this.session.user_id), presencePayload({ status: 'offline' }), { qos: 1, retain: true }).catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 1000)),
      ])
    }
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new ChatError('UNAVAILABLE', 'the client was closed'))
      this.pending.delete(id)
    }
    // Forced: an unanswered request must not hold the close (the outbox keeps the posts).
    await this.mqtt?.endAsync(true).catch(() => undefined)
    this.setStatus('closed')
  }

  // ---- requests

  /** Sends a request over MQTT; answers the reply's data or throws its ChatError (REQUEST_TIMEOUT when none comes). */
  request<T = Record<string, unknown>>(action: string, data: object, timeoutMs = this.opts.requestTimeoutMs ?? 15_000): Promise<T> {
    const client = this.mqtt
    if (client === undefined || this.closed) return Promise.reject(new ChatError('UNAVAILABLE', 'not connected; call connect() first'))
    const requestId = `${this.clientId}-${Date.now().toString(36)}-${++this.requestSeq}`
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId)
        reject(new ChatError('REQUEST_TIMEOUT', `no reply to ${action} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(requestId, { resolve: resolve as (d: unknown) => void, reject, timer })
      // QoS 1: mqtt.js keeps it until the broker's PUBACK and sends it again after a reconnect.
      client.publish(topics.requests(this.clientId), JSON.stringify({ action, request_id: requestId, data }), { qos: 1 }, () => {})
    })
  }

  // ---- channels

  /** Follows a channel or chat: subscribes, and SYNCs it from its kept watermark (or `fromSeq`) on every connect. */
  async watch(channel: WatchedChannel, opts: { fromSeq?: string; typing?: boolean } = {}): Promise<void> {
    const id = channel.channel_id
    this.watched.set(id, channel)
    if (!this.streams.has(id)) {
      const kept = await this.storage.load(`seq:${id}`)
      this.streams.set(id, new ChannelStream(id, BigInt(kept ?? opts.fromSeq ?? '0')))
    }
    const filters = [channelTopic({ id, serverId: channel.server_id })]
    if (opts.typing === true) {
      this.typingWatched.add(id)
      filters.push(typingTopic({ id, serverId: channel.server_id }))
    }
    if (this.status === 'online') {
      // Refused (no read access): kept watched, so the next connect asks again.
      const refused = await this.subscribe(filters)
      if (refused.length > 0) throw new ChatError('FORBIDDEN_TOPIC', `the broker refused ${refused.join(', ')}`, { topics: refused })
      await this.sync(id)
    }
  }

  /**
   * Subscribes to the filters the session does not hold yet; answers those the broker
   * refused (SUBACK 0x80), which stay unsubscribed (tried again on the next connect).
   * Throws only when the connection went.
   */
  private async subscribe(filters: readonly string[]): Promise<string[]> {
    const missing = [...new Set(filters.filter((f) => !this.subscribed.has(f)))]
    if (missing.length === 0) return []
    const codes = await new Promise<number[]>((resolve, reject) => {
      this.mqtt!.subscribe(missing, { qos: 1 }, (err, granted) => {
        // mqtt.js fails the whole call when any filter is refused; the SUBACK says which.
        const fromSuback = (err as { packet?: { granted?: unknown } } | null | undefined)?.packet?.granted
        if (Array.isArray(fromSuback)) resolve(fromSuback.map((g) => (typeof g === 'number' ? g : 0x80)))
        else if (err) reject(err)
        else resolve((granted ?? []).map((g) => g.qos))
      })
    })
    const refused: string[] = []
    missing.forEach((f, i) => {
      const code = codes[i] ?? 0x80
      if ((code & 0x80) !== 0) refused.push(f)
      else this.subscribed.add(f)
    })
    return refused
  }

  async unwatch(channelId: string): Promise<void> {
    const channel = this.watched.get(channelId)
    if (channel === undefined) return
    this.watched.delete(channelId)
    const filters = [channelTopic({ id: channelId, serverId: channel.server_id })]
    if (this.typingWatched.delete(channelId)) filters.push(typingTopic({ id: channelId, serverId: channel.server_id }))
    for (const f of filters) this.subscribed.delete(f)
    if (this.status === 'online') await this.mqtt!.unsubscribeAsync(filters).catch(() => undefined)
  }

  // ---- presence

  private get announces(): boolean {
    return this.opts.presence !== false
  }

  /**
   * Sets this user's presence as this device shows it (kept for the next connects too):
   * `online`, `away`, or `offline` to appear offline. Published retained; while offline it
   * is sent on the next connect.
   */
  async setPresence(status: PresenceStatus, text?: string): Promise<void> {
    if (!(PRESENCE_STATUSES as readonly string[]).includes(status)) throw new ChatError('INVALID_FIELD', 'status must be online, away or offline', { field: 'status' })
    if (text !== undefined && text.length > MAX_PRESENCE_TEXT) throw new ChatError('INVALID_FIELD', `text must be at most ${MAX_PRESENCE_TEXT} characters`, { field: 'text' })
    this.ownPresence = { status, ...(text !== undefined ? { text } : {}) }
    if (this.status === 'online') await this.publishPresence()
  }

  private async publishPresence(): Promise<void> {
    if (!this.announces || this.mqtt === undefined) return
    await this.mqtt.publishAsync(topics.presence(this.session.user_id), presencePayload(this.ownPresence), { qos: 1, retain: true }).catch(() => undefined)
  }

  /**
   * Follows these users' presence (the retained value first, then every change; again after
   * each reconnect). Resolves with the ids the broker refused: users who share no server or
   * chat with this one, or blocked it; their presence stays unknown (`presenceOf` undefined),
   * and they are asked for again on the next connect.
   */
  async watchPresence(userIds: readonly string[]): Promise<string[]> {
    const added = userIds.filter((id) => !this.presenceWatched.has(id))
    for (const id of added) this.presenceWatched.add(id)
    if (this.status !== 'online' || added.length === 0) return []
    const refused = await this.subscribe(added.map((id) => topics.presence(id))).catch(() => [])
    return this.presenceRefused(refused)
  }

  /** Stops following these users' presence; what was known of it is forgotten. */
  async unwatchPresence(userIds: readonly string[]): Promise<void> {
    const filters: string[] = []
    for (const id of userIds) {
      if (!this.presenceWatched.delete(id)) continue
      this.presence.delete(id)
      // This user's own presence stays followed while the device announces it.
      if (id === this.session.user_id && this.announces) continue
      filters.push(topics.presence(id))
      this.subscribed.delete(topics.presence(id))
    }
    if (filters.length > 0 && this.status === 'online') await this.mqtt!.unsubscribeAsync(filters).catch(() => undefined)
  }

  /** The latest known presence of a user; undefined when unknown (not watched, refused, or nothing retained). */
  presenceOf(userId: string): PresenceEvent | undefined {
    return this.presence.get(userId)
  }

  /** Forgets the presence of users whose watch was refused; answers their ids. */
  private presenceRefused(filters: readonly string[]): string[] {
    const ids: string[] = []
    for (const f of filters) {
      const t = parseTopic(f)
      if (t?.kind !== 'presence') continue
      this.presence.delete(t.userId)
      ids.push(t.userId)
    }
    return ids
  }

  private onPresence(userId: string, p: PresenceData): void {
    if (userId === this.session.user_id && p.status === 'offline' && this.announces && this.ownPresence.status !== 'offline' && this.mqtt?.connected === true && !this.closed) {
      // Another device of this user went (its will), or this device's own will came late
      // (a drop noticed after the reconnect): this device is still here, so say so again.
      void this.publishPresence()
      return
    }
    if (userId !== this.session.user_id && !this.presenceWatched.has(userId)) return
    const event: PresenceEvent = { user_id: userId, ...p }
    this.presence.set(userId, event)
    this.emit('presence', event)
  }

  /** The last seq applied for a channel ('0' before any). */
  watermark(channelId: string): string {
    return (this.streams.get(channelId)?.watermark ?? 0n).toString()
  }

  /** After the app restored a channel up to `seq` (RESTORE_HISTORY), live deltas continue from there. */
  async resetWatermark(channelId: string, seq: string): Promise<void> {
    const stream = this.streams.get(channelId) ?? new ChannelStream(channelId, 0n)
    stream.reset(BigInt(seq))
    this.streams.set(channelId, stream)
    await this.storage.save(`seq:${channelId}`, seq)
    if (this.status === 'online' && this.watched.has(channelId)) await this.sync(channelId)
  }

  /** Tells the channel's members that this user is typing (QoS 0, throttled by the broker). */
  typing(channel: WatchedChannel, state: 'typing' | 'stopped' = 'typing'): void {
    if (this.status !== 'online') return
    this.mqtt!.publish(typingTopic({ id: channel.channel_id, serverId: channel.server_id }), JSON.stringify({ action: 'TYPING', data: { state } }), { qos: 0 })
  }

  // ---- posting

  /** Writes a post into the outbox and sends it; resolves with the outbox item (pending until `sent`). */
  async send(channelId: string, content: string, extra: Record<string, unknown> = {}): Promise<OutboxItem> {
    const item: OutboxItem = {
      client_msg_id: newClientMsgId(), channel_id: channelId, data: { content, ...extra },
      created_at: new Date().toISOString(), attempts: 0, state: 'pending',
    }
    await this.outbox.add(item)
    this.emit('outbox', this.outbox.list())
    void this.flushOutbox()
    return item
  }

  /** What is waiting to be confirmed, or failed. */
  pendingPosts(): OutboxItem[] {
    return this.outbox.list()
  }

  /** Sends a failed post again (same client_msg_id). */
  async retry(clientMsgId: string): Promise<void> {
    await this.outbox.update(clientMsgId, { state: 'pending' })
    this.emit('outbox', this.outbox.list())
    void this.flushOutbox()
  }

  /** Gives up a post that was not confirmed. */
  async discard(clientMsgId: string): Promise<void> {
    if (await this.outbox.remove(clientMsgId)) this.emit('outbox', this.outbox.list())
  }

  private async flushOutbox(): Promise<void> {
    if (this.status !== 'online') return
    for (const item of this.outbox.pending()) {
      if (this.inFlight.has(item.client_msg_id)) continue
      this.inFlight.add(item.client_msg_id)
      void this.sendOne(item).finally(() => this.inFlight.delete(item.client_msg_id))
    }
  }

  private async sendOne(item: OutboxItem): Promise<void> {
    await this.outbox.update(item.client_msg_id, { attempts: item.attempts + 1 })
    try {
      const reply = await this.request<PostMessageResponseData>('POST_MESSAGE', { ...item.data, channel_id: item.channel_id, client_msg_id: item.client_msg_id })
      await this.outbox.remove(item.client_msg_id)
      this.emit('outbox', this.outbox.list())
      this.emit('sent', { client_msg_id: item.client_msg_id, delta: reply.delta, duplicate: reply.duplicate })
    } catch (err) {
      const error = err instanceof ChatError ? err : new ChatError('INTERNAL', String(err))
      if (RETRYABLE.has(error.code)) {
        this.scheduleOutboxRetry(error)
        return
      }
      await this.outbox.update(item.client_msg_id, { state: 'failed', error: { code: error.code, message: error.message } })
      this.emit('outbox', this.outbox.list())
      this.emit('send-failed', { client_msg_id: item.client_msg_id, error })
    }
  }

  private scheduleOutboxRetry(error: ChatError): void {
    if (this.retryTimer !== undefined || this.closed) return
    const after = error.details?.['retry_after_ms']
    const delay = typeof after === 'number' ? after : this.backoff(2)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      void this.flushOutbox()
    }, delay)
  }

  // ---- connection

  private setStatus(s: ConnectionStatus): void {
    if (this.status === s) return
    this.status = s
    this.emit('status', s)
  }

  private backoff(attempt: number): number {
    const min = this.opts.reconnect?.minDelayMs ?? 500
    const max = this.opts.reconnect?.maxDelayMs ?? 30_000
    const base = Math.min(max, min * 2 ** Math.min(attempt, 16))
    return Math.round(base / 2 + Math.random() * (base / 2))
  }

  private onClose(client: MqttClient): void {
    if (this.closed) return
    if (this.status === 'online') this.setStatus('offline')
    // The wait before the attempt after this one: doubling up to the cap, with jitter.
    client.options.reconnectPeriod = this.backoff(++this.attempt)
  }

  private async onConnect(sessionPresent: boolean): Promise<void> {
    this.attempt = 0
    const client = this.mqtt!
    client.options.reconnectPeriod = this.backoff(0)
    try {
      // A kept session still has its subscriptions; a new one needs them all (inbox first:
      // replies), and channels watched while offline are added either way.
      if (!sessionPresent) this.subscribed.clear()
      // Presence is state: its watches are asked for again, so the retained value (the
      // truth now, not what was queued while away) comes anew.
      for (const f of this.subscribed) if (parseTopic(f)?.kind === 'presence') this.subscribed.delete(f)
      // This device's presence first, so its own watch gets that, not the will of last time.
      if (this.announces) void this.publishPresence()
      const refused = await this.subscribe(this.wantedFilters())
      // Channels and users watched while that was under way.
      const more = this.wantedFilters().filter((f) => !this.subscribed.has(f) && !refused.includes(f))
      if (more.length > 0) refused.push(...(await this.subscribe(more)))
      this.presenceRefused(refused)
      const channels = refused.filter((f) => parseTopic(f)?.kind !== 'presence')
      if (channels.length > 0) this.emit('error', new ChatError('FORBIDDEN_TOPIC', `the broker refused ${channels.join(', ')}`, { topics: channels }))
    } catch {
      return // the connection went again; the next connect does it
    }
    this.connectedOnce = true
    this.setStatus('online')
    void this.flushOutbox()
    await Promise.all([...this.watched.keys()].map((id) => this.sync(id)))
  }

  /** Every filter this client wants held: the inbox first (replies), channels, typing, presence. */
  private wantedFilters(): string[] {
    const filters = [topics.inbox(this.session.user_id)]
    for (const [id, c] of this.watched) {
      filters.push(channelTopic({ id, serverId: c.server_id }))
      if (this.typingWatched.has(id)) filters.push(typingTopic({ id, serverId: c.server_id }))
    }
    if (this.announces) filters.push(topics.presence(this.session.user_id))
    for (const id of this.presenceWatched) filters.push(topics.presence(id))
    return filters
  }

  private onMessage(topic: string, payload: Buffer | Uint8Array): void {
    let env: Envelope<string, Record<string, unknown>>
    try {
      env = JSON.parse(new TextDecoder().decode(payload)) as Envelope<string, Record<string, unknown>>
    } catch {
      return
    }
    if (topic === topics.inbox(this.session.user_id)) {
      const requestId = env.request_id ?? (env.data?.['request_id'] as string | undefined)
      const p = requestId === undefined ? undefined : this.pending.get(requestId)
      if (p !== undefined) {
        this.pending.delete(requestId!)
        clearTimeout(p.timer)
        if (env.action === 'ERROR') {
          const code = env.data['code']
          p.reject(isErrorCode(code) ? new ChatError(code, String(env.data['message'] ?? ''), env.data['details'] as Record<string, unknown> | undefined) : new ChatError('INTERNAL'))
        } else p.resolve(env.data)
        return
      }
      if (requestId === undefined) this.emit('inbox', env)
      return
    }
    if (env.action === 'PRESENCE') {
      const t = parseTopic(topic)
      const p = parsePresence(env)
      if (t?.kind === 'presence' && p !== null) this.onPresence(t.userId, p)
      return
    }
    if (env.action === 'PUBLISH_DELTA') {
      this.offer(env.data as unknown as DeltaJson, true)
      return
    }
    if (env.action === 'TYPING') {
      const channelId = [...this.typingWatched].find((id) => topic === typingTopic({ id, serverId: this.watched.get(id)?.server_id ?? null }))
      const state = env.data['state']
      if (channelId !== undefined && (state === 'typing' || state === 'stopped')) this.emit('typing', { channel_id: channelId, user_id: String(env.data['user_id']), state })
    }
  }

  /** Hands deltas of one channel to its stream and emits those now in order. */
  private offer(delta: DeltaJson, live: boolean): void {
    this.deliver(delta.channel_id, [delta], live)
  }

  private deliver(channelId: string, deltas: readonly DeltaJson[], live: boolean): void {
    const stream = this.streams.get(channelId)
    if (stream === undefined || !this.watched.has(channelId)) return
    const { ready, gap } = stream.offer(deltas)
    for (const d of ready) {
      this.emit('delta', d)
      this.emit(`delta:${d.type satisfies DeltaType}`, d)
    }
    if (ready.length > 0) void this.storage.save(`seq:${channelId}`, stream.watermark.toString())
    // A live delta ahead of a missing one: fetch the missing ones.
    if (live && gap) void this.sync(channelId)
  }

  /** SYNC one channel from its watermark until the server says it is all (pages); one at a time per channel. */
  private async sync(channelId: string): Promise<void> {
    if (this.syncing.has(channelId)) {
      this.resync.add(channelId)
      return
    }
    this.syncing.add(channelId)
    try {
      for (;;) {
        const stream = this.streams.get(channelId)
        if (stream === undefined || !this.watched.has(channelId)) return
        const page = await this.request<SyncResponseData>('SYNC', { channel_id: channelId, client_seq: stream.watermark.toString() })
        if (page.restore_required) {
          this.emit('restore-required', { channel_id: channelId, ...(page.behind?.[0]?.missing !== undefined ? { missing: page.behind[0].missing } : {}) })
          return
        }
        const before = stream.watermark
        this.deliver(channelId, page.missing_deltas, false)
        if (page.has_more && stream.watermark === before) {
          // A page that moves nothing would be asked for again forever.
          this.emit('error', new ChatError('INTERNAL', `SYNC of ${channelId} from seq ${before} made no progress`))
          return
        }
        if (!page.has_more) {
          if (this.resync.delete(channelId)) continue
          this.emit('synced', { channel_id: channelId, seq: stream.watermark.toString() })
          return
        }
      }
    } catch (err) {
      this.emit('error', err instanceof ChatError ? err : new ChatError('INTERNAL', String(err)))
    } finally {
      this.syncing.delete(channelId)
    }
  }
}
