import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { SyncResponseData } from '../../../clients/sdk/src/protocol.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import { optionalCursor, optionalId, optionalLimit, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'

/**
 * SYNC (seed 000): the deltas after the client's last delta id, across everything the
 * caller may read, one server, or one channel; paged, oldest first. Because delta ids
 * follow commit order, "after X up to the current id" can never skip a later commit.
 */
export async function doSync(core: Core, caller: Caller, data: Data): Promise<SyncResponseData & { next_client_seq?: string }> {
  const { directory, log } = core.store
  const limit = optionalLimit(data, core.config.maxPageSize)
  const channelId = optionalId(data, 'channel_id')
  const serverId = optionalId(data, 'server_id')
  const after = optionalCursor(data, 'client_delta_id') ?? 0n
  const afterSeq = optionalCursor(data, 'client_seq')
  const upTo = await log.lastDeltaId()
  if (after > upTo) throw new ChatError('INVALID_CURSOR', `client_delta_id ${after} is ahead of the server (${upTo})`, { server_delta_id: upTo.toString() })

  if (channelId !== undefined && afterSeq !== undefined) {
    const channel = await directory.readableChannel(caller.userId, channelId)
    const lastSeq = await log.channelLastSeq(channelId)
    if (afterSeq > lastSeq) throw new ChatError('INVALID_CURSOR', `client_seq ${afterSeq} is ahead of the channel (${lastSeq})`)
    const rows = await log.channelDeltas(channelId, channel.serverId, afterSeq, limit + 1)
    const hasMore = rows.length > limit
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    return {
      server_delta_id: upTo.toString(),
      missing_deltas: page.map(toDeltaJson),
      has_more: hasMore,
      next_client_delta_id: hasMore && last !== undefined ? last.deltaId.toString() : upTo.toString(),
      next_client_seq: (last?.seq ?? afterSeq).toString(),
      recovered: !hasMore,
    }
  }

  let channelIds: string[]
  if (channelId !== undefined) {
    channelIds = [(await directory.readableChannel(caller.userId, channelId)).id]
  } else if (serverId !== undefined) {
    if ((await directory.serverRole(serverId, caller.userId)) === null) throw new ChatError('SERVER_NOT_FOUND')
    channelIds = await directory.readableChannelIds(caller.userId, serverId)
  } else {
    channelIds = await directory.readableChannelIds(caller.userId)
  }
  const rows = await log.deltasAfter(channelIds, after, upTo, limit + 1)
  const hasMore = rows.length > limit
  const page = rows.slice(0, limit)
  return {
    server_delta_id: upTo.toString(),
    missing_deltas: page.map(toDeltaJson),
    has_more: hasMore,
    next_client_delta_id: hasMore ? page.at(-1)!.deltaId.toString() : upTo.toString(),
    recovered: !hasMore,
  }
}
