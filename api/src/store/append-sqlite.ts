// The append transaction on SQLite, through better-sqlite3 with prepared statements: one
// synchronous BEGIN IMMEDIATE transaction. Values are stored the way Prisma stores them
// (DateTime as ISO text with +00:00, Boolean as 0/1), so Prisma reads them back unchanged.
import Sqlite from 'better-sqlite3'
import type { AppendInput, AppendResult, DeltaRecord, PartitionLimits } from './types.ts'
import { planAppend, retryKey, toRecord, type AppendPlan, type ChannelCursor, type DeltaRow } from './append-plan.ts'
import type { AppendEngine, Row, SqlValue, Tx } from './append-engine.ts'

const BUSY_DEADLINE_MS = 10_000
const iso = (d: Date): string => d.toISOString().replace('Z', '+00:00')

interface RawDelta {
  delta_id: bigint
  channel_id: string
  seq: bigint
  type: string
  user_id: string
  content: string | null
  client_msg_id: string | null
  target_id: bigint | null
  meta: string | null
  attachments: string | null
  is_partition_head: bigint
  timestamp: string
  server_id: string | null
}

export function createSqliteAppendEngine(path: string, limits: PartitionLimits): AppendEngine {
  // No busy timeout: it would block the event loop while Prisma's own connection (same
  // process) holds the write lock between the steps of its transaction. Busy is retried
  // asynchronously instead, so Prisma can finish.
  const db = new Sqlite(path, { timeout: 0 })
  db.pragma('journal_mode = WAL')
  db.defaultSafeIntegers(true)
  const st = {
    last: db.prepare('SELECT last_delta_id AS last FROM sequencer WHERE id = 1'),
    channel: db.prepare('SELECT id, server_id, last_seq, partition_no, partition_deltas, partition_bytes FROM channels WHERE id = ?'),
    prior: db.prepare(`SELECT d.*, c.server_id FROM deltas d JOIN channels c ON c.id = d.channel_id WHERE d.user_id = ? AND d.client_msg_id = ?`),
    insertDelta: db.prepare(`INSERT INTO deltas (delta_id, channel_id, seq, type, user_id, content, client_msg_id, target_id, meta, attachments, is_partition_head, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    insertMessage: db.prepare(`INSERT INTO messages (message_id, channel_id, seq, user_id, kind, content, meta, attachments, reply_to, timestamp, expires_at, is_edited, is_deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`),
    insertMention: db.prepare(`INSERT INTO message_mentions (message_id, channel_id, seq, target) VALUES (?, ?, ?, ?)`),
    insertAttachment: db.prepare(`INSERT INTO attachments (message_id, file_id, channel_id, position) VALUES (?, ?, ?, ?)`),
    createPartition: db.prepare(`INSERT INTO delta_partitions (channel_id, partition_no, start_delta_id, end_delta_id, start_seq, end_seq, delta_count, byte_size, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    updatePartition: db.prepare(`UPDATE delta_partitions SET end_delta_id = ?, end_seq = ?, delta_count = ?, byte_size = ?, sealed = ? WHERE channel_id = ? AND partition_no = ?`),
    sealPartition: db.prepare(`UPDATE delta_partitions SET sealed = 1 WHERE channel_id = ? AND partition_no = ?`),
    updateChannel: db.prepare(`UPDATE channels SET last_seq = ?, partition_no = ?, partition_deltas = ?, partition_bytes = ?, last_activity_at = ? WHERE id = ?`),
    updateSequencer: db.prepare('UPDATE sequencer SET last_delta_id = ? WHERE id = 1'),
  }

  const write = (plan: AppendPlan): void => {
    for (const d of plan.deltas) {
      st.insertDelta.run(d.id, d.channelId, d.seq, d.type, d.userId, d.content, d.clientMsgId, d.targetId, d.meta, d.attachments, d.isPartitionHead ? 1 : 0, iso(d.createdAt))
      if (d.type === 'message') {
        const m = d.message
        st.insertMessage.run(d.id, d.channelId, d.seq, d.userId, m?.kind ?? 'text', d.content, d.meta, d.attachments, m?.replyTo ?? null, iso(d.createdAt), m?.expiresAt ? iso(m.expiresAt) : null)
        for (const target of m?.mentions ?? []) st.insertMention.run(d.id, d.channelId, d.seq, target)
        for (const [position, fileId] of (m?.fileIds ?? []).entries()) st.insertAttachment.run(d.id, fileId, d.channelId, position)
      }
    }
    for (const p of plan.partitions) {
      if (p.mode === 'create') st.createPartition.run(p.channelId, p.partitionNo, p.startDeltaId, p.endDeltaId, p.startSeq, p.endSeq, p.deltaCount, p.byteSize, p.sealed ? 1 : 0, iso(new Date()))
      else if (p.mode === 'update') st.updatePartition.run(p.endDeltaId, p.endSeq, p.deltaCount, p.byteSize, p.sealed ? 1 : 0, p.channelId, p.partitionNo)
      else st.sealPartition.run(p.channelId, p.partitionNo)
    }
    const at = plan.deltas.length > 0 ? iso(plan.deltas.at(-1)!.createdAt) : null
    for (const c of plan.channels) st.updateChannel.run(c.lastSeq, c.partitionNo, c.partitionDeltas, c.partitionBytes, at, c.id)
    st.updateSequencer.run(plan.lastDeltaId)
  }

  const lastDeltaId = (): bigint => {
    const last = (st.last.get() as { last: bigint } | undefined)?.last
    if (last === undefined) throw new Error('the sequencer row is missing: run the migrations')
    return last
  }

  const planAndWrite = (inputs: readonly AppendInput[], last: bigint): AppendResult[] => {
    const cursors: ChannelCursor[] = []
    for (const id of new Set(inputs.map((i) => i.channelId))) {
      const c = st.channel.get(id) as { id: string; server_id: string | null; last_seq: bigint; partition_no: bigint; partition_deltas: bigint; partition_bytes: bigint } | undefined
      if (c !== undefined) cursors.push({ id: c.id, serverId: c.server_id, lastSeq: c.last_seq, partitionNo: Number(c.partition_no), partitionDeltas: Number(c.partition_deltas), partitionBytes: c.partition_bytes })
    }
    const prior = new Map<string, DeltaRecord>()
    for (const i of inputs) {
      if (i.clientMsgId === undefined) continue
      const r = st.prior.get(i.userId, i.clientMsgId) as RawDelta | undefined
      if (r !== undefined) prior.set(retryKey(i.userId, i.clientMsgId), rawToRecord(r))
    }
    const plan = planAppend(inputs, last, cursors, prior, limits)
    if (plan.deltas.length > 0) write(plan)
    return plan.results
  }

  const transaction = db.transaction((inputs: readonly AppendInput[]): AppendResult[] => planAndWrite(inputs, lastDeltaId()))

  const retryBusy = async <T>(fn: () => T): Promise<T> => {
    const deadline = Date.now() + BUSY_DEADLINE_MS
    for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
      try {
        return fn()
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err
        await new Promise((r) => setTimeout(r, wait))
      }
    }
  }

  const tx: Tx = {
    dialect: 'sqlite',
    async all(sql, params = []) {
      return (db.prepare(sql).all(...params.map(toSqlite)) as Record<string, unknown>[]).map(normaliseRow)
    },
    async run(sql, params = []) {
      return db.prepare(sql).run(...params.map(toSqlite)).changes
    },
  }

  return {
    async append(inputs, afterCommit) {
      const results = await retryBusy(() => transaction.immediate(inputs))
      // One process writes this file, and the sequencer runs one append at a time, so the
      // publish that follows keeps commit order without a lock.
      await afterCommit(results)
      return results
    },
    async transact(work, afterCommit) {
      // The sequencer runs one transaction at a time, so nothing else uses this connection
      // while `work` awaits.
      await retryBusy(() => db.exec('BEGIN IMMEDIATE'))
      let value
      let results: AppendResult[]
      try {
        const last = lastDeltaId()
        const outcome = await work(tx)
        value = outcome.value
        results = outcome.deltas.length > 0 ? planAndWrite(outcome.deltas, last) : []
        db.exec('COMMIT')
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK')
        throw err
      }
      await afterCommit(results, value)
      return { value, results }
    },
    async close() {
      db.close()
    },
  }
}

function toSqlite(v: SqlValue): string | number | bigint | null {
  if (v instanceof Date) return iso(v)
  if (typeof v === 'boolean') return v ? 1 : 0
  return v
}

function normaliseRow(r: Record<string, unknown>): Row {
  const out: Row = {}
  for (const [k, v] of Object.entries(r)) {
    out[k] = typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString()) : (v as string | number | null)
  }
  return out
}

function rawToRecord(r: RawDelta): DeltaRecord {
  const row: DeltaRow = {
    id: r.delta_id, channelId: r.channel_id, seq: r.seq, type: r.type, userId: r.user_id, content: r.content,
    clientMsgId: r.client_msg_id, targetId: r.target_id, meta: r.meta, attachments: r.attachments, isPartitionHead: Number(r.is_partition_head) === 1, createdAt: new Date(r.timestamp),
  }
  return toRecord(row, r.server_id)
}
