// The append transaction on MySQL/MariaDB, through a mysql2 pool of its own (prepared
// statements, multi-row inserts) at READ COMMITTED:
//   lock the sequencer row -> read cursors and retried client_msg_ids -> write the plan ->
//   GET_LOCK(publish) -> COMMIT -> afterCommit (publish) -> RELEASE_LOCK.
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

export interface MysqlAppendOptions {
  onUnorderedPublish?: (why: string) => void
}

export function createMysqlAppendEngine(url: string, limits: PartitionLimits, opts: MysqlAppendOptions = {}): AppendEngine {
  const p = mysqlParts(url)
  const pool: Pool = createPool({
    host: p.host, port: p.port, user: p.user, password: p.password, database: p.database,
    connectionLimit: 4, timezone: 'Z', supportBigNumbers: true, bigNumberStrings: true, dateStrings: true,
  })
  pool.on('connection', (conn) => {
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')
  })
  const publishLock = `chime_publish_${p.database}`

  async function write(conn: PoolConnection, plan: AppendPlan): Promise<void> {
    const d = plan.deltas
    await conn.query(
      'INSERT INTO deltas (delta_id, channel_id, seq, type, user_id, content, client_msg_id, target_id, meta, attachments, is_partition_head, timestamp) VALUES ?',
      [d.map((r) => [r.id.toString(), r.channelId, r.seq.toString(), r.type, r.userId, r.content, r.clientMsgId, r.targetId?.toString() ?? null, r.meta, r.attachments, r.isPartitionHead ? 1 : 0, r.createdAt])],
    )
    const messages = d.filter((r) => r.type === 'message')
    if (messages.length > 0) {
      await conn.query(
        'INSERT INTO messages (message_id, channel_id, seq, user_id, kind, content, meta, attachments, reply_to, timestamp, expires_at) VALUES ?',
        [messages.map((r) => [
          r.id.toString(), r.channelId, r.seq.toString(), r.userId, r.message?.kind ?? 'text', r.content, r.meta, r.attachments,
          r.message?.replyTo?.toString() ?? null, r.createdAt, r.message?.expiresAt ?? null,
        ])],
      )
      const mentions = messages.flatMap((r) => (r.message?.mentions ?? []).map((target) => [r.id.toString(), r.channelId, r.seq.toString(), target]))
      if (mentions.length > 0) await conn.query('INSERT INTO message_mentions (message_id, channel_id, seq, target) VALUES ?', [mentions])
      const files = messages.flatMap((r) => (r.message?.fileIds ?? []).map((fileId, position) => [r.id.toString(), fileId, r.channelId, position]))
      if (files.length > 0) await conn.query('INSERT INTO attachments (message_id, file_id, channel_id, position) VALUES ?', [files])
    }
    for (const w of plan.partitions) {
      if (w.mode === 'create') {
        await conn.execute(
          'INSERT INTO delta_partitions (channel_id, partition_no, start_delta_id, end_delta_id, start_seq, end_seq, delta_count, byte_size, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3))',
          [w.channelId, w.partitionNo, w.startDeltaId.toString(), w.endDeltaId.toString(), w.startSeq.toString(), w.endSeq.toString(), w.deltaCount, w.byteSize.toString(), w.sealed ? 1 : 0],
        )
      } else if (w.mode === 'update') {
        await conn.execute(
          'UPDATE delta_partitions SET end_delta_id = ?, end_seq = ?, delta_count = ?, byte_size = ?, sealed = ? WHERE channel_id = ? AND partition_no = ?',
          [w.endDeltaId.toString(), w.endSeq.toString(), w.deltaCount, w.byteSize.toString(), w.sealed ? 1 : 0, w.channelId, w.partitionNo],
        )
      } else {
        await conn.execute('UPDATE delta_partitions SET sealed = TRUE WHERE channel_id = ? AND partition_no = ?', [w.channelId, w.partitionNo])
      }
    }
    const at = d.at(-1)?.createdAt ?? null
    for (const c of plan.channels) {
      await conn.execute('UPDATE channels SET last_seq = ?, partition_no = ?, partition_deltas = ?, partition_bytes = ?, last_activity_at = ? WHERE id = ?', [c.lastSeq.toString(), c.partitionNo, c.partitionDeltas, c.partitionBytes.toString(), at, c.id])
    }
    await conn.execute('UPDATE sequencer SET last_delta_id = ? WHERE id = 1', [plan.lastDeltaId.toString()])
  }

  async function lockSequencer(conn: PoolConnection): Promise<bigint> {
    const [locked] = await conn.execute<RowDataPacket[]>('SELECT last_delta_id AS last FROM sequencer WHERE id = 1 FOR UPDATE')
    if (locked.length !== 1) throw new Error('the sequencer row is missing: run the migrations')
    return BigInt(locked[0]!['last'] as string)
  }

  async function plan(conn: PoolConnection, inputs: readonly AppendInput[], last: bigint): Promise<AppendPlan> {
    const ids = [...new Set(inputs.map((i) => i.channelId))]
    const [rows] = await conn.query<RowDataPacket[]>('SELECT id, server_id, last_seq, partition_no, partition_deltas, partition_bytes FROM channels WHERE id IN (?)', [ids])
    const cursors: ChannelCursor[] = rows.map((c) => ({
      id: c['id'] as string, serverId: c['server_id'] as string | null, lastSeq: BigInt(c['last_seq'] as string),
      partitionNo: Number(c['partition_no']), partitionDeltas: Number(c['partition_deltas']), partitionBytes: BigInt(c['partition_bytes'] as string),
    }))
    const keyed = inputs.filter((i) => i.clientMsgId !== undefined)
    const prior = new Map<string, DeltaRecord>()
    if (keyed.length > 0) {
      const [found] = await conn.query<RowDataPacket[]>(
        'SELECT d.*, c.server_id FROM deltas d JOIN channels c ON c.id = d.channel_id WHERE (d.user_id, d.client_msg_id) IN (?)',
        [keyed.map((i) => [i.userId, i.clientMsgId])],
      )
      for (const r of found) {
        const record = mysqlDeltaRecord(r, r['server_id'] as string | null)
        prior.set(retryKey(record.userId, record.clientMsgId!), record)
      }
    }
    return planAppend(inputs, last, cursors, prior, limits)
  }

  /** Writes the plan, takes the publish lock, commits; answers whether the lock is held. */
  async function writeAndCommit(conn: PoolConnection, p: AppendPlan): Promise<boolean> {
    let holds = false
    if (p.deltas.length > 0) {
      await write(conn, p)
      const [[got]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [publishLock, PUBLISH_LOCK_TIMEOUT_S])
      holds = Number(got?.['got']) === 1
      if (!holds) opts.onUnorderedPublish?.(`the publish lock was not granted within ${PUBLISH_LOCK_TIMEOUT_S} s`)
    }
    await conn.commit()
    return holds
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
        await conn.beginTransaction()
        let results: AppendResult[]
        try {
          const p = await plan(conn, inputs, await lockSequencer(conn))
          holdsPublishLock = await writeAndCommit(conn, p)
          results = p.results
        } catch (err) {
          await conn.rollback().catch(() => undefined)
          throw err
        }
        await afterCommit(results)
        return results
      } finally {
        if (holdsPublishLock) await conn.query('SELECT RELEASE_LOCK(?)', [publishLock]).catch(() => undefined)
        conn.release()
      }
    },
    async transact(work, afterCommit) {
      const conn = await pool.getConnection()
      let holdsPublishLock = false
      try {
        await conn.beginTransaction()
        let value
        let results: AppendResult[]
        try {
          const last = await lockSequencer(conn)
          const outcome = await work(txOn(conn))
          value = outcome.value
          const p = outcome.deltas.length > 0 ? await plan(conn, outcome.deltas, last) : undefined
          holdsPublishLock = p === undefined ? (await conn.commit(), false) : await writeAndCommit(conn, p)
          results = p?.results ?? []
        } catch (err) {
          await conn.rollback().catch(() => undefined)
          throw err
        }
        await afterCommit(results, value)
        return { value, results }
      } finally {
        if (holdsPublishLock) await conn.query('SELECT RELEASE_LOCK(?)', [publishLock]).catch(() => undefined)
        conn.release()
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
