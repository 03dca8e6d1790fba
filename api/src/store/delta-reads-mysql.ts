// The hot reads of the delta log on MySQL/MariaDB (SYNC and RESTORE pages of up to 1,000
// deltas) through a small mysql2 pool of their own: materialising 1,000 rows through
// Prisma's MariaDB adapter cost SYNC's p99 about twice the 50 ms target
// (docs/benchmarks.md, "History"). Other reads stay on Prisma.
import { createPool, type Pool, type RowDataPacket } from 'mysql2/promise'
import { mysqlParts } from '../db/open-database.ts'
import { toRecord } from './append-plan.ts'
import type { DeltaRecord } from './types.ts'

/** A deltas row as mysql2 returns it (big numbers and dates as strings) into a record. */
export function mysqlDeltaRecord(r: RowDataPacket, serverId: string | null): DeltaRecord {
  return toRecord(
    {
      id: BigInt(r['delta_id'] as string), channelId: r['channel_id'] as string, seq: BigInt(r['seq'] as string), type: r['type'] as string,
      userId: r['user_id'] as string, content: r['content'] as string | null, clientMsgId: r['client_msg_id'] as string | null,
      targetId: r['target_id'] === null ? null : BigInt(r['target_id'] as string), meta: r['meta'] as string | null,
      attachments: r['attachments'] === null ? null : typeof r['attachments'] === 'string' ? r['attachments'] : JSON.stringify(r['attachments']),
      isPartitionHead: Number(r['is_partition_head']) === 1, createdAt: new Date(`${String(r['timestamp']).replace(' ', 'T')}Z`),
    },
    serverId,
  )
}

const COLUMNS = 'd.delta_id, d.channel_id, d.seq, d.type, d.user_id, d.content, d.client_msg_id, d.target_id, d.meta, d.attachments, d.is_partition_head, d.timestamp'

export interface DeltaReads {
  /** Deltas of one channel with seq > afterSeq, in seq order. */
  channelDeltas(channelId: string, serverId: string | null, afterSeq: bigint, limit: number): Promise<DeltaRecord[]>
  /** Deltas of the given channels with delta_id in (after, upTo], oldest first, with their server ids. */
  deltasAfter(channelIds: readonly string[], after: bigint, upTo: bigint, limit: number): Promise<DeltaRecord[]>
  close(): Promise<void>
}

export function createMysqlDeltaReads(url: string): DeltaReads {
  const p = mysqlParts(url)
  const pool: Pool = createPool({
    host: p.host, port: p.port, user: p.user, password: p.password, database: p.database,
    connectionLimit: 4, timezone: 'Z', supportBigNumbers: true, bigNumberStrings: true, dateStrings: true,
  })
  return {
    async channelDeltas(channelId, serverId, afterSeq, limit) {
      const [rows] = await pool.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM deltas d WHERE d.channel_id = ? AND d.seq > ? ORDER BY d.seq LIMIT ${Math.max(0, Math.floor(limit))}`, [channelId, afterSeq.toString()])
      return rows.map((r) => mysqlDeltaRecord(r, serverId))
    },
    async deltasAfter(channelIds, after, upTo, limit) {
      if (channelIds.length === 0) return []
      const [rows] = await pool.query<RowDataPacket[]>(
        `SELECT ${COLUMNS}, c.server_id FROM deltas d JOIN channels c ON c.id = d.channel_id
         WHERE d.channel_id IN (?) AND d.delta_id > ? AND d.delta_id <= ? ORDER BY d.delta_id LIMIT ${Math.max(0, Math.floor(limit))}`,
        [channelIds, after.toString(), upTo.toString()],
      )
      return rows.map((r) => mysqlDeltaRecord(r, r['server_id'] as string | null))
    },
    close: () => pool.end(),
  }
}
