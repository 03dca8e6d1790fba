import type { AttachmentJson, DeltaJson, DeltaMetaJson } from '../../../clients/sdk/src/protocol.ts'
import type { DeltaRecord } from '../store/types.ts'

/** The wire form of a delta (docs/protocol.md, "Delta"). */
export function toDeltaJson(d: DeltaRecord): DeltaJson {
  const json: DeltaJson = {
    delta_id: d.deltaId.toString(),
    seq: d.seq.toString(),
    type: d.type,
    channel_id: d.channelId,
    user_id: d.userId,
    content: d.content,
    timestamp: d.createdAt.toISOString(),
  }
  if (d.serverId !== null) json.server_id = d.serverId
  if (d.clientMsgId !== null) json.client_msg_id = d.clientMsgId
  if (d.targetId !== null) json.target_id = d.targetId.toString()
  if (d.meta !== null) json.meta = JSON.parse(d.meta) as DeltaMetaJson
  if (d.attachments !== null) json.attachments = JSON.parse(d.attachments) as AttachmentJson[]
  if (d.isPartitionHead) json.is_partition_head = true
  return json
}
