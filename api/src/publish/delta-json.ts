import type { AttachmentJson, DeltaJson, DeltaMetaJson } from '../../../clients/sdk/src/protocol.ts'
import type { DeltaRecord } from '../store/types.ts'

/**
 * The wire form of a delta (docs/protocol.md, "Delta"). A message (or an edit of one) past
 * its `expires_at` goes out without content, meta or attachments even before the expiry
 * sweep has purged its row, so nothing outlives its lifetime by a sweep interval.
 */
export function toDeltaJson(d: DeltaRecord, now = Date.now()): DeltaJson {
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
  const meta = d.meta === null ? null : (JSON.parse(d.meta) as DeltaMetaJson)
  if (meta?.expires_at !== undefined && Date.parse(meta.expires_at) <= now) {
    json.content = null
    json.meta = { expires_at: meta.expires_at, ...(meta.kind !== undefined ? { kind: meta.kind } : {}) }
  } else {
    if (meta !== null) json.meta = meta
    if (d.attachments !== null) json.attachments = JSON.parse(d.attachments) as AttachmentJson[]
  }
  if (d.isPartitionHead) json.is_partition_head = true
  return json
}
