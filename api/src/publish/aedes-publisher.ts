import type { Aedes } from 'aedes'
import { channelTopic } from '../../../clients/sdk/src/topics.ts'
import type { DeltaPublisher } from '../sequencer/sequencer.ts'
import type { DeltaRecord } from '../store/types.ts'
import { toDeltaJson } from './delta-json.ts'

/**
 * Publishes committed deltas through an Aedes instance: the broker itself in the embedded
 * profile, a listener-less node sharing Redis persistence and fan-out in production. QoS 1,
 * so persistent sessions keep what arrives while a device is away.
 */
export function createAedesPublisher(broker: Aedes): DeltaPublisher {
  const publishOne = (delta: DeltaRecord): Promise<void> =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify({ action: 'PUBLISH_DELTA', data: toDeltaJson(delta) }))
      broker.publish(
        { cmd: 'publish', topic: channelTopic({ id: delta.channelId, serverId: delta.serverId }), payload, qos: 1, retain: false, dup: false },
        (err?: Error) => (err ? reject(err) : resolve()),
      )
    })
  return {
    async publish(deltas) {
      // In order: each publish is handed to the broker before the next one.
      for (const d of deltas) await publishOne(d)
    },
  }
}
