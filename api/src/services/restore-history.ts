import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { ArchivedPartitionJson, RestoreHistoryResponseData } from '../../../clients/sdk/src/protocol.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import { optionalBoolean, optionalCursor, optionalLimit, requireId, type Data } from '../requests/fields.ts'
import type { PartitionRecord } from '../store/delta-log.ts'
import { partitionRangeJson } from './history-archive.ts'
import type { Caller, Core } from './context.ts'
import { RestoreLimiter, TrafficMeter } from './restore-limiter.ts'

/** Most archive links one answer holds (a 1M-delta channel has 100 partitions by default). */
const MAX_LINKS = 1000

const limiters = new WeakMap<Core, RestoreLimiter>()

function limiterOf(core: Core): RestoreLimiter {
  let limiter = limiters.get(core)
  if (limiter === undefined) limiters.set(core, (limiter = new RestoreLimiter(core.config, new TrafficMeter(() => core.sequencer.stats.appended))))
  return limiter
}

type Partition = PartitionRecord

/**
 * The archived partitions that continue the history right after `afterSeq`, in order,
 * stopping at the first one not archived (or the open one): those the client pages instead.
 */
function linkable(partitions: readonly Partition[], afterSeq: bigint): Partition[] {
  const out: Partition[] = []
  let cursor = afterSeq
  for (const p of partitions) {
    if (p.endSeq <= cursor) continue
    if (p.startSeq !== cursor + 1n || p.archivedAt === null || p.objectKey === null || p.sha256 === null || out.length >= MAX_LINKS) break
    out.push(p)
    cursor = p.endSeq
  }
  return out
}

/**
 * RESTORE_HISTORY (seed 000, "Backup/Restore"): a channel's whole history from after_seq on,
 * as links to its archived partitions (gzip NDJSON in object storage, checked by SHA-256)
 * followed by the first page of the deltas after them (the open partition, and any sealed one
 * not archived yet). `links: false` pages everything from the database instead. Rate
 * limited per user and by the process's traffic (restore-limiter.ts).
 */
export async function doRestoreHistory(core: Core, caller: Caller, data: Data): Promise<RestoreHistoryResponseData> {
  const channelId = requireId(data, 'channel_id')
  const afterSeq = optionalCursor(data, 'after_seq') ?? 0n
  const limit = optionalLimit(data, core.config.maxPageSize)
  const wantLinks = optionalBoolean(data, 'links') ?? true
  const channel = await core.store.directory.readableChannel(caller.userId, channelId)
  const lastSeq = await core.store.log.channelLastSeq(channelId)
  if (afterSeq > lastSeq) throw new ChatError('INVALID_CURSOR', `after_seq ${afterSeq} is ahead of the channel (${lastSeq})`, { field: 'after_seq', last_seq: lastSeq.toString() })
  const all = wantLinks ? await core.store.log.partitions(channelId) : []
  const links = linkable(all, afterSeq)
  const from = links.at(-1)?.endSeq ?? afterSeq
  // A page that starts inside a sealed partition ends with it, so the next request gets the
  // archive links of the partitions after it instead of paging them.
  const inside = all.find((p) => p.startSeq <= from + 1n && from + 1n <= p.endSeq)
  const pageEnd = inside?.sealed === true ? inside.endSeq : lastSeq
  const pageDeltas = Number(pageEnd - from < BigInt(limit) ? pageEnd - from : BigInt(limit))
  const release = limiterOf(core).acquire(caller.userId, { links: links.length, deltas: pageDeltas })
  try {
    const ttl = core.config.restoreLinkTtlSeconds
    const expiresAt = new Date(Date.now() + ttl * 1000).toISOString()
    const partitions = await Promise.all(links.map(async (p): Promise<ArchivedPartitionJson> => ({
      ...partitionRangeJson(p),
      size: (p.archivedBytes ?? 0n).toString(),
      sha256: p.sha256!,
      url: await core.objects.downloadUrl(p.objectKey!, { expiresInSeconds: ttl, filename: `${channelId}-${p.partitionNo}.ndjson.gz` }),
      expires_at: expiresAt,
    })))
    const rows = await core.store.log.channelDeltas(channelId, channel.serverId, from, pageDeltas)
    const page = rows.slice(0, pageDeltas)
    const hasMore = (page.at(-1)?.seq ?? from) < lastSeq
    return {
      channel_id: channelId,
      partitions,
      deltas: page.map((d) => toDeltaJson(d)),
      has_more: hasMore,
      next_after_seq: (page.at(-1)?.seq ?? from).toString(),
      last_seq: lastSeq.toString(),
    }
  } finally {
    release()
  }
}
