import type { Aedes } from 'aedes'
import { channelTopic, topics } from '../../../clients/sdk/src/topics.ts'
import type { AccessBus } from '../../../broker/src/access-events.ts'
import type { DeltaPublisher } from '../sequencer/sequencer.ts'
import type { DeltaRecord } from '../store/types.ts'
import { toDeltaJson } from './delta-json.ts'
import { publishJson } from './inbox-publisher.ts'

/**
 * Publishes committed deltas through an Aedes instance: the broker itself in the embedded
 * profile, a listener-less node sharing Redis persistence and fan-out in production. QoS 1,
 * so persistent sessions keep what arrives while a device is away. Access events go through
 * the same emitter first, so every node applies them before it sees the deltas that follow.
 */
export function createAedesPublisher(broker: Aedes, access: AccessBus): DeltaPublisher {
  const publishOne = (topic: string, body: object): Promise<void> => publishJson(broker, topic, body)
  return {
    async publish(deltas: readonly DeltaRecord[]) {
      // In order: each publish is handed to the broker before the next one.
      for (const d of deltas) await publishOne(channelTopic({ id: d.channelId, serverId: d.serverId }), { action: 'PUBLISH_DELTA', data: toDeltaJson(d) })
    },
    announce: (events) => access.emit(events),
    async publishInbox(items) {
      for (const { userId, event, delta } of items) {
        const data = { ...event.data, ...(delta === undefined ? {} : { delta_id: delta.deltaId.toString() }) }
        await publishOne(topics.inbox(userId), { action: 'MEMBERSHIP', data })
      }
    },
  }
}
