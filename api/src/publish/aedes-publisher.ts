import type { Aedes } from 'aedes'
import { channelTopic, topics } from '../../../clients/sdk/src/topics.ts'
import type { AccessBus, AccessEvent } from '../../../broker/src/access-events.ts'
import type { DeltaPublisher } from '../sequencer/sequencer.ts'
import type { DeltaRecord } from '../store/types.ts'
import { toDeltaJson } from './delta-json.ts'
import { publishJson } from './inbox-publisher.ts'
import type { DeltaQos, QosPolicy } from './qos-policy.ts'

/**
 * Publishes committed deltas through an Aedes instance: the broker itself in the embedded
 * profile, a listener-less node sharing Redis persistence and fan-out in production. QoS 1,
 * so persistent sessions keep what arrives while a device is away; with a QoS policy,
 * deltas of servers above its size go out at QoS 0 (qos-policy.ts). Access events go through
 * the same emitter first, so every node applies them before it sees the deltas that follow.
 */
export function createAedesPublisher(broker: Aedes, access: AccessBus, qos?: QosPolicy): DeltaPublisher {
  const publishOne = (topic: string, body: object, level: DeltaQos = 1): Promise<void> => publishJson(broker, topic, body, level)
  // A server's size changes with memberships: this process forgets it before announcing
  // its own changes, the others when the announcement reaches them.
  const forgetSizes = (e: AccessEvent): void => {
    if (e.type === 'membership' && e.serverId !== undefined) qos?.forget(e.serverId)
    else if (e.type === 'server-permissions' && e.channelId === undefined) qos?.forget(e.serverId)
  }
  if (qos !== undefined) access.subscribe(forgetSizes)
  return {
    async publish(deltas: readonly DeltaRecord[]) {
      const levels = new Map<string, DeltaQos>()
      if (qos !== undefined) for (const d of deltas) if (d.serverId !== null && !levels.has(d.serverId)) levels.set(d.serverId, await qos.serverQos(d.serverId))
      // In commit order. A run of deltas on one topic is handed to the broker at once: each
      // publish of the run takes the same path through the broker (the same subscriptions,
      // looked up as it is handed over; the same Redis connection in production), so they
      // come out in the order they went in, and the run costs one round trip instead of one
      // per delta. A run on another topic waits for the one before, since the paths of two
      // topics can differ in length (a topic with sessions away queues copies first).
      let i = 0
      while (i < deltas.length) {
        const first = deltas[i]!
        const topic = channelTopic({ id: first.channelId, serverId: first.serverId })
        const level = first.serverId === null ? 1 : levels.get(first.serverId) ?? 1
        const run: Promise<void>[] = []
        for (; i < deltas.length && deltas[i]!.channelId === first.channelId; i++) {
          run.push(publishOne(topic, { action: 'PUBLISH_DELTA', data: toDeltaJson(deltas[i]!) }, level))
        }
        await Promise.all(run)
      }
    },
    announce: (events) => {
      for (const e of events) forgetSizes(e)
      return access.emit(events)
    },
    async publishInbox(items) {
      for (const { userId, event, delta } of items) {
        const data = { ...event.data, ...(delta === undefined ? {} : { delta_id: delta.deltaId.toString() }) }
        await publishOne(topics.inbox(userId), { action: 'MEMBERSHIP', data })
      }
    },
  }
}
