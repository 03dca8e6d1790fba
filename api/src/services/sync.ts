import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { SyncResponseData } from '../../../clients/sdk/src/protocol.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import { optionalCursor, optionalId, optionalLimit, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'

/** The answer when the client is too far behind to replay deltas (CHIME_SYNC_MAX_BEHIND). */
function restoreRequired(upTo: bigint, after: bigint, behind: Map<string, number | bigint>, extra: { next_client_seq?: string } = {}): SyncResponseData {
  return {
    server_delta_id: upTo.toString(),
    missing_deltas: [],
    has_more: false,
    next_client_delta_id: after.toString(),
    recovered: false,
    restore_required: true,
    behind: [...behind].sort((a, b) => Number(b[1]) - Number(a[1])).slice(0, 100).map(([channel_id, n]) => ({ channel_id, missing: n.toString() })),
    ...extra,
  }
}

/**
 * SYNC (seed 000): the deltas after the client's last delta id, across everything the
 * caller may read, one server, or one channel (by delta id or by seq); paged, oldest first.
 * Because delta ids follow commit order, "after X up to the current id" can never skip a
 * later commit. The verdict is explicit: `recovered` (the client has everything up to
 * server_delta_id), `has_more` (SYNC again from the cursor), or `restore_required` (the
 * client misses more than CHIME_SYNC_MAX_BEHIND deltas: catch up per channel with
 * FETCH_DELTA or RESTORE_HISTORY instead of replaying every delta).
 */
export async function doSync(core: Core, caller: Caller, data: Data): Promise<SyncResponseData> {
  const { directory, log } = core.store
  const limit = optionalLimit(data, core.config.maxPageSize)
  const channelId = optionalId(data, 'channel_id')
  const serverId = optionalId(data, 'server_id')
  const after = optionalCursor(data, 'client_delta_id') ?? 0n
  const afterSeq = optionalCursor(data, 'client_seq')
  const maxBehind = core.config.syncMaxBehind
  // The reads that do not depend on each other go out together.
  const [upTo, channel, lastSeq] = await Promise.all([
    log.lastDeltaId(),
    afterSeq !== undefined && channelId !== undefined ? directory.readableChannel(caller.userId, channelId) : undefined,
    afterSeq !== undefined && channelId !== undefined ? log.channelLastSeq(channelId) : undefined,
  ])
  if (after > upTo) throw new ChatError('INVALID_CURSOR', `client_delta_id ${after} is ahead of the server (${upTo})`, { field: 'client_delta_id', server_delta_id: upTo.toString() })

  if (afterSeq !== undefined) {
    if (channelId === undefined || channel === undefined || lastSeq === undefined) throw new ChatError('INVALID_FIELD', 'client_seq needs channel_id (seqs count per channel)', { field: 'client_seq' })
    if (afterSeq > lastSeq) throw new ChatError('INVALID_CURSOR', `client_seq ${afterSeq} is ahead of the channel (${lastSeq})`, { field: 'client_seq', last_seq: lastSeq.toString() })
    if (lastSeq - afterSeq > BigInt(maxBehind)) return restoreRequired(upTo, after, new Map([[channelId, lastSeq - afterSeq]]), { next_client_seq: afterSeq.toString() })
    const rows = await log.channelDeltas(channelId, channel.serverId, afterSeq, limit + 1)
    const hasMore = rows.length > limit
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    return {
      server_delta_id: upTo.toString(),
      missing_deltas: page.map((d) => toDeltaJson(d)),
      has_more: hasMore,
      next_client_delta_id: hasMore && last !== undefined ? last.deltaId.toString() : upTo.toString(),
      next_client_seq: (last?.seq ?? afterSeq).toString(),
      recovered: !hasMore,
      restore_required: false,
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
  if (rows.length > maxBehind) {
    const byChannel = new Map<string, number>()
    for (const r of rows) byChannel.set(r.channelId, (byChannel.get(r.channelId) ?? 0) + 1)
    return restoreRequired(upTo, after, byChannel)
  }
  if (hasMore && (await log.moreThanAfter(channelIds, after, upTo, maxBehind))) {
    // More than a page missed and more than the bound: say which channels, instead of replaying.
    return restoreRequired(upTo, after, await log.countAfter(channelIds, after, upTo, maxBehind))
  }
  const page = rows.slice(0, limit)
  return {
    server_delta_id: upTo.toString(),
    missing_deltas: page.map((d) => toDeltaJson(d)),
    has_more: hasMore,
    next_client_delta_id: hasMore ? page.at(-1)!.deltaId.toString() : upTo.toString(),
    recovered: !hasMore,
    restore_required: false,
  }
}
