// The delta log: the append transaction of the sequencer and the reads of SYNC and RESTORE.
// Invariants (docs/architecture.md): delta_id follows commit order (the sequencer row is
// locked for the whole transaction), seq is gapless per channel, (user, client_msg_id) is
// appended at most once, and a delta row is never updated.
import type { Database, TransactionClient } from '../db/open-database.ts'
import type { AppendInput, AppendResult, DeltaRecord, PartitionLimits } from './types.ts'
import type { DeltaType } from '../../../clients/sdk/src/protocol.ts'

interface DeltaRow {
  id: bigint
  channelId: string
  seq: bigint
  type: string
  userId: string
  content: string | null
  clientMsgId: string | null
  isPartitionHead: boolean
  createdAt: Date
}

function toRecord(row: DeltaRow, serverId: string | null): DeltaRecord {
  return {
    deltaId: row.id,
    channelId: row.channelId,
    serverId,
    seq: row.seq,
    type: row.type as DeltaType,
    userId: row.userId,
    content: row.content,
    clientMsgId: row.clientMsgId,
    isPartitionHead: row.isPartitionHead,
    createdAt: row.createdAt,
  }
}

interface ChannelCursor {
  id: string
  serverId: string | null
  lastSeq: bigint
  partitionNo: number
  partitionDeltas: number
  partitionBytes: bigint
}

interface PartitionWrite {
  channelId: string
  partitionNo: number
  startDeltaId: bigint
  endDeltaId: bigint
  startSeq: bigint
  endSeq: bigint
  deltaCount: number
  byteSize: bigint
  sealed: boolean
  /** create: opened by this batch; update: open before, appended to; seal: closed only. */
  mode: 'create' | 'update' | 'seal'
}

export class DeltaLog {
  constructor(
    private readonly db: Database,
    private readonly limits: PartitionLimits,
  ) {}

  /**
   * Appends a batch in one transaction and returns one result per input, in input order.
   * Inputs must name existing channels (callers check access first).
   */
  async append(inputs: readonly AppendInput[]): Promise<AppendResult[]> {
    const { prisma, dialect } = this.db
    const run = async (tx: TransactionClient): Promise<AppendResult[]> => {
      const locked = dialect === 'mysql'
        ? await tx.$queryRaw<{ last: bigint }[]>`SELECT last_delta_id AS last FROM sequencer WHERE id = 1 FOR UPDATE`
        : await tx.$queryRaw<{ last: bigint }[]>`SELECT last_delta_id AS last FROM sequencer WHERE id = 1`
      if (locked.length !== 1) throw new Error('the sequencer row is missing: run the migrations')
      let lastDeltaId = BigInt(locked[0]!.last)

      const channelIds = [...new Set(inputs.map((i) => i.channelId))]
      const channelRows = await tx.channel.findMany({
        where: { id: { in: channelIds } },
        select: { id: true, serverId: true, lastSeq: true, partitionNo: true, partitionDeltas: true, partitionBytes: true },
      })
      const channels = new Map<string, ChannelCursor>(channelRows.map((c) => [c.id, { ...c }]))

      // Exactly-once: earlier commits of the same (user, client_msg_id) answer for themselves.
      const keyed = inputs.filter((i) => i.clientMsgId !== undefined)
      const existing = new Map<string, DeltaRecord>()
      if (keyed.length > 0) {
        const rows = await tx.delta.findMany({
          where: { OR: keyed.map((i) => ({ userId: i.userId, clientMsgId: i.clientMsgId! })) },
        })
        const serverOf = await this.serverIdsOf(tx, rows.map((r) => r.channelId), channels)
        for (const row of rows) existing.set(`${row.userId}\u0000${row.clientMsgId}`, toRecord(row, serverOf.get(row.channelId) ?? null))
      }

      const now = new Date()
      const results: AppendResult[] = []
      const newRows: DeltaRow[] = []
      const partitions = new Map<string, PartitionWrite>()

      for (const input of inputs) {
        const key = input.clientMsgId === undefined ? undefined : `${input.userId}\u0000${input.clientMsgId}`
        const prior = key === undefined ? undefined : existing.get(key)
        if (prior !== undefined) {
          results.push({ delta: prior, duplicate: true })
          continue
        }
        const channel = channels.get(input.channelId)
        if (channel === undefined) throw new Error(`channel ${input.channelId} does not exist`)
        const bytes = BigInt(Buffer.byteLength(input.content ?? '', 'utf8'))
        const full =
          channel.partitionNo === 0 ||
          channel.partitionDeltas >= this.limits.maxDeltas ||
          (channel.partitionDeltas > 0 && channel.partitionBytes + bytes > BigInt(this.limits.maxBytes))
        lastDeltaId += 1n
        channel.lastSeq += 1n
        if (full) {
          const open = partitions.get(`${channel.id}:${channel.partitionNo}`)
          if (open !== undefined) open.sealed = true
          else if (channel.partitionNo > 0) partitions.set(`${channel.id}:${channel.partitionNo}`, this.sealOnly(channel))
          channel.partitionNo += 1
          channel.partitionDeltas = 0
          channel.partitionBytes = 0n
        }
        channel.partitionDeltas += 1
        channel.partitionBytes += bytes
        const pkey = `${channel.id}:${channel.partitionNo}`
        const p = partitions.get(pkey)
        if (p === undefined) {
          partitions.set(pkey, {
            channelId: channel.id,
            partitionNo: channel.partitionNo,
            startDeltaId: lastDeltaId,
            endDeltaId: lastDeltaId,
            startSeq: channel.lastSeq,
            endSeq: channel.lastSeq,
            deltaCount: channel.partitionDeltas,
            byteSize: channel.partitionBytes,
            sealed: false,
            mode: full ? 'create' : 'update',
          })
        } else {
          p.endDeltaId = lastDeltaId
          p.endSeq = channel.lastSeq
          p.deltaCount = channel.partitionDeltas
          p.byteSize = channel.partitionBytes
        }
        const row: DeltaRow = {
          id: lastDeltaId,
          channelId: channel.id,
          seq: channel.lastSeq,
          type: input.type,
          userId: input.userId,
          content: input.content,
          clientMsgId: input.clientMsgId ?? null,
          isPartitionHead: full,
          createdAt: now,
        }
        newRows.push(row)
        const record = toRecord(row, channel.serverId)
        results.push({ delta: record, duplicate: false })
        if (key !== undefined) existing.set(key, record)
      }

      if (newRows.length === 0) return results
      await tx.delta.createMany({ data: newRows })
      const messages = newRows.filter((r) => r.type === 'message')
      if (messages.length > 0) {
        await tx.message.createMany({
          data: messages.map((r) => ({ id: r.id, channelId: r.channelId, seq: r.seq, userId: r.userId, content: r.content, createdAt: r.createdAt })),
        })
      }
      for (const p of partitions.values()) {
        const values = { endDeltaId: p.endDeltaId, endSeq: p.endSeq, deltaCount: p.deltaCount, byteSize: p.byteSize, sealed: p.sealed }
        const where = { channelId_partitionNo: { channelId: p.channelId, partitionNo: p.partitionNo } }
        if (p.mode === 'create') await tx.deltaPartition.create({ data: { channelId: p.channelId, partitionNo: p.partitionNo, startDeltaId: p.startDeltaId, startSeq: p.startSeq, ...values } })
        else if (p.mode === 'update') await tx.deltaPartition.update({ where, data: values })
        else await tx.deltaPartition.update({ where, data: { sealed: true } })
      }
      for (const id of new Set(newRows.map((r) => r.channelId))) {
        const c = channels.get(id)!
        await tx.channel.update({
          where: { id },
          data: { lastSeq: c.lastSeq, partitionNo: c.partitionNo, partitionDeltas: c.partitionDeltas, partitionBytes: c.partitionBytes },
        })
      }
      await tx.sequencer.update({ where: { id: 1 }, data: { lastDeltaId } })
      return results
    }
    return dialect === 'mysql'
      ? prisma.$transaction(run, { isolationLevel: 'ReadCommitted', timeout: 30_000, maxWait: 30_000 })
      : prisma.$transaction(run, { timeout: 30_000, maxWait: 30_000 })
  }

  // A partition that was open before this batch and is closed by it: only its seal flag changes.
  private sealOnly(channel: ChannelCursor): PartitionWrite {
    return {
      channelId: channel.id,
      partitionNo: channel.partitionNo,
      startDeltaId: 0n,
      endDeltaId: 0n,
      startSeq: 0n,
      endSeq: channel.lastSeq - 1n,
      deltaCount: channel.partitionDeltas,
      byteSize: channel.partitionBytes,
      sealed: true,
      mode: 'seal',
    }
  }

  private async serverIdsOf(tx: TransactionClient, channelIds: string[], known: Map<string, ChannelCursor>): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>()
    const unknown: string[] = []
    for (const id of new Set(channelIds)) {
      const c = known.get(id)
      if (c !== undefined) out.set(id, c.serverId)
      else unknown.push(id)
    }
    if (unknown.length > 0) {
      for (const c of await tx.channel.findMany({ where: { id: { in: unknown } }, select: { id: true, serverId: true } })) out.set(c.id, c.serverId)
    }
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
    const rows = await this.db.prisma.delta.findMany({
      where: { channelId: { in: [...channelIds] }, id: { gt: after, lte: upTo } },
      orderBy: { id: 'asc' },
      take: limit,
    })
    const servers = await this.serverIdsOf(this.db.prisma, rows.map((r) => r.channelId), new Map())
    return rows.map((r) => toRecord(r, servers.get(r.channelId) ?? null))
  }

  /** Deltas of one channel with seq > afterSeq, in seq order. */
  async channelDeltas(channelId: string, serverId: string | null, afterSeq: bigint, limit: number): Promise<DeltaRecord[]> {
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

  async partitions(channelId: string): Promise<{ partitionNo: number; startSeq: bigint; endSeq: bigint; deltaCount: number; byteSize: bigint; sealed: boolean }[]> {
    return this.db.prisma.deltaPartition.findMany({
      where: { channelId },
      orderBy: { partitionNo: 'asc' },
      select: { partitionNo: true, startSeq: true, endSeq: true, deltaCount: true, byteSize: true, sealed: true },
    })
  }
}
