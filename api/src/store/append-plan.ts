// The pure part of an append: given the log's position (last delta id, each channel's
// cursor) and the earlier commits of the retried client_msg_ids, decide every row the
// transaction writes. Both append engines (SQLite, MySQL) execute this plan.
import type { AppendInput, AppendResult, DeltaRecord, MessageFields, PartitionLimits } from './types.ts'

export interface ChannelCursor {
  id: string
  serverId: string | null
  lastSeq: bigint
  partitionNo: number
  partitionDeltas: number
  partitionBytes: bigint
}

export interface DeltaRow {
  id: bigint
  channelId: string
  seq: bigint
  type: string
  userId: string
  content: string | null
  clientMsgId: string | null
  targetId: bigint | null
  meta: string | null
  attachments: string | null
  isPartitionHead: boolean
  createdAt: Date
  /** Set on `message` deltas (see AppendInput.message). */
  message?: MessageFields | undefined
}

export interface PartitionWrite {
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

export interface AppendPlan {
  results: AppendResult[]
  deltas: DeltaRow[]
  partitions: PartitionWrite[]
  /** Channels whose cursor moved, with their new cursor. */
  channels: ChannelCursor[]
  lastDeltaId: bigint
}

/** What a delta adds to its partition's size: content, meta and attachments, in UTF-8 bytes. */
export function byteSize(input: Pick<AppendInput, 'content' | 'meta' | 'attachments'>): number {
  let n = 0
  if (input.content !== null) n += Buffer.byteLength(input.content, 'utf8')
  if (input.meta !== undefined) n += Buffer.byteLength(input.meta, 'utf8')
  if (input.attachments !== undefined) n += Buffer.byteLength(input.attachments, 'utf8')
  return n
}

export const retryKey = (userId: string, clientMsgId: string): string => `${userId}\u0000${clientMsgId}`

export function toRecord(row: DeltaRow, serverId: string | null): DeltaRecord {
  return {
    deltaId: row.id,
    channelId: row.channelId,
    serverId,
    seq: row.seq,
    type: row.type as DeltaRecord['type'],
    userId: row.userId,
    content: row.content,
    clientMsgId: row.clientMsgId,
    targetId: row.targetId,
    meta: row.meta,
    attachments: row.attachments,
    isPartitionHead: row.isPartitionHead,
    createdAt: row.createdAt,
  }
}

/**
 * Plans an append. `cursors` must hold every channel named by the inputs (callers check
 * access first, so a missing one is a programming error); `prior` maps retryKey to the
 * delta committed earlier under that (user, client_msg_id).
 */
export function planAppend(
  inputs: readonly AppendInput[],
  lastDeltaId: bigint,
  cursors: readonly ChannelCursor[],
  prior: ReadonlyMap<string, DeltaRecord>,
  limits: PartitionLimits,
  now: Date = new Date(),
): AppendPlan {
  const channels = new Map(cursors.map((c) => [c.id, { ...c }]))
  const seen = new Map(prior)
  const partitions = new Map<string, PartitionWrite>()
  const results: AppendResult[] = []
  const deltas: DeltaRow[] = []
  let last = lastDeltaId
  for (const input of inputs) {
    const key = input.clientMsgId === undefined ? undefined : retryKey(input.userId, input.clientMsgId)
    const earlier = key === undefined ? undefined : seen.get(key)
    if (earlier !== undefined) {
      results.push({ delta: earlier, duplicate: true })
      continue
    }
    const channel = channels.get(input.channelId)
    if (channel === undefined) throw new Error(`channel ${input.channelId} does not exist`)
    const bytes = BigInt(byteSize(input))
    const opensPartition =
      channel.partitionNo === 0 ||
      channel.partitionDeltas >= limits.maxDeltas ||
      (channel.partitionDeltas > 0 && channel.partitionBytes + bytes > BigInt(limits.maxBytes))
    last += 1n
    channel.lastSeq += 1n
    if (opensPartition) {
      const open = partitions.get(`${channel.id}:${channel.partitionNo}`)
      if (open !== undefined) open.sealed = true
      else if (channel.partitionNo > 0) {
        partitions.set(`${channel.id}:${channel.partitionNo}`, {
          channelId: channel.id, partitionNo: channel.partitionNo, startDeltaId: 0n, endDeltaId: 0n, startSeq: 0n, endSeq: 0n,
          deltaCount: channel.partitionDeltas, byteSize: channel.partitionBytes, sealed: true, mode: 'seal',
        })
      }
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
        channelId: channel.id, partitionNo: channel.partitionNo, startDeltaId: last, endDeltaId: last,
        startSeq: channel.lastSeq, endSeq: channel.lastSeq, deltaCount: channel.partitionDeltas, byteSize: channel.partitionBytes,
        sealed: false, mode: opensPartition ? 'create' : 'update',
      })
    } else {
      p.endDeltaId = last
      p.endSeq = channel.lastSeq
      p.deltaCount = channel.partitionDeltas
      p.byteSize = channel.partitionBytes
    }
    const row: DeltaRow = {
      id: last, channelId: channel.id, seq: channel.lastSeq, type: input.type, userId: input.userId,
      content: input.content, clientMsgId: input.clientMsgId ?? null, targetId: input.targetId ?? null, meta: input.meta ?? null,
      attachments: input.attachments ?? null, isPartitionHead: opensPartition, createdAt: now, message: input.message,
    }
    deltas.push(row)
    const record = toRecord(row, channel.serverId)
    results.push({ delta: record, duplicate: false })
    if (key !== undefined) seen.set(key, record)
  }
  const moved = new Set(deltas.map((d) => d.channelId))
  return { results, deltas, partitions: [...partitions.values()], channels: [...channels.values()].filter((c) => moved.has(c.id)), lastDeltaId: last }
}
