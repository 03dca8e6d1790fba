import type { RestoreHistoryResponseData } from '../../../clients/sdk/src/protocol.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import { optionalCursor, optionalLimit, requireId, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'

/** RESTORE_HISTORY (seed 000): a channel's whole log from the start, paged by seq. */
export async function doRestoreHistory(core: Core, caller: Caller, data: Data): Promise<RestoreHistoryResponseData> {
  const channelId = requireId(data, 'channel_id')
  const afterSeq = optionalCursor(data, 'after_seq') ?? 0n
  const limit = optionalLimit(data, core.config.maxPageSize)
  const channel = await core.store.directory.readableChannel(caller.userId, channelId)
  const lastSeq = await core.store.log.channelLastSeq(channelId)
  const rows = await core.store.log.channelDeltas(channelId, channel.serverId, afterSeq, limit + 1)
  const hasMore = rows.length > limit
  const page = rows.slice(0, limit)
  return {
    channel_id: channelId,
    deltas: page.map(toDeltaJson),
    has_more: hasMore,
    next_after_seq: (page.at(-1)?.seq ?? afterSeq).toString(),
    last_seq: lastSeq.toString(),
  }
}
