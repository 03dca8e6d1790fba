// Which QoS a server channel's deltas travel at. QoS 1 makes the broker queue a copy for every
// persistent session subscribed to the topic (in Redis: one list entry per session and
// message), which is what offline delivery costs; for a server of a million members that is
// a million writes per message. Above CHIME_QOS1_MAX_MEMBERS members a server's deltas go
// out at QoS 0: live subscribers get them as before, sessions that are away get nothing
// queued and catch up by SYNC on reconnect (they must SYNC anyway: queues are bounded).
// Chats and inboxes always use QoS 1.
//
// The member count is the `member_count` kept on the server's row, read by primary key and
// cached per process for CACHE_TTL_MS; a membership change announced on the access bus
// (join, leave, kick, ban, server deleted) drops that server's entry at once. A count that is
// briefly stale only picks the other QoS for a while near the threshold: QoS 1 costs queue
// writes, QoS 0 costs a SYNC; neither loses a delta.

export type DeltaQos = 0 | 1

export interface ServerSizes {
  /** Members of a live server, or null when there is none. */
  serverMemberCount(serverId: string): Promise<number | null>
}

export interface QosPolicy {
  /** The QoS of deltas on the topics of this server's channels. */
  serverQos(serverId: string): Promise<DeltaQos>
  /** Forgets the cached size of one server (or all). */
  forget(serverId?: string): void
}

export const CACHE_TTL_MS = 30_000
const MAX_ENTRIES = 10_000

interface Entry {
  members: number
  at: number
}

export function createQosPolicy(opts: {
  maxMembers: number
  sizes: ServerSizes
  ttlMs?: number
  clock?: () => number
  onError?: (err: unknown) => void
}): QosPolicy {
  const { maxMembers, sizes, ttlMs = CACHE_TTL_MS, clock = Date.now, onError = () => {} } = opts
  const cache = new Map<string, Entry>()
  const loading = new Map<string, Promise<number>>()
  // A change that arrives while a count is being read must not be overwritten by that read.
  let generation = 0

  const load = (serverId: string): Promise<number> => {
    const pending = loading.get(serverId)
    if (pending !== undefined) return pending
    const started = generation
    const p = sizes
      .serverMemberCount(serverId)
      .then((n) => {
        const members = n ?? 0
        if (generation === started) {
          cache.delete(serverId)
          if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!)
          cache.set(serverId, { members, at: clock() })
        }
        return members
      })
      .finally(() => loading.delete(serverId))
    loading.set(serverId, p)
    return p
  }

  return {
    async serverQos(serverId) {
      const hit = cache.get(serverId)
      let members: number
      if (hit !== undefined && clock() - hit.at < ttlMs) members = hit.members
      else {
        try {
          members = await load(serverId)
        } catch (err) {
          // The database did not answer: keep what was known, else the safe default.
          onError(err)
          members = hit?.members ?? 0
        }
      }
      return members > maxMembers ? 0 : 1
    },
    forget(serverId) {
      generation++
      if (serverId === undefined) cache.clear()
      else cache.delete(serverId)
    },
  }
}
