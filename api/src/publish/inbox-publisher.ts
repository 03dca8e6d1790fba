import type { Aedes } from 'aedes'
import { topics } from '../../../clients/sdk/src/topics.ts'
import type { Envelope } from '../../../clients/sdk/src/protocol.ts'

/**
 * Events for one user that are not deltas of a conversation (read markers, receipts): put on
 * the user's inbox topic, QoS 1, so every device of the user (and a persistent session that
 * is away) gets them. Only the platform publishes there.
 */
export interface InboxPublisher {
  notify(userId: string, envelope: Envelope): Promise<void>
}

/** Publishes a JSON body as the platform, QoS 1 unless told otherwise, not retained; resolves once the broker took it. */
export function publishJson(broker: Aedes, topic: string, body: object, qos: 0 | 1 = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    broker.publish(
      { cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(body)), qos, retain: false, dup: false },
      (err?: Error) => (err ? reject(err) : resolve()),
    )
  })
}

/** Publishes through an Aedes instance: the embedded broker, or a sidecar's Redis-sharing node. */
export function createInboxPublisher(broker: Aedes): InboxPublisher {
  return { notify: (userId, envelope) => publishJson(broker, topics.inbox(userId), envelope) }
}
