// FETCH_DELTA (seed 004's "snapshot plus missed transactions", fetchDelta): a client that was
// away catches up on one channel or chat with the final state of what changed instead of
// every intermediate delta. A window of the log is folded: the messages it created and the
// older messages it changed are shown as they are now (GET_MESSAGE's rendering), and the
// deltas that are not about messages (membership, the channel itself) are handed over as
// they are. docs/protocol.md, "FETCH_DELTA", has the consistency rule.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { FetchDeltaResponseData } from '../../../clients/sdk/src/protocol.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import { optionalCursor, optionalLimit, requireId, type Data } from '../requests/fields.ts'
import { readCatchUp } from '../store/catch-up.ts'
import type { Caller, Core } from './context.ts'
import { messageJson } from './messages.ts'

export async function doFetchDelta(core: Core, caller: Caller, data: Data): Promise<FetchDeltaResponseData> {
  const channelId = requireId(data, 'channel_id', 'channel-id')
  const afterSeq = optionalCursor(data, 'client_seq') ?? 0n
  const limit = optionalLimit(data, core.config.maxPageSize)
  const channel = await core.store.directory.readableChannel(caller.userId, channelId)
  const now = Date.now()
  const read = await readCatchUp(core.store.db, channel.id, channel.serverId, afterSeq, limit, now)
  if (!read.ok) {
    throw new ChatError('INVALID_CURSOR', `client_seq ${afterSeq} is ahead of the channel (${read.lastSeq})`, { field: 'client_seq', last_seq: read.lastSeq.toString() })
  }
  const w = read.window
  const lookups = { originals: w.originals, pollUpdates: w.pollUpdates }
  const render = (m: (typeof w.created)[number]) => messageJson(core, caller, m, w.reactions.get(m.id), lookups)
  // A message created and then deleted or expired within the window never reaches the client.
  const created = (await Promise.all(w.created.map(render))).filter((m) => m.deleted !== true)
  const updates = await Promise.all(w.changed.map(render))
  const hasMore = w.endSeq < w.lastSeq
  return {
    channel_id: channel.id,
    last_seq: w.lastSeq.toString(),
    new_messages: created,
    updates,
    deltas: w.others.map((d) => toDeltaJson(d, now)),
    has_more: hasMore,
    next_client_seq: w.endSeq.toString(),
    recovered: !hasMore,
  }
}
