// aedes-persistence-redis with bounded offline queues, and the Redis half of session expiry.
//
// How aedes-persistence-redis 12 keeps a QoS 1 message for persistent sessions: one key
// `packet:<brokerId>:<counter>` holds the packet, `packet:...:offlineCount` counts the
// sessions still owing it, and each session's list `outgoing:<clientId>` gets the packet key
// pushed (RPUSH). A PUBACK removes the key from the list (LREM) and decrements the count;
// the last one deletes the packet. Its `maxSessionDelivery` only limits how much of the list
// is read back on reconnect, and its `packetTTL` expires the packet keys, not the list: left
// alone, the list of a device that never returns grows by one entry per message forever.
//
// Here: `packetTTL` is the configured TTL; after every enqueue a script trims each list it
// touched to the newest `maxMessages` entries (releasing the trimmed packets' counts the
// way a PUBACK would) and gives the list itself the TTL, so a list that received nothing
// for that long disappears with its (already expired) packets.
//
// Session expiry: a sorted set records when each persistent session was last seen
// (connected or disconnecting); sweeping nodes claim expired entries with one atomic script,
// so two nodes never clean the same session, and the claimer removes the session's
// subscriptions through the persistence (which tells every node) and its queue.
//
// The scripts touch keys they are not given in KEYS (the packet keys named in a list):
// fine on one Redis server or a replicated one, not on Redis Cluster, which Chime does not
// use (REDIS_URL names one server).
import { createRequire } from 'node:module'
import type { OfflineBounds, OfflineStore, PersistenceLike, QueuedPacket } from './offline-bounds.ts'

const require = createRequire(import.meta.url)

/** The sorted set of persistent sessions by last-seen time (ms), next to aedes's own keys. */
export const SESSION_SEEN_KEY = 'chime:session-seen'

/** The list aedes-persistence-redis keeps a session's queued packet keys in. */
export function outgoingListKey(clientId: string): string {
  return `outgoing:${encodeURIComponent(clientId)}`
}

// A trimmed packet may be in flight to a connected session; its PUBACK still looks the
// packet up, so a released packet is left to expire shortly instead of being deleted.
const RELEASE_GRACE_SECONDS = 60

// KEYS[1] = outgoing list; ARGV = cap, list TTL (s), grace (s). Returns how many were dropped.
const TRIM_SCRIPT = `
local cap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])
local n = redis.call('LLEN', KEYS[1])
local dropped = 0
if n > cap then
  local gone = redis.call('LRANGE', KEYS[1], 0, n - cap - 1)
  if cap > 0 then
    redis.call('LTRIM', KEYS[1], n - cap, -1)
  else
    redis.call('DEL', KEYS[1])
  end
  for _, k in ipairs(gone) do
    local count = k .. ':offlineCount'
    if string.sub(k, 1, 7) == 'packet:' then
      if redis.call('EXISTS', count) == 1 and redis.call('DECR', count) <= 0 then
        redis.call('EXPIRE', k, grace)
        redis.call('EXPIRE', count, grace)
      end
    else
      redis.call('EXPIRE', k, grace)
    end
  end
  dropped = #gone
end
if ttl > 0 and cap > 0 and n > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return dropped
`

// KEYS[1] = the last-seen set; ARGV = cutoff (ms, exclusive), limit. Returns the claimed ids.
const CLAIM_SCRIPT = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids
`

interface Pipeline {
  exec(): Promise<[Error | null, unknown][] | null>
}

/** The parts of an ioredis (the one aedes-persistence-redis ships with) used here. */
interface RedisConn {
  defineCommand(name: string, def: { numberOfKeys: number; lua: string }): void
  pipeline(): Pipeline
  zadd(key: string, ...args: (string | number)[]): Promise<number | string | null>
  zrem(key: string, ...members: string[]): Promise<number>
  zcard(key: string): Promise<number>
  llen(key: string): Promise<number>
  sscan(key: string, cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>
}

type CommandFn = (...args: (string | number)[]) => Promise<unknown>

function command(target: RedisConn | Pipeline, name: string): CommandFn {
  return ((target as unknown as Record<string, CommandFn>)[name]!).bind(target)
}

async function execOrThrow(p: Pipeline): Promise<unknown[]> {
  const results = (await p.exec()) ?? []
  const failed = results.find(([err]) => err !== null)
  if (failed !== undefined) throw failed[0]
  return results.map(([, v]) => v)
}

class RedisOffline implements OfflineStore {
  constructor(
    readonly bounds: OfflineBounds,
    private readonly db: RedisConn,
  ) {
    db.defineCommand('chimeOfflineTrim', { numberOfKeys: 1, lua: TRIM_SCRIPT })
    db.defineCommand('chimeSessionClaim', { numberOfKeys: 1, lua: CLAIM_SCRIPT })
  }

  /** Trims the lists of the sessions a packet was just queued for, in one round trip. */
  async trim(clientIds: readonly string[], cap = this.bounds.maxMessages): Promise<number> {
    if (clientIds.length === 0) return 0
    const p = this.db.pipeline()
    const trim = command(p, 'chimeOfflineTrim')
    for (const id of clientIds) void trim(outgoingListKey(id), cap, this.bounds.ttlSeconds, Math.min(RELEASE_GRACE_SECONDS, this.bounds.ttlSeconds))
    return (await execOrThrow(p)).reduce<number>((sum, v) => sum + Number(v), 0)
  }

  async seen(clientIds: readonly string[], at: number): Promise<void> {
    // Batches keep each command small however many sessions a node holds.
    for (let i = 0; i < clientIds.length; i += 1000) {
      const args: (string | number)[] = []
      for (const id of clientIds.slice(i, i + 1000)) args.push(at, id)
      await this.db.zadd(SESSION_SEEN_KEY, ...args)
    }
  }

  async forget(clientId: string): Promise<void> {
    await this.db.zrem(SESSION_SEEN_KEY, clientId)
  }

  async claimExpired(cutoff: number, limit: number): Promise<string[]> {
    const ids = await command(this.db, 'chimeSessionClaim')(SESSION_SEEN_KEY, Math.floor(cutoff), limit)
    return Array.isArray(ids) ? ids.map(String) : []
  }

  async dropQueue(clientId: string): Promise<void> {
    await this.trim([clientId], 0)
  }

  async pruneExpired(): Promise<number> {
    // Packet keys and lists carry their own TTL; reading a list skips (and removes) the
    // names of packets that are gone.
    return 0
  }

  async queued(clientId: string): Promise<number> {
    return this.db.llen(outgoingListKey(clientId))
  }

  async sessions(): Promise<number> {
    return this.db.zcard(SESSION_SEEN_KEY)
  }

  /**
   * Sessions stored before this node kept last-seen records (or claimed by a node that died
   * before cleaning them) have none: they get one now, so they expire one period from now.
   * ZADD NX never moves an existing record, so nodes doing this at once agree.
   */
  async backfill(now: number): Promise<number> {
    let cursor = '0'
    let added = 0
    do {
      const [next, ids] = await this.db.sscan('clients', cursor, 'COUNT', 1000)
      cursor = next
      if (ids.length > 0) {
        const args: (string | number)[] = ['NX']
        for (const id of ids) args.push(now, id)
        added += Number(await this.db.zadd(SESSION_SEEN_KEY, ...args))
      }
    } while (cursor !== '0')
    return added
  }
}

export interface RedisConnection {
  host: string
  port: number
  db: number
  password?: string
}

/** aedes-persistence-redis on its own ioredis connection, with bounded queues. */
export function boundedRedisPersistence(connection: RedisConnection, bounds: OfflineBounds): { persistence: PersistenceLike; store: OfflineStore } {
  const factory = require('aedes-persistence-redis') as (opts: object) => PersistenceLike
  const IoRedis = createRequire(require.resolve('aedes-persistence-redis'))('ioredis') as new (opts: object) => RedisConn
  // One connection for the persistence and the trims: commands on one connection run in
  // the order they were sent, so a trim always follows the pushes it is meant to bound.
  const db = new IoRedis(connection)
  // aedes-persistence-redis's delWill sends LREM without awaiting it: a will handled while
  // the broker closes (a client that dropped at that moment) would reject unhandled. Callers
  // still get the command's own promise.
  const lrem = command(db, 'lrem')
  ;(db as unknown as Record<string, CommandFn>)['lrem'] = (...args) => {
    const p = lrem(...args)
    p.catch(() => undefined)
    return p
  }
  const persistence = factory({ conn: db, maxSessionDelivery: bounds.maxMessages, packetTTL: () => bounds.ttlSeconds })
  const store = new RedisOffline(bounds, db)
  const enqueue = persistence.outgoingEnqueue.bind(persistence)
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence)
  persistence.outgoingEnqueue = async (sub, packet: QueuedPacket) => {
    await enqueue(sub, packet)
    await store.trim([sub.clientId])
  }
  persistence.outgoingEnqueueCombi = async (subs, packet: QueuedPacket) => {
    await enqueueCombi(subs, packet)
    await store.trim(subs.map((s) => s.clientId))
  }
  return { persistence, store }
}
