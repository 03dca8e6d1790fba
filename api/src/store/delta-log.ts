// The delta log: the append transaction of the sequencer (append-*.ts) and the reads of
// SYNC and RESTORE (through Prisma).
// Invariants (docs/architecture.md): delta_id follows commit order (the sequencer row is
// locked for the whole transaction), seq is gapless per channel, (user, client_msg_id) is
// appended at most once, and a delta row is never updated.
import type { Database } from '../db/open-database.ts'
import type { AppendEngine, Tx, TxOutcome } from './append-engine.ts'
import type { DeltaRow } from './append-plan.ts'
import type { AppendInput, AppendResult, DeltaRecord } from './types.ts'
import type { DeltaType } from '../../../clients/sdk/src/protocol.ts'
import type { DeltaReads } from './delta-reads-mysql.ts'

/** A deltas row as Prisma reads it (attachments: the Json column's value). */
type DeltaRowRead = Omit<DeltaRow, 'attachments' | 'message'> & { attachments: unknown }

export function toRecord(row: DeltaRowRead, serverId: string | null): DeltaRecord {
  return {
    deltaId: row.id,
    channelId: row.channelId,
    serverId,
    seq: row.seq,
    type: row.type as DeltaType,
    userId: row.userId,
    content: row.content,
    clientMsgId: row.clientMsgId,
    targetId: row.targetId,
    meta: row.meta,
    attachments: row.attachments === null || row.attachments === undefined ? null : JSON.stringify(row.attachments),
    isPartitionHead: row.isPartitionHead,
    createdAt: row.createdAt,
  }
}

/** Channel ids per query: under SQLite's limit of 999 bound parameters. */
const IN_CHUNK = 900

export class DeltaLog {
  constructor(
    private readonly db: Database,
    private readonly engine: AppendEngine,
    /** The page reads on the driver directly (MySQL); Prisma otherwise. */
    private readonly reads?: DeltaReads,
  ) {}

  /**
   * Appends a batch in one transaction and returns one result per input, in input order;
   * `afterCommit` (the publish) runs after the commit, in commit order across processes.
   * Inputs must name existing channels (callers check access first).
   */
  append(inputs: readonly AppendInput[], afterCommit: (results: AppendResult[]) => Promise<void> = async () => {}): Promise<AppendResult[]> {
    return this.engine.append(inputs, afterCommit)
  }

  /** Runs `work` in an append transaction and appends the deltas it returns (see AppendEngine.transact). */
  transact<T>(work: (tx: Tx) => Promise<TxOutcome<T>>, afterCommit: (results: AppendResult[], value: T) => Promise<void> = async () => {}): Promise<{ value: T; results: AppendResult[] }> {
    return this.engine.transact(work, afterCommit)
  }

  private async serverIdsOf(channelIds: string[]): Promise<Map<string, string | null>> {
    const unique = [...new Set(channelIds)]
    const out = new Map<string, string | null>()
    if (unique.length === 0) return out
    for (const c of await this.db.prisma.channel.findMany({ where: { id: { in: unique } }, select: { id: true, serverId: true } })) out.set(c.id, c.serverId)
    return out
  }

  /** The newest committed delta id (0 when the log is empty). */
  async lastDeltaId(): Promise<bigint> {
    const row = await this.db.prisma.sequencer.findUnique({ where: { id: 1 } })
    return row?.lastDeltaId ?? 0n
  }

  /** Deltas of the given channels with delta_id in (after, upTo], oldest first. */
  async deltasAfter(channelIds: readonly string[], after: bigint, upTo: bigint, limit: number): Promise<DeltaRecord[]> {
    if (channelIds.length === 0 || after >= upTo) return []
    if (this.reads !== undefined) return this.reads.deltasAfter(channelIds, after, upTo, limit)
    // Prisma binds each id as a parameter and SQLite takes at most 999: ask per chunk of
    // channels, each for its first `limit` deltas; the first `limit` of their union is exact.
    const chunks: string[][] = []
    for (let i = 0; i < channelIds.length; i += IN_CHUNK) chunks.push(channelIds.slice(i, i + IN_CHUNK))
    const found = await Promise.all(chunks.map((ids) => this.db.prisma.delta.findMany({
      where: { channelId: { in: ids }, id: { gt: after, lte: upTo } },
      orderBy: { id: 'asc' },
      take: limit,
    })))
    const rows = chunks.length === 1 ? found[0]! : found.flat().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, limit)
    const servers = await this.serverIdsOf(rows.map((r) => r.channelId))
    return rows.map((r) => toRecord(r, servers.get(r.channelId) ?? null))
  }

  /**
   * Whether more than `cap` deltas of the given channels lie in (after, upTo]: a COUNT over
   * at most cap + 1 index entries, with nothing read into memory.
   */
  async moreThanAfter(channelIds: readonly string[], after: bigint, upTo: bigint, cap: number): Promise<boolean> {
    let total = 0
    for (let i = 0; i < channelIds.length && total <= cap; i += IN_CHUNK) {
      total += await this.db.prisma.delta.count({ where: { channelId: { in: channelIds.slice(i, i + IN_CHUNK) }, id: { gt: after, lte: upTo } }, take: cap + 1 - total })
    }
    return total > cap
  }

  /**
   * How many deltas of each of the given channels lie among the oldest `cap` + 1 in
   * (after, upTo]: which channels a client that is more than `cap` behind misses, at least.
   */
  async countAfter(channelIds: readonly string[], after: bigint, upTo: bigint, cap: number): Promise<Map<string, number>> {
    const byChannel = new Map<string, number>()
    let total = 0
    for (let i = 0; i < channelIds.length && total <= cap; i += IN_CHUNK) {
      const rows = await this.db.prisma.delta.findMany({
        where: { channelId: { in: channelIds.slice(i, i + IN_CHUNK) }, id: { gt: after, lte: upTo } },
        orderBy: { id: 'asc' },
        take: cap + 1 - total,
        select: { channelId: true },
      })
      for (const r of rows) byChannel.set(r.channelId, (byChannel.get(r.channelId) ?? 0) + 1)
      total += rows.length
    }
    return byChannel
  }

  /** Deltas of one channel with seq > afterSeq, in seq order. */
  async channelDeltas(channelId: string, serverId: string | null, afterSeq: bigint, limit: number): Promise<DeltaRecord[]> {
    if (this.reads !== undefined) return this.reads.channelDeltas(channelId, serverId, afterSeq, limit)
    const rows = await this.db.prisma.delta.findMany({
      where: { channelId, seq: { gt: afterSeq } },
      orderBy: { seq: 'asc' },
      take: limit,
    })
    return rows.map((r) => toRecord(r, serverId))
  }

  async channelLastSeq(channelId: string): Promise<bigint> {
    const row = await this.db.prisma.channel.findUnique({ where: { id: channelId }, select: { lastSeq: true } })
    return row?.lastSeq ?? 0n
  }

  /** The channel's log partitions in order, with their archive files (sealed ones, once written). */
  async partitions(channelId: string): Promise<PartitionRecord[]> {
    return this.db.prisma.deltaPartition.findMany({
      where: { channelId },
      orderBy: { partitionNo: 'asc' },
      select: {
        partitionNo: true, startSeq: true, endSeq: true, startDeltaId: true, endDeltaId: true, deltaCount: true, byteSize: true, sealed: true,
        objectKey: true, sha256: true, archivedBytes: true, archivedAt: true,
      },
    })
  }
}

export interface PartitionRecord {
  partitionNo: number
  startSeq: bigint
  endSeq: bigint
  startDeltaId: bigint
  endDeltaId: bigint
  deltaCount: number
  byteSize: bigint
  sealed: boolean
  objectKey: string | null
  sha256: string | null
  archivedBytes: bigint | null
  archivedAt: Date | null
}
