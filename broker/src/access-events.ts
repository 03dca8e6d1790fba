// Changes of who-may-see-what, told to every broker node at once. Events travel through the
// broker's own emitter (mqemitter in memory, mqemitter-redis in production) on a topic no
// client can subscribe to, so on every node they arrive in the same order as the deltas the
// API publishes after them: a revocation takes effect before the next delta is delivered.
import type { Aedes } from 'aedes'

export const ACCESS_TOPIC = '$chime/access'

export type AccessEvent =
  /** userId's membership or role in a server or chat changed: re-check its grants there. */
  | { type: 'membership'; userId: string; serverId?: string; chatId?: string }
  /** Channel permissions inside a server changed (override, new or deleted channel): re-check every grant in it. */
  | { type: 'server-permissions'; serverId: string; channelId?: string }
  /** A chat ended or was deleted: re-check every grant on it. */
  | { type: 'chat-closed'; chatId: string }
  /** Who may watch userId's presence changed (block, unblock): re-check grants on its presence. */
  | { type: 'presence'; userId: string }
  /**
   * Sign-ins revoked (logout, password change, account deletion, device revocation):
   * disconnect the user's connections made with these sessions or client ids, or all of the
   * user's connections when neither list is given.
   */
  | { type: 'sessions-revoked'; userId: string; sessionIds?: string[]; clientIds?: string[] }

export interface AccessBus {
  /** Resolves once every node's emitter has the events (in order). */
  emit(events: readonly AccessEvent[]): Promise<void>
  /** Handlers run for every event, on every node, including this one. */
  subscribe(handler: (event: AccessEvent) => void): void
  close(): void
}

interface MqPacket {
  topic: string
  payload: Buffer | string
}

interface Emitter {
  on(topic: string, fn: (packet: MqPacket, cb: () => void) => void, done?: () => void): void
  removeListener(topic: string, fn: (packet: MqPacket, cb: () => void) => void, done?: () => void): void
  emit(packet: MqPacket, cb?: (err?: Error) => void): void
}

export function createAccessBus(aedes: Aedes): AccessBus {
  const mq = (aedes as unknown as { mq: Emitter }).mq
  const handlers: ((e: AccessEvent) => void)[] = []
  const listener = (packet: MqPacket, cb: () => void): void => {
    try {
      const event = JSON.parse(packet.payload.toString()) as AccessEvent
      for (const h of handlers) h(event)
    } finally {
      cb()
    }
  }
  let listening = false
  return {
    async emit(events) {
      for (const event of events) {
        await new Promise<void>((resolve, reject) => mq.emit({ topic: ACCESS_TOPIC, payload: Buffer.from(JSON.stringify(event)) }, (err) => (err ? reject(err) : resolve())))
      }
    },
    subscribe(handler) {
      handlers.push(handler)
      if (!listening) {
        listening = true
        mq.on(ACCESS_TOPIC, listener)
      }
    },
    close() {
      if (listening) mq.removeListener(ACCESS_TOPIC, listener)
      listening = false
    },
  }
}
