// The append transaction on MySQL/MariaDB, through a mysql2 pool of its own at READ
// COMMITTED, in as few round trips as the order of work allows (the statements of a step
// go as one multi-statement query; values are escaped by the driver):
//   1. START TRANSACTION, lock the sequencer row, read the channels' cursors and the
//      retried client_msg_ids (a transact runs its work between the lock and the reads)
//   2. write the plan (multi-row inserts), GET_LOCK(publish), COMMIT
//   3. afterCommit (publish), then RELEASE_LOCK, sent without waiting for its answer.
// The named lock is taken while the sequencer row is still held and released only after the
// publish, so across every API sidecar the publishes happen in commit order. If a sidecar
// dies, its connection and with it both locks go away.
import { createPool, type Pool, type PoolConnection, type RowDataPacket } from 'mysql2/promise'
import type { AppendInput, AppendResult, DeltaRecord, PartitionLimits } from './types.ts'
import { planAppend, retryKey, type AppendPlan, type ChannelCursor } from './append-plan.ts'
import { mysqlDeltaRecord } from './delta-reads-mysql.ts'
import type { AppendEngine, Row, SqlValue, Tx } from './append-engine.ts'
import { mysqlParts } from '../db/open-database.ts'

const PUBLISH_LOCK_TIMEOUT_S = 30
/** Statements are sent together up to this many bytes of SQL (max_allowed_packet is 16 MiB by default). */
const ROUND_TRIP_BYTES = 4 * 2 ** 20

export interface MysqlAppendOptions {
  onUnorderedPublish?: (why: string) => void
}

/** One statement and its values, for one round trip with others (see runTogether). */
type Statement = readonly [sql: string, values: readonly unknown[]]
type ResultSet = RowDataPacket[] | { affectedRows?: number }

/**
 * Sends the statements in order, as few multi-statement queries as ROUND_TRIP_BYTES allows,
 * and answers one result per statement. The first failing statement rejects, and MySQL runs
 * none after it.
 */
async function runTogether(conn: PoolConnection, statements: readonly Statement[]): Promise<ResultSet[]> {
  const out: ResultSet[] = []
  let texts: string[] = []
  let bytes = 0
  const flush = async (): Promise<void> => {
    if (texts.length === 0) return
    const [result] = await conn.query(texts.join(';\n'))
    if (texts.length === 1) out.push(result as ResultSet)
    else out.push(...(result as unknown as ResultSet[]))
    texts = []
    bytes = 0
  }
  for (const [sql, values] of statements) {
    const text = conn.format(sql, values as unknown[])
    if (bytes > 0 && bytes + text.length > ROUND_TRIP_BYTES) await flush()
    texts.push(text)
    bytes += text.length
  }
  await flush()
  return out
}

/** The statements writing a plan (see append-plan.ts). */
function writeStatements(plan: AppendPlan): Statement[] {
  const d = plan.deltas
  const out: Statement[] = [[
    'INSERT INTO deltas (delta_id, channel_id, seq, type, user_id, content, client_msg_id, target_id, meta, attachments, is_partition_head, timestamp) VALUES ?',
    [d.map((r) => [r.id.toString(), r.channelId, r.seq.toString(), r.type, r.userId, r.content, r.clientMsgId, r.targetId?.toString() ?? null, r.meta, r.attachments, r.isPartitionHead ? 1 : 0, r.createdAt])],
  ]]
  const messages = d.filter((r) => r.type === 'message')
  if (messages.length > 0) {
    out.push([
      'INSERT INTO messages (message_id, channel_id, seq, user_id, kind, content, meta, attachments, reply_to, timestamp, expires_at) VALUES ?',
      [messages.map((r) => [
        r.id.toString(), r.channelId, r.seq.toString(), r.userId, r.message?.kind ?? 'text', r.content, r.meta, r.attachments,
        r.message?.replyTo?.toString() ?? null, r.createdAt, r.message?.expiresAt ?? null,
      ])],
    ])
    const mentions = messages.flatMap((r) => (r.message?.mentions ?? []).map((target) => [r.id.toString(), r.channelId, r.seq.toString(), target]))
    if (mentions.length > 0) out.push(['INSERT INTO message_mentions (message_id, channel_id, seq, target) VALUES ?', [mentions]])
    const files = messages.flatMap((r) => (r.message?.fileIds ?? []).map((fileId, position) => [r.id.toString(), fileId, r.channelId, position]))
    if (files.length > 0) out.push(['INSERT INTO attachments (message_id, file_id, channel_id, position) VALUES ?', [files]])
  }
  for (const w of plan.partitions) {
    if (w.mode === 'create') {
      out.push([
        'INSERT INTO delta_partitions (channel_id, partition_no, start_delta_id, end_delta_id, start_seq, end_seq, delta_count, byte_size, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3))',
        [w.channelId, w.partitionNo, w.startDeltaId.toString(), w.endDeltaId.toString(), w.startSeq.toString(), w.endSeq.toString(), w.deltaCount, w.byteSize.toString(), w.sealed ? 1 : 0],
      ])
    } else if (w.mode === 'update') {
      out.push([
        'UPDATE delta_partitions SET end_delta_id = ?, end_seq = ?, delta_count = ?, byte_size = ?, sealed = ? WHERE channel_id = ? AND partition_no = ?',
        [w.endDeltaId.toString(), w.endSeq.toString(), w.deltaCount, w.byteSize.toString(), w.sealed ? 1 : 0, w.channelId, w.partitionNo],
      ])
    } else {
      out.push(['UPDATE delta_partitions SET sealed = TRUE WHERE channel_id = ? AND partition_no = ?', [w.channelId, w.partitionNo]])
    }
  }
  const at = d.at(-1)?.createdAt ?? null
  for (const c of plan.channels) {
    out.push(['UPDATE channels SET last_seq = ?, partition_no = ?, partition_deltas = ?, partition_bytes = ?, last_activity_at = ? WHERE id = ?', [c.lastSeq.toString(), c.partitionNo, c.partitionDeltas, c.partitionBytes.toString(), at, c.id]])
  }
  out.push(['UPDATE sequencer SET last_delta_id = ? WHERE id = 1', [plan.lastDeltaId.toString()]])
  return out
}

const BEGIN_AND_LOCK: readonly Statement[] = [
  ['START TRANSACTION', []],
  ['SELECT last_delta_id AS last FROM sequencer WHERE id = 1 FOR UPDATE', []],
]

function lastDeltaIdOf(locked: ResultSet | undefined): bigint {
  const rows = locked as RowDataPacket[] | undefined
  if (rows === undefined || rows.length !== 1) throw new Error('the sequencer row is missing: run the migrations')
  return BigInt(rows[0]!['last'] as string)
}

/** The reads a plan needs: the channels' cursors and the earlier commits of retried client_msg_ids (exported for its query-plan test). */
export function planReads(inputs: readonly AppendInput[]): Statement[] {
  const ids = [...new Set(inputs.map((i) => i.channelId))]
  const out: Statement[] = [['SELECT id, server_id, last_seq, partition_no, partition_deltas, partition_bytes FROM channels WHERE id IN (?)', [ids]]]
  const keyed = inputs.filter((i) => i.clientMsgId !== undefined)
  if (keyed.length > 0) {
    // Through the (user_id, client_msg_id) key alone: joined to channels, MariaDB read every
    // delta of the channel instead (5 ms a batch in a channel of a few thousand, growing with it).
    out.push([
      'SELECT d.*, (SELECT c.server_id FROM channels c WHERE c.id = d.channel_id) AS server_id FROM deltas d WHERE (d.user_id, d.client_msg_id) IN (?)',
      [keyed.map((i) => [i.userId, i.clientMsgId])],
    ])
  }
  return out
}

function planFrom(inputs: readonly AppendInput[], last: bigint, reads: readonly ResultSet[], limits: PartitionLimits): AppendPlan {
  const [channelRows, priorRows] = reads as RowDataPacket[][]
  const cursors: ChannelCursor[] = (channelRows ?? []).map((c) => ({
    id: c['id'] as string, serverId: c['server_id'] as string | null, lastSeq: BigInt(c['last_seq'] as string),
    partitionNo: Number(c['partition_no']), partitionDeltas: Number(c['partition_deltas']), partitionBytes: BigInt(c['partition_bytes'] as string),
  }))
  const prior = new Map<string, DeltaRecord>()
  for (const r of priorRows ?? []) {
    const record = mysqlDeltaRecord(r, r['server_id'] as string | null)
    prior.set(retryKey(record.userId, record.clientMsgId!), record)
  }
  return planAppend(inputs, last, cursors, prior, limits)
}

export function createMysqlAppendEngine(url: string, limits: PartitionLimits, opts: MysqlAppendOptions = {}): AppendEngine {
  const p = mysqlParts(url)
  // multipleStatements: this pool sends only the statements of this file and of Tx (always
  // with placeholders), several per round trip.
  const pool: Pool = createPool({
    host: p.host, port: p.port, user: p.user, password: p.password, database: p.database,
    connectionLimit: 4, timezone: 'Z', supportBigNumbers: true, bigNumberStrings: true, dateStrings: true, multipleStatements: true,
  })
  pool.on('connection', (conn) => {
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')
  })
  const publishLock = `chime_publish_${p.database}`

  /** Writes the plan, takes the publish lock and commits in one round trip; answers whether the lock is held. */
  async function writeAndCommit(conn: PoolConnection, plan: AppendPlan): Promise<boolean> {
    if (plan.deltas.length === 0) {
      await conn.commit()
      return false
    }
    const results = await runTogether(conn, [...writeStatements(plan), ['SELECT GET_LOCK(?, ?) AS got', [publishLock, PUBLISH_LOCK_TIMEOUT_S]], ['COMMIT', []]])
    const got = (results.at(-2) as RowDataPacket[] | undefined)?.[0]
    const holds = Number(got?.['got']) === 1
    if (!holds) opts.onUnorderedPublish?.(`the publish lock was not granted within ${PUBLISH_LOCK_TIMEOUT_S} s`)
    return holds
  }

  /** Gives the publish lock back and the connection to the pool; the release is not waited for (the connection runs it before anything else). */
  function finish(conn: PoolConnection, holdsPublishLock: boolean): void {
    if (holdsPublishLock) conn.query('SELECT RELEASE_LOCK(?)', [publishLock]).catch(() => undefined)
    conn.release()
  }

  function txOn(conn: PoolConnection): Tx {
    return {
      dialect: 'mysql',
      async all(sql, params = []) {
        const [rows] = await conn.query<RowDataPacket[]>(sql, params.map(toMysql))
        return rows.map((r) => ({ ...r }) as Row)
      },
      async run(sql, params = []) {
        const [result] = await conn.query(sql, params.map(toMysql))
        return (result as { affectedRows?: number }).affectedRows ?? 0
      },
    }
  }

  return {
    async append(inputs, afterCommit) {
      const conn = await pool.getConnection()
      let holdsPublishLock = false
      try {
        let results: AppendResult[]
        try {
          const [, locked, ...reads] = await runTogether(conn, [...BEGIN_AND_LOCK, ...planReads(inputs)])
          const plan = planFrom(inputs, lastDeltaIdOf(locked), reads, limits)
          holdsPublishLock = await writeAndCommit(conn, plan)
          results = plan.results
        } catch (err) {
          await conn.rollback().catch(() => undefined)
          throw err
        }
        await afterCommit(results)
        return results
      } finally {
        finish(conn, holdsPublishLock)
      }
    },
    async transact(work, afterCommit) {
      const conn = await pool.getConnection()
      let holdsPublishLock = false
      try {
        let value
        let results: AppendResult[]
        try {
          const [, locked] = await runTogether(conn, BEGIN_AND_LOCK)
          const last = lastDeltaIdOf(locked)
          const outcome = await work(txOn(conn))
          value = outcome.value
          const plan = outcome.deltas.length > 0 ? planFrom(outcome.deltas, last, await runTogether(conn, planReads(outcome.deltas)), limits) : undefined
          holdsPublishLock = plan === undefined ? (await conn.commit(), false) : await writeAndCommit(conn, plan)
          results = plan?.results ?? []
        } catch (err) {
          await conn.rollback().catch(() => undefined)
          throw err
        }
        await afterCommit(results, value)
        return { value, results }
      } finally {
        finish(conn, holdsPublishLock)
      }
    },
    async close() {
      await pool.end()
    },
  }
}

function toMysql(v: SqlValue): string | number | Date | null {
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'bigint') return v.toString()
  return v
}
