// The production profile as separate processes: two API sidecars and two broker nodes over
// one MariaDB database and one Redis, broker node A asking sidecar 1 and node B sidecar 2
// (CHIME_API_URL). Plus an MQTT client that keeps track of its requests: which were
// acknowledged (PUBACK) and what the inbox answered to each request_id.
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'
import { spawnChime, type ChimeProcess } from './processes.ts'
import { defer } from './cleanup.ts'
import { waitFor } from './wait.ts'
import { freePort } from './redis.ts'

export interface ClusterUser {
  user_id: string
  token: string
  username: string
}

export interface Cluster {
  env: Record<string, string>
  sidecar1: ChimeProcess
  sidecar2: ChimeProcess
  /** Asks sidecar 1. */
  brokerA: ChimeProcess
  /** Asks sidecar 2. */
  brokerB: ChimeProcess
  /** An HTTP request to a process's port; never throws on a status, only when the process does not answer. */
  http<T = unknown>(port: number, path: string, body: unknown, token?: string): Promise<{ status: number; body: T }>
  register(port: number, username: string): Promise<ClusterUser>
  /** One server with its default channel, owned by `owner`, joined by the others. */
  serverWith(owner: ClusterUser, members: readonly ClusterUser[]): Promise<{ serverId: string; channelId: string; topic: string }>
}

/**
 * Starts the four processes at once: the sidecars' ports are chosen here, so that the
 * brokers can be told them before the sidecars are up. A port chosen that way can be taken
 * by another listener before the sidecar binds it; then all four start again on new ports.
 */
type Four = [ChimeProcess, ChimeProcess, ChimeProcess, ChimeProcess]
async function startFour(t: Test, env: Record<string, string>): Promise<Four> {
  for (let attempt = 1; ; attempt++) {
    const [port1, port2] = [await freePort(), await freePort()]
    const started = await Promise.allSettled([
      spawnChime(t, 'api', { ...env, CHIME_HTTP_PORT: String(port1) }),
      spawnChime(t, 'api', { ...env, CHIME_HTTP_PORT: String(port2) }),
      spawnChime(t, 'broker', { ...env, CHIME_API_URL: `http://127.0.0.1:${port1}` }),
      spawnChime(t, 'broker', { ...env, CHIME_API_URL: `http://127.0.0.1:${port2}` }),
    ])
    const failed = started.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed.length === 0) return started.map((r) => (r as PromiseFulfilledResult<ChimeProcess>).value) as Four
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.kill() : undefined)))
    if (attempt === 3 || !failed.every((r) => /already in use/.test(String(r.reason)))) throw failed[0]!.reason
  }
}

export async function startCluster(t: Test, databaseUrl: string, redisUrl: string, extraEnv: Record<string, string> = {}): Promise<Cluster> {
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, CHIME_JWT_SECRET: randomBytes(32).toString('hex'), ...extraEnv }
  const [sidecar1, sidecar2, brokerA, brokerB] = await startFour(t, env)
  const http = async <T>(port: number, path: string, body: unknown, token?: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await res.text()
    return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T }
  }
  const ok = async <T>(port: number, path: string, body: unknown, token?: string): Promise<T> => {
    const res = await http<T>(port, path, body, token)
    if (res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  return {
    env, sidecar1, sidecar2, brokerA, brokerB, http,
    async register(port, username) {
      const r = await ok<{ user_id: string; token: string }>(port, '/api/auth/register', { username, password: 'correct horse battery' })
      return { ...r, username }
    },
    async serverWith(owner, members) {
      const s = await ok<{ server_id: string; channel_id: string }>(sidecar1.httpPort, '/api/servers', { name: 'Faults' }, owner.token)
      for (const m of members) await ok(sidecar2.httpPort, `/api/servers/${s.server_id}/join`, {}, m.token)
      return { serverId: s.server_id, channelId: s.channel_id, topic: topics.serverChannel(s.server_id, s.channel_id) }
    },
  }
}

/** The outcome of one request as its sender saw it. */
export interface Sent {
  requestId: string
  data: Record<string, unknown>
  /** When it was published (Date.now()). */
  sentAt: number
  /** The broker's PUBACK arrived, and when. */
  acked: boolean
  ackedAt?: number
  /** The connection went before the PUBACK (the request may be sent again, by a retry). */
  failed?: boolean
  /** The inbox reply with this request_id (in `request_id` or `data.request_id`), and when it came. */
  reply?: Envelope<string, { request_id?: string; code?: string } & Record<string, unknown>>
  repliedAt?: number
}

/**
 * An MQTT connection of one user that sends requests at QoS 1 on its own requests topic and
 * matches the inbox replies to them. reconnectPeriod is 0: the test decides when and where
 * to reconnect (reopen(), or reconnectOnClose()).
 */
export class RequestClient {
  readonly sent = new Map<string, Sent>()
  /** Deltas received on the subscribed channel topics, in arrival order, duplicates included. */
  readonly deltas: DeltaJson[] = []
  /** Inbox envelopes that answer no request of this client (or a second time). */
  readonly unmatched: Envelope[] = []
  /** Connections made after the first one, and how many of them found no session. */
  reconnects = 0
  sessionsLost = 0
  /** Why connection attempts failed (reopen() that threw). */
  readonly failedConnects: string[] = []
  client!: MqttClient
  private readonly filters = new Set<string>()
  /** Connections this side ended on purpose: their 'close' is no reason to reconnect. */
  private readonly ending = new WeakSet<MqttClient>()
  private stopReconnecting = false
  private reconnectPort: number | undefined
  private reconnectTimeoutMs = 30_000
  /** Connections that dropped without this side ending them. */
  drops = 0
  private n = 0

  private constructor(
    private readonly t: Test,
    readonly user: ClusterUser,
    readonly clientId: string,
    private readonly opts: IClientOptions,
  ) {}

  static async open(t: Test, port: number, user: ClusterUser, clientId: string, opts: IClientOptions = {}): Promise<RequestClient> {
    const rc = new RequestClient(t, user, clientId, opts)
    await rc.reopen(port)
    return rc
  }

  /** Subscribes at QoS 1, and again after a reconnect that found no session. */
  async subscribe(filter: string): Promise<void> {
    this.filters.add(filter)
    await this.client.subscribeAsync(filter, { qos: 1 })
  }

  private async end(client: MqttClient): Promise<void> {
    this.ending.add(client)
    await client.endAsync(true).catch(() => undefined)
  }

  /**
   * (Re)connects to a broker node with the same client id. As an SDK would, it subscribes
   * again when the broker kept no session (clean: true, or a session that was lost). Fails
   * (and closes what it opened) if the connection goes before that is done.
   */
  async reopen(port: number): Promise<void> {
    const first = this.client === undefined
    // Listeners first: a persistent session's queued messages may come in the same read as the CONNACK.
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      username: this.user.username, password: this.user.token, clientId: this.clientId,
      reconnectPeriod: 0, connectTimeout: 5000, ...this.opts,
    })
    defer(this.t, () => this.end(client))
    client.on('message', (topic, payload) => {
      const env = JSON.parse(payload.toString()) as Envelope<string, Record<string, unknown>>
      if (topic === topics.inbox(this.user.user_id)) {
        const id = env.request_id ?? (env.data['request_id'] as string | undefined)
        const s = id === undefined ? undefined : this.sent.get(id)
        if (s !== undefined && s.reply === undefined) {
          s.reply = env as Sent['reply']
          s.repliedAt = Date.now()
        } else this.unmatched.push(env)
      } else if (env.action === 'PUBLISH_DELTA') {
        this.deltas.push(env.data as unknown as DeltaJson)
      }
    })
    client.on('error', () => {}) // a killed node is what these tests are about
    try {
      const sessionPresent = await new Promise<boolean>((resolve, reject) => {
        client.once('connect', (connack) => resolve(connack.sessionPresent))
        client.once('error', reject)
        client.once('close', () => reject(new Error(`the connection to port ${port} closed before CONNACK`)))
      })
      if (!sessionPresent) await client.subscribeAsync([topics.inbox(this.user.user_id), ...this.filters], { qos: 1 })
      this.client = client
      if (!first) {
        this.reconnects++
        if (this.opts.clean === false && !sessionPresent) this.sessionsLost++
      }
    } catch (err) {
      this.failedConnects.push(err instanceof Error ? err.message : String(err))
      await this.end(client)
      throw err
    }
  }

  /**
   * From now on, when the connection drops, reconnect to `port` until it works (up to `timeoutMs`),
   * as a client library with automatic reconnection does; called again, it changes the port.
   * Publishes still awaiting their PUBACK on the lost connection fail (their records stay
   * unacknowledged).
   */
  reconnectOnClose(port: number, timeoutMs = 30_000): void {
    const armed = this.reconnectPort !== undefined
    this.reconnectPort = port
    this.reconnectTimeoutMs = timeoutMs
    if (armed) return
    // Stops before the connections are closed in teardown (deferred cleanups run last first).
    defer(this.t, () => {
      this.stopReconnecting = true
    })
    const watch = (client: MqttClient): void => {
      client.once('close', () => {
        if (client !== this.client || this.ending.has(client) || this.stopReconnecting) return
        this.drops++
        void this.end(client)
        void waitFor(`${this.clientId} to reconnect`, () => (this.stopReconnecting ? true : this.reopen(this.reconnectPort!).then(() => true, () => undefined)), this.reconnectTimeoutMs).then(
          () => {
            if (!this.stopReconnecting) watch(this.client)
          },
          (err: unknown) => this.t.fail(String(err)),
        )
      })
    }
    watch(this.client)
  }

  /** Breaks the connection as a network failure would (the broker sees it drop; reconnectOnClose reconnects). */
  dropConnection(): void {
    this.client.stream.destroy()
  }

  /** Publishes a request; `acked` resolves once the PUBACK arrived and rejects if the connection went first. */
  send(action: string, data: Record<string, unknown>, requestId = `${this.clientId}-r${++this.n}`): { record: Sent; acked: Promise<Sent> } {
    const record: Sent = { requestId, data, acked: false, sentAt: Date.now() }
    this.sent.set(requestId, record)
    const acked = this.client.publishAsync(topics.requests(this.clientId), JSON.stringify({ action, request_id: requestId, data }), { qos: 1 }).then(
      () => {
        record.acked = true
        record.ackedAt = Date.now()
        return record
      },
      (err: unknown) => {
        record.failed = true
        throw err
      },
    )
    return { record, acked }
  }

  /** Sends a request and waits for its reply. */
  async call(action: string, data: Record<string, unknown>, timeoutMs = 15_000): Promise<NonNullable<Sent['reply']>> {
    const { record, acked } = this.send(action, data)
    await acked
    return waitFor(`the reply to ${action} ${record.requestId}`, () => record.reply, timeoutMs)
  }
}

/**
 * Posts into a channel through one client with at most `window` posts awaiting their PUBACK,
 * each with client_msg_id = request_id = `${prefix}${i}`, until stop(). A post whose
 * connection dropped before its PUBACK frees its place in the window.
 */
export class Poster {
  readonly records: Sent[] = []
  private readonly pending = new Set<Promise<unknown>>()
  private stopped = false
  readonly done: Promise<void>

  constructor(private readonly rc: RequestClient, private readonly channelId: string, private readonly prefix: string, private readonly window = 5, private readonly max = Infinity) {
    this.done = this.run()
  }

  private async run(): Promise<void> {
    for (let i = 1; !this.stopped && i <= this.max; i++) {
      while (this.pending.size >= this.window) await Promise.race(this.pending)
      if (this.stopped) break
      // Wait out a reconnection instead of queueing posts on a dead connection.
      if (!this.rc.client.connected) {
        await waitFor('the poster to be connected', () => (this.rc.client.connected ? true : undefined), 120_000)
      }
      const id = `${this.prefix}${i}`
      const { record, acked } = this.rc.send('POST_MESSAGE', { channel_id: this.channelId, content: id, client_msg_id: id }, id)
      this.records.push(record)
      const p: Promise<unknown> = acked.catch(() => record).finally(() => this.pending.delete(p))
      this.pending.add(p)
    }
    await Promise.all(this.pending)
  }

  /** Stops sending and waits until every post sent was acknowledged or lost its connection. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.done
  }

  /** Posts answered with POST_MESSAGE_RESPONSE. */
  committed(): Sent[] {
    return this.records.filter((r) => r.reply?.action === 'POST_MESSAGE_RESPONSE')
  }
}

/**
 * Retries every post of `records` that has no POST_MESSAGE_RESPONSE, with its own data (the
 * same client_msg_id), until each is answered with success; returns how many of the retries
 * found their post already committed (duplicate: true).
 */
export async function retryUnanswered(rc: RequestClient, records: readonly Sent[]): Promise<{ retried: number; alreadyCommitted: number }> {
  const unanswered = records.filter((r) => r.reply?.action !== 'POST_MESSAGE_RESPONSE')
  const replies = await Promise.all(unanswered.map((r) => rc.call('POST_MESSAGE', r.data)))
  replies.forEach((reply, i) => {
    if (reply.action !== 'POST_MESSAGE_RESPONSE') throw new Error(`the retry of ${unanswered[i]!.requestId} answered ${JSON.stringify(reply)}`)
  })
  return { retried: unanswered.length, alreadyCommitted: replies.filter((r) => r.data['duplicate'] === true).length }
}

/**
 * Reads a channel's log as a client catching up would: SYNC with `channel_id` and
 * `client_seq`, page after page, until `has_more` is false. Returns the deltas oldest first.
 */
export async function syncChannel(rc: RequestClient, channelId: string, fromSeq: number): Promise<{ deltas: DeltaJson[]; recovered: boolean }> {
  const out: DeltaJson[] = []
  let seq = String(fromSeq)
  for (;;) {
    const reply = await rc.call('SYNC', { channel_id: channelId, client_seq: seq })
    if (reply.action !== 'SYNC_RESPONSE') throw new Error(`SYNC answered ${JSON.stringify(reply)}`)
    const data = reply.data as unknown as { missing_deltas: DeltaJson[]; has_more: boolean; recovered: boolean; next_client_seq?: string }
    out.push(...data.missing_deltas)
    if (!data.has_more) return { deltas: out, recovered: data.recovered }
    seq = data.next_client_seq ?? out.at(-1)?.seq ?? seq
  }
}

/** The highest seq n such that 1..n are all present. */
export function contiguousEnd(seqs: Iterable<number>): number {
  const have = new Set(seqs)
  let n = 0
  while (have.has(n + 1)) n++
  return n
}

/**
 * Merges deltas by seq as a client does: the first copy of each seq wins. Returns them in seq
 * order, how many copies were dropped, and the seqs whose copies disagree (another delta_id
 * or content: that would be a broken log, not a duplicate).
 */
export function mergeBySeq(...lists: readonly (readonly DeltaJson[])[]): { merged: DeltaJson[]; duplicates: number; conflicts: number[] } {
  const bySeq = new Map<number, DeltaJson>()
  let duplicates = 0
  const conflicts: number[] = []
  for (const list of lists) {
    for (const d of list) {
      const seq = Number(d.seq)
      const first = bySeq.get(seq)
      if (first === undefined) bySeq.set(seq, d)
      else {
        duplicates++
        if (first.delta_id !== d.delta_id || first.content !== d.content) conflicts.push(seq)
      }
    }
  }
  return { merged: [...bySeq.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d), duplicates, conflicts }
}

/** A channel's whole log through RESTORE_HISTORY, page after page, oldest first. */
export async function restoreChannel(rc: RequestClient, channelId: string): Promise<DeltaJson[]> {
  const out: DeltaJson[] = []
  let after = '0'
  for (;;) {
    const reply = await rc.call('RESTORE_HISTORY', { channel_id: channelId, after_seq: after, limit: 1000 })
    if (reply.action !== 'RESTORE_HISTORY_RESPONSE') throw new Error(`RESTORE_HISTORY answered ${JSON.stringify(reply)}`)
    const data = reply.data as unknown as { deltas: DeltaJson[]; has_more: boolean; next_after_seq: string }
    out.push(...data.deltas)
    if (!data.has_more) return out
    after = data.next_after_seq
  }
}
