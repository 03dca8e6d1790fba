// Bounded offline delivery. Persistent sessions (clean = false) with QoS 1 subscriptions get
// what arrived while a device was away from the broker's persistence; the delta log stays
// the source of truth and clients SYNC after every reconnect, so a queue only has to speed
// delivery up, and may drop what is beyond its bounds. Without bounds a device away for a
// year would keep every message addressed to it in Redis (or memory). The bounds:
//  - at most `maxMessages` queued packets per session: beyond it the oldest are dropped;
//  - a queued packet older than `ttlSeconds` is gone;
//  - a session not connected for `sessionExpirySeconds` loses its stored subscriptions and
//    its queue (its next CONNECT gets session present = 0 and subscribes again).
// The queues are bounded where they are written (offline-memory.ts, offline-redis.ts); this
// module keeps the last-seen records of sessions and sweeps the expired ones.
import type { Aedes, Client } from 'aedes'
import type { Readable } from 'node:stream'
import type { Config } from '../../config/schema.ts'

export interface OfflineBounds {
  /** Most packets queued per session; the oldest are dropped beyond it. */
  maxMessages: number
  /** Queued packets older than this are dropped. */
  ttlSeconds: number
  /** A persistent session not connected for this long is removed. */
  sessionExpirySeconds: number
}

export const DEFAULT_OFFLINE_BOUNDS: OfflineBounds = { maxMessages: 1000, ttlSeconds: 7 * 86_400, sessionExpirySeconds: 30 * 86_400 }

export function offlineBoundsFrom(config: Pick<Config, 'offlineMaxMessages' | 'offlineTtlSeconds' | 'sessionExpirySeconds'>): OfflineBounds {
  return { maxMessages: config.offlineMaxMessages, ttlSeconds: config.offlineTtlSeconds, sessionExpirySeconds: config.sessionExpirySeconds }
}

/** A packet as the persistences queue it (aedes-packet). */
export interface QueuedPacket {
  cmd?: string
  topic: string
  qos?: number
  brokerId?: string
  brokerCounter?: number
  messageId?: number
}

/** The operations of an aedes persistence this feature wraps or calls. */
export interface PersistenceLike {
  outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<unknown>
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: QueuedPacket): Promise<unknown>
  outgoingUpdate(client: { id: string }, packet: QueuedPacket): Promise<unknown>
  outgoingClearMessageId(client: { id: string }, packet: QueuedPacket): Promise<QueuedPacket | undefined>
  outgoingStream(client: { id: string }): Readable
  cleanSubscriptions(client: { id: string }): Promise<unknown>
  cleanIncoming?(client: { id: string }): Promise<unknown>
}

/** Session records and queues of one persistence (memory or Redis). */
export interface OfflineStore {
  readonly bounds: OfflineBounds
  /** Records that these sessions were seen (connected) at `at` (ms). */
  seen(clientIds: readonly string[], at: number): Promise<void>
  /** Drops the record of a session (it started clean: nothing of it is stored). */
  forget(clientId: string): Promise<void>
  /** Removes and returns up to `limit` sessions last seen before `cutoff` (ms); atomic per session. */
  claimExpired(cutoff: number, limit: number): Promise<string[]>
  /** Drops a session's whole queue. */
  dropQueue(clientId: string): Promise<void>
  /** Drops queued packets older than the TTL (where nothing else expires them); returns how many. */
  pruneExpired(now: number): Promise<number>
  /** Packets queued for a session now. */
  queued(clientId: string): Promise<number>
  /** Sessions with a last-seen record. */
  sessions(): Promise<number>
  /** Gives sessions stored without a record one (Redis: sessions from before this feature). */
  backfill?(now: number): Promise<number>
}

const stores = new WeakMap<object, OfflineStore>()

/** Remembers which store belongs to a persistence, for the sweeper of the broker using it. */
export function attachStore<P extends object>(persistence: P, store: OfflineStore): P {
  stores.set(persistence, store)
  return persistence
}

export interface SweepResult {
  /** Sessions whose subscriptions and queue were removed by this sweep. */
  expired: number
  /** Queued packets dropped for their age (in-memory persistence). */
  dropped: number
}

export interface OfflineSweeper {
  readonly bounds: OfflineBounds
  /** One sweep now; `now` (ms) stands in for the clock, for tests. */
  sweep(now?: number): Promise<SweepResult>
  /** Packets queued for a session (tests, diagnostics). */
  queued(clientId: string): Promise<number>
  /** Sessions with a last-seen record. */
  sessions(): Promise<number>
  close(): Promise<void>
}

const sweepers = new WeakMap<Aedes, OfflineSweeper>()

/** The sweeper of a broker built by createBroker (tests, diagnostics). */
export function offlineSweeperOf(aedes: Aedes): OfflineSweeper | undefined {
  return sweepers.get(aedes)
}

/**
 * How often a node sweeps: a quarter of the expiry, between 250 ms and a minute. Each sweep
 * also refreshes the records of the sessions connected to this node, so a record of a
 * connected session is never older than a quarter of the expiry, on any node.
 */
export function sweepIntervalMs(bounds: OfflineBounds): number {
  return Math.min(60_000, Math.max(250, Math.floor((bounds.sessionExpirySeconds * 1000) / 4)))
}

const CLAIM_BATCH = 500

interface Logger {
  warn(obj: object, msg: string): void
}

/**
 * Keeps last-seen records of this node's persistent sessions and removes expired sessions,
 * every sweepIntervalMs. Nodes sweeping the same Redis at once are safe: each expired
 * session is claimed (and its record removed) by exactly one of them.
 */
export function startOfflineSweeper(aedes: Aedes, log: Logger, opts: { intervalMs?: number } = {}): OfflineSweeper | undefined {
  const persistence = (aedes as unknown as { persistence: PersistenceLike }).persistence
  const store = stores.get(persistence)
  if (store === undefined) return undefined
  const { bounds } = store
  const warn = (what: string) => (err: unknown) => log.warn({ err }, what)
  const persistent = (c: Client): boolean => c.clean === false && typeof c.id === 'string'

  aedes.on('client', (c) => {
    if (persistent(c)) store.seen([c.id], Date.now()).catch(warn('recording a session failed'))
    else if (typeof c.id === 'string') store.forget(c.id).catch(warn('forgetting a session failed'))
  })
  aedes.on('clientDisconnect', (c) => {
    if (persistent(c)) store.seen([c.id], Date.now()).catch(warn('recording a session failed'))
  })

  let running: Promise<SweepResult> | undefined
  const sweepOnce = async (now: number): Promise<SweepResult> => {
    const clients = (aedes as unknown as { clients: Record<string, Client> }).clients
    const here = Object.values(clients).filter(persistent).map((c) => c.id)
    await store.seen(here, now)
    const dropped = await store.pruneExpired(now)
    const cutoff = now - bounds.sessionExpirySeconds * 1000
    let expired = 0
    for (;;) {
      const ids = await store.claimExpired(cutoff, CLAIM_BATCH)
      for (const id of ids) {
        if (clients[id] !== undefined) {
          // connected here after all (its record was refreshed too late): keep it
          await store.seen([id], now)
          continue
        }
        // The queue first: the Redis trim releases each packet's count, which removing
        // the subscriptions (that deletes the list outright) would not.
        await store.dropQueue(id)
        await persistence.cleanSubscriptions({ id })
        if (typeof persistence.cleanIncoming === 'function') await persistence.cleanIncoming({ id })
        expired++
      }
      if (ids.length < CLAIM_BATCH) break
    }
    return { expired, dropped }
  }
  const sweep = (now = Date.now()): Promise<SweepResult> => {
    // One sweep at a time per node; a caller during a sweep waits for it and runs its own.
    const previous = running ?? Promise.resolve({ expired: 0, dropped: 0 })
    const next = previous.catch(() => undefined).then(() => sweepOnce(now))
    running = next
    return next.finally(() => {
      if (running === next) running = undefined
    })
  }

  let closed = false
  const backfilled = store.backfill?.(Date.now()).catch(warn('recording stored sessions failed'))
  const timer = setInterval(() => {
    if (!closed) sweep().catch(warn('sweeping expired sessions failed'))
  }, opts.intervalMs ?? sweepIntervalMs(bounds))
  timer.unref()

  const sweeper: OfflineSweeper = {
    bounds,
    sweep,
    queued: (clientId) => store.queued(clientId),
    sessions: () => store.sessions(),
    async close() {
      closed = true
      clearInterval(timer)
      await backfilled
      await running?.catch(() => undefined)
    },
  }
  sweepers.set(aedes, sweeper)
  return sweeper
}
