// A channel's whole history as RESTORE_HISTORY hands it out (docs/protocol.md): the
// archived partitions first, each downloaded from its link and checked against its size and
// SHA-256 before a line of it is used, then the open partition, paged. Deltas come out in
// seq order with no gap or the restore fails: a history with a hole is never passed off as
// whole. A link that expired or whose file was rewritten meanwhile is asked for again;
// RATE_LIMITED is waited out.
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { ChatError } from '../sdk/src/errors.ts'
import type { ArchiveHeaderJson, ArchivedPartitionJson, ChimeHttp, DeltaJson, RestoreHistoryResponseData } from '../sdk/src/index.ts'

export interface RestoreProgress {
  /** The last seq handed out so far, and the channel's last seq when the restore started. */
  seq: number
  lastSeq: number
  partitions: number
  downloadedBytes: number
}

export interface RestoreOptions {
  afterSeq?: string
  pageSize?: number
  onProgress?: (p: RestoreProgress) => void
  /** Longest single wait for RATE_LIMITED before giving up (default 60 s). */
  maxWaitMs?: number
}

class StaleLink extends Error {}

async function restorePage(http: ChimeHttp, data: object, maxWaitMs: number): Promise<RestoreHistoryResponseData> {
  for (;;) {
    try {
      return await http.request<RestoreHistoryResponseData>('RESTORE_HISTORY', data)
    } catch (err) {
      const after = err instanceof ChatError && err.code === 'RATE_LIMITED' ? err.details?.['retry_after_ms'] : undefined
      if (typeof after !== 'number' || after > maxWaitMs) throw err
      await new Promise((r) => setTimeout(r, after))
    }
  }
}

/** Downloads one archive and checks it; StaleLink when the link no longer serves it (ask for a new one). */
async function download(http: ChimeHttp, p: ArchivedPartitionJson): Promise<Buffer> {
  let res: Response
  try {
    res = await fetch(http.resolve(p.url), { signal: AbortSignal.timeout(120_000) })
  } catch (err) {
    throw new ChatError('UNAVAILABLE', `the archive of partition ${p.partition_no} could not be fetched (${(err as Error).message})`)
  }
  if (res.status === 403 || res.status === 404) {
    await res.arrayBuffer().catch(() => undefined)
    throw new StaleLink(`partition ${p.partition_no}: the link answered ${res.status}`)
  }
  if (!res.ok) throw new ChatError('UNAVAILABLE', `the archive of partition ${p.partition_no} answered HTTP ${res.status}`)
  const bytes = Buffer.from(await res.arrayBuffer())
  if (String(bytes.length) !== p.size) throw new ChatError('CHECKSUM_MISMATCH', `partition ${p.partition_no}: ${bytes.length} bytes arrived, ${p.size} were announced`)
  const digest = createHash('sha256').update(bytes).digest('hex')
  if (digest !== p.sha256) throw new ChatError('CHECKSUM_MISMATCH', `partition ${p.partition_no}: SHA-256 ${digest} is not the announced ${p.sha256}`)
  return bytes
}

function parseArchive(bytes: Buffer, p: ArchivedPartitionJson, channelId: string): DeltaJson[] {
  let lines: string[]
  try {
    lines = gunzipSync(bytes).toString('utf8').split('\n').filter((l) => l !== '')
  } catch (err) {
    throw new ChatError('CHECKSUM_MISMATCH', `partition ${p.partition_no} is not gzip: ${(err as Error).message}`)
  }
  const header = JSON.parse(lines[0] ?? 'null') as ArchiveHeaderJson | null
  if (header?.format !== 'chime-history/1' || header.channel_id !== channelId || header.start_seq !== p.start_seq || header.end_seq !== p.end_seq) {
    throw new ChatError('CHECKSUM_MISMATCH', `partition ${p.partition_no}: the archive's header does not describe it`)
  }
  return lines.slice(1).map((l) => JSON.parse(l) as DeltaJson)
}

/**
 * Hands every delta of the channel after `afterSeq`, in seq order, to `emit` (awaited, so
 * a slow writer holds the download). Answers the last seq handed out.
 */
export async function restoreHistory(http: ChimeHttp, channelId: string, emit: (d: DeltaJson) => Promise<void> | void, opts: RestoreOptions = {}): Promise<{ lastSeq: string; deltas: number; partitions: number }> {
  let after = BigInt(opts.afterSeq ?? '0')
  const maxWaitMs = opts.maxWaitMs ?? 60_000
  const progress: RestoreProgress = { seq: Number(after), lastSeq: 0, partitions: 0, downloadedBytes: 0 }
  let count = 0
  let staleRetries = 0
  const take = async (d: DeltaJson): Promise<void> => {
    if (BigInt(d.seq) !== after + 1n) throw new ChatError('INTERNAL', `the history of ${channelId} has a gap: seq ${d.seq} came after ${after}`)
    await emit(d)
    after += 1n
    count++
  }
  for (;;) {
    const page = await restorePage(http, { channel_id: channelId, after_seq: after.toString(), ...(opts.pageSize !== undefined ? { limit: opts.pageSize } : {}) }, maxWaitMs)
    progress.lastSeq = Math.max(progress.lastSeq, Number(page.last_seq))
    let stale = false
    for (const p of page.partitions) {
      let bytes: Buffer
      try {
        bytes = await download(http, p)
      } catch (err) {
        // An expired link or a file rewritten since: ask again from here (a few times).
        if (!(err instanceof StaleLink) || ++staleRetries > 5) throw err instanceof StaleLink ? new ChatError('LINK_EXPIRED', err.message) : err
        stale = true
        break
      }
      for (const d of parseArchive(bytes, p, channelId)) await take(d)
      progress.partitions++
      progress.downloadedBytes += bytes.length
      progress.seq = Number(after)
      opts.onProgress?.({ ...progress })
    }
    if (stale) continue
    for (const d of page.deltas) await take(d)
    progress.seq = Number(after)
    opts.onProgress?.({ ...progress })
    if (!page.has_more) return { lastSeq: after.toString(), deltas: count, partitions: progress.partitions }
    if (BigInt(page.next_after_seq) !== after) throw new ChatError('INTERNAL', `RESTORE_HISTORY of ${channelId} said to continue after ${page.next_after_seq}, but the deltas end at ${after}`)
  }
}
