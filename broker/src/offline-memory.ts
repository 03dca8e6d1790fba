// The in-memory persistence (aedes-persistence) with bounded offline queues. Its own queue
// of outgoing packets is an array per client that only shrinks when the client acknowledges,
// so a device that never returns would keep every QoS 1 message addressed to it for the
// life of the process. Here the five outgoing operations are served from queues that keep
// at most `maxMessages` packets per client (the oldest go first), forget packets older than
// `ttlSeconds`, and can be dropped whole when the session expires. Everything else
// (subscriptions, retained messages, wills, QoS 2 intake) stays with aedes-persistence.
import { Readable } from 'node:stream'
import { createRequire } from 'node:module'
import type { OfflineBounds, OfflineStore, PersistenceLike, QueuedPacket } from './offline-bounds.ts'

const require = createRequire(import.meta.url)

type PacketCtor = new (original: QueuedPacket) => QueuedPacket
// The aedes-persistence that aedes itself depends on (and would use by default).
const memoryPersistence = createRequire(require.resolve('aedes'))('aedes-persistence') as ((opts?: object) => PersistenceLike) & { Packet: PacketCtor }

interface Entry {
  packet: QueuedPacket
  /** When it was queued, ms since the epoch. */
  at: number
}

class MemoryQueues implements OfflineStore {
  private readonly queues = new Map<string, Entry[]>()
  /** Last time each persistent session was seen connected or disconnecting. */
  private readonly lastSeen = new Map<string, number>()

  constructor(
    readonly bounds: OfflineBounds,
    private readonly clock: () => number,
  ) {}

  private live(clientId: string, now: number): Entry[] | undefined {
    const queue = this.queues.get(clientId)
    if (queue === undefined) return undefined
    // Entries are in queueing order, so the expired ones are at the front.
    const oldest = now - this.bounds.ttlSeconds * 1000
    let stale = 0
    while (stale < queue.length && queue[stale]!.at <= oldest) stale++
    if (stale > 0) queue.splice(0, stale)
    if (queue.length === 0) {
      this.queues.delete(clientId)
      return undefined
    }
    return queue
  }

  enqueue(clientId: string, packet: QueuedPacket): void {
    const now = this.clock()
    let queue = this.live(clientId, now)
    if (queue === undefined) this.queues.set(clientId, (queue = []))
    queue.push({ packet: new memoryPersistence.Packet(packet), at: now })
    if (queue.length > this.bounds.maxMessages) queue.splice(0, queue.length - this.bounds.maxMessages)
  }

  update(clientId: string, packet: QueuedPacket): void {
    const queue = this.queues.get(clientId)
    if (queue === undefined) return
    for (let i = 0; i < queue.length; i++) {
      const e = queue[i]!
      if (e.packet.brokerId === packet.brokerId) {
        if (e.packet.brokerCounter === packet.brokerCounter) {
          e.packet.messageId = packet.messageId
          return
        }
      } else if (e.packet.messageId === packet.messageId) {
        // a message id reused by a packet of another broker: it replaces the stale one
        queue[i] = { packet, at: e.at }
        return
      }
    }
    // Not queued (any more): dropped by the bound while it was on its way to a connected
    // client. aedes-persistence would reject, and aedes answers a rejection by closing the
    // connection; the packet is still delivered, just no longer tracked.
  }

  clear(clientId: string, packet: QueuedPacket): QueuedPacket | undefined {
    const queue = this.queues.get(clientId)
    if (queue === undefined) return undefined
    const i = queue.findIndex((e) => e.packet.messageId === packet.messageId)
    if (i < 0) return undefined
    const [gone] = queue.splice(i, 1)
    if (queue.length === 0) this.queues.delete(clientId)
    return gone!.packet
  }

  snapshot(clientId: string): QueuedPacket[] {
    return (this.live(clientId, this.clock()) ?? []).map((e) => e.packet)
  }

  // ---- OfflineStore

  async seen(clientIds: readonly string[], at: number): Promise<void> {
    for (const id of clientIds) this.lastSeen.set(id, at)
  }

  async forget(clientId: string): Promise<void> {
    this.lastSeen.delete(clientId)
  }

  async claimExpired(cutoff: number, limit: number): Promise<string[]> {
    const out: string[] = []
    for (const [id, at] of this.lastSeen) {
      if (out.length >= limit) break
      if (at < cutoff) out.push(id)
    }
    for (const id of out) this.lastSeen.delete(id)
    return out
  }

  async dropQueue(clientId: string): Promise<void> {
    this.queues.delete(clientId)
  }

  async pruneExpired(now: number): Promise<number> {
    let dropped = 0
    for (const id of [...this.queues.keys()]) {
      const before = this.queues.get(id)!.length
      dropped += before - (this.live(id, now)?.length ?? 0)
    }
    return dropped
  }

  async queued(clientId: string): Promise<number> {
    return this.live(clientId, this.clock())?.length ?? 0
  }

  async sessions(): Promise<number> {
    return this.lastSeen.size
  }
}

/** aedes-persistence with bounded outgoing queues; the store is for the sweeper (offline-bounds.ts). */
export function boundedMemoryPersistence(bounds: OfflineBounds, clock: () => number = Date.now): { persistence: PersistenceLike; store: OfflineStore } {
  const persistence = memoryPersistence()
  const queues = new MemoryQueues(bounds, clock)
  persistence.outgoingEnqueue = async (sub, packet) => queues.enqueue(sub.clientId, packet)
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    for (const sub of subs) queues.enqueue(sub.clientId, packet)
  }
  persistence.outgoingUpdate = async (client, packet) => queues.update(client.id, packet)
  persistence.outgoingClearMessageId = async (client, packet) => queues.clear(client.id, packet)
  persistence.outgoingStream = (client) => Readable.from(queues.snapshot(client.id))
  // A clean start (or an expired session) discards the session's subscriptions; its queue
  // goes with them, as it does in aedes-persistence-redis.
  const clean = persistence.cleanSubscriptions.bind(persistence)
  persistence.cleanSubscriptions = async (client) => {
    await queues.dropQueue(client.id)
    return clean(client)
  }
  return { persistence, store: queues }
}
