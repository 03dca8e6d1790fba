// The history archive (seed 000, "Backup/Restore"): once a channel's log partition is
// sealed (10,000 deltas or 10 MB by default), it is written once to object storage as
// gzip-compressed NDJSON with its SHA-256, and RESTORE_HISTORY hands out links to these
// files instead of paging the database. Every API process archives what is pending every
// CHIME_ARCHIVE_INTERVAL_MS; processes racing on one partition write the same bytes under the
// same key, and the conditional update below keeps exactly one file current.
//
// File format (docs/protocol.md, "History archive files"): the first line is a header
// {"format": "chime-history/1", channel_id, server_id?, partition_no, start_seq, end_seq,
// start_delta_id, end_delta_id, delta_count}; then one delta per line, in seq order, in the
// wire form of PUBLISH_DELTA's data.
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import type { Config } from '../../../config/schema.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import type { ArchiveHeaderJson, PartitionRangeJson } from '../../../clients/sdk/src/protocol.ts'
import type { PartitionRecord } from '../store/delta-log.ts'
import type { Store } from '../store/store.ts'
import { startPeriodicTask, type PeriodicTask, type TaskLogger } from './periodic-task.ts'

const gzipAsync = promisify(gzip)

export const ARCHIVE_FORMAT: ArchiveHeaderJson['format'] = 'chime-history/1'
export const ARCHIVE_CONTENT_TYPE = 'application/gzip'

/** Deltas read per query while building an archive. */
const READ_CHUNK = 2000

export interface ArchiveDeps {
  store: Store
  objects: ObjectStore
  config: Pick<Config, 'archiveBatchMax'>
}


/** Where a partition's file lives; the hash in the name keeps a rewritten file apart from the old one. */
export function archiveKey(channelId: string, partitionNo: number, sha256: string): string {
  return `history/${channelId}/${partitionNo}-${sha256.slice(0, 16)}.ndjson.gz`
}

/** A partition row as the archiver reads it. */
type PartitionRow = Pick<PartitionRecord, 'partitionNo' | 'startSeq' | 'endSeq' | 'startDeltaId' | 'endDeltaId' | 'deltaCount' | 'sealed' | 'objectKey'> & { channelId: string; archiveVersion: number }

/** Where a partition lies in its channel's log, as the wire names it. */
export function partitionRangeJson(p: Pick<PartitionRecord, 'partitionNo' | 'startSeq' | 'endSeq' | 'startDeltaId' | 'endDeltaId' | 'deltaCount'>): PartitionRangeJson {
  return {
    partition_no: p.partitionNo,
    start_seq: p.startSeq.toString(),
    end_seq: p.endSeq.toString(),
    start_delta_id: p.startDeltaId.toString(),
    end_delta_id: p.endDeltaId.toString(),
    delta_count: p.deltaCount,
  }
}

/** The partition's NDJSON, gzip-compressed; refuses a partition whose rows are not all there. */
export async function buildArchive(store: Store, p: PartitionRow, now = Date.now()): Promise<{ bytes: Buffer; sha256: string }> {
  const channel = await store.db.prisma.channel.findUnique({ where: { id: p.channelId }, select: { serverId: true } })
  if (channel === null) throw new Error(`channel ${p.channelId} of partition ${p.partitionNo} does not exist`)
  const header: ArchiveHeaderJson = {
    format: ARCHIVE_FORMAT,
    channel_id: p.channelId,
    ...(channel.serverId !== null ? { server_id: channel.serverId } : {}),
    ...partitionRangeJson(p),
  }
  const lines = [JSON.stringify(header)]
  let after = p.startSeq - 1n
  while (after < p.endSeq) {
    const want = Number(p.endSeq - after < BigInt(READ_CHUNK) ? p.endSeq - after : BigInt(READ_CHUNK))
    const rows = await store.log.channelDeltas(p.channelId, channel.serverId, after, want)
    for (const d of rows) {
      if (d.seq !== after + 1n) throw new Error(`partition ${p.channelId}/${p.partitionNo}: seq ${after + 1n} is missing`)
      lines.push(JSON.stringify(toDeltaJson(d, now)))
      after = d.seq
    }
    if (rows.length === 0) throw new Error(`partition ${p.channelId}/${p.partitionNo}: seq ${after + 1n} is missing`)
  }
  if (lines.length - 1 !== p.deltaCount) throw new Error(`partition ${p.channelId}/${p.partitionNo}: ${lines.length - 1} deltas, ${p.deltaCount} recorded`)
  const bytes = await gzipAsync(Buffer.from(lines.join('\n') + '\n', 'utf8'))
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') }
}

export type ArchiveOutcome = 'archived' | 'current' | 'superseded'

/**
 * Writes one sealed partition's file and records it, unless a purge invalidated the
 * partition meanwhile (archive_version moved) or another process recorded it first; a file
 * that did not become current is removed, and so is the file it replaced.
 */
export async function archivePartition(deps: ArchiveDeps, channelId: string, partitionNo: number): Promise<ArchiveOutcome> {
  const prisma = deps.store.db.prisma
  const p = await prisma.deltaPartition.findUnique({ where: { channelId_partitionNo: { channelId, partitionNo } } })
  if (p === null || !p.sealed || p.archivedAt !== null) return 'current'
  const { bytes, sha256 } = await buildArchive(deps.store, p)
  const key = archiveKey(channelId, partitionNo, sha256)
  await deps.objects.put(key, bytes, { contentType: ARCHIVE_CONTENT_TYPE, sha256 })
  const { count } = await prisma.deltaPartition.updateMany({
    where: { channelId, partitionNo, archiveVersion: p.archiveVersion, archivedAt: null },
    data: { objectKey: key, sha256, archivedBytes: BigInt(bytes.length), archivedAt: new Date() },
  })
  if (count === 1) {
    if (p.objectKey !== null && p.objectKey !== key) await deps.objects.delete([p.objectKey])
    return 'archived'
  }
  const now = await prisma.deltaPartition.findUnique({ where: { channelId_partitionNo: { channelId, partitionNo } }, select: { objectKey: true } })
  if (now?.objectKey !== key) await deps.objects.delete([key])
  return 'superseded'
}

/**
 * Archives up to archiveBatchMax pending partitions, oldest first; answers how many it
 * wrote. A partition that fails is reported and skipped, so it cannot hold up the others.
 */
export async function archivePending(deps: ArchiveDeps, log: TaskLogger): Promise<number> {
  const pending = await deps.store.db.prisma.deltaPartition.findMany({
    where: { sealed: true, archivedAt: null },
    orderBy: [{ createdAt: 'asc' }, { channelId: 'asc' }, { partitionNo: 'asc' }],
    take: deps.config.archiveBatchMax,
    select: { channelId: true, partitionNo: true },
  })
  let written = 0
  for (const p of pending) {
    try {
      if ((await archivePartition(deps, p.channelId, p.partitionNo)) === 'archived') written++
    } catch (err) {
      log.error({ err, channelId: p.channelId, partitionNo: p.partitionNo }, 'archiving a sealed history partition failed; RESTORE pages it from the database until a later run succeeds')
    }
  }
  return written
}

/** Archives pending partitions every CHIME_ARCHIVE_INTERVAL_MS (0: only when asked). */
export function startHistoryArchiver(deps: ArchiveDeps & { config: Pick<Config, 'archiveBatchMax' | 'archiveIntervalMs'> }, log: TaskLogger): PeriodicTask<number> {
  return startPeriodicTask({
    intervalMs: deps.config.archiveIntervalMs,
    run: () => archivePending(deps, log),
    failed: 0,
    failure: 'archiving sealed history partitions failed; retrying on the next run',
    log,
  })
}
