// Reads behind LIST_CHATS: the activity order of a user's channels and chats, then for just
// one page of them their rows (with server names and 1:1 partners) and their newest
// messages (with sender names), each in one statement. Raw SQL throughout: Prisma's query
// builder refuses more than 999 parameters on SQLite, and every value a query returns
// costs the driver adapter more than the database's work for it, so only what the list
// shows is selected.
import type { MessageKind } from '../../../clients/sdk/src/protocol.ts'
import type { Database } from '../db/open-database.ts'
import type { ChannelKind } from './types.ts'
import { rawBigint, rawDate } from './read-markers.ts'

export interface PersonJson {
  id: string
  /** null for a deleted account. */
  displayName: string | null
  iconFileId: string | null
}

export interface ListedChannel {
  id: string
  serverId: string | null
  kind: ChannelKind
  name: string
  iconFileId: string | null
  closed: boolean
  lastSeq: bigint
  lastActivityAt: Date | null
  createdAt: Date
  serverName: string | null
  serverIconFileId: string | null
  /** The other member of a 1:1 chat. */
  partner: PersonJson | null
  /** The user's read marker there (0 and 0: never marked). */
  readSeq: bigint
  receivedSeq: bigint
}

export interface LastMessage {
  id: bigint
  channelId: string
  seq: bigint
  userId: string
  /** null for a deleted account. */
  senderName: string | null
  kind: MessageKind
  content: string | null
  isDeleted: boolean
  expiresAt: Date | null
  createdAt: Date
}

/** Ids per statement (SQLite takes at most 32,766 parameters). */
const CHUNK = 10_000

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
const marks = (n: number): string => Array.from({ length: n }, () => '?').join(', ')

/** The list order in code, for merging chunks: as the SQL ORDER BY. */
function byActivity(a: ListedChannel, b: ListedChannel): number {
  const at = (c: ListedChannel): number => c.lastActivityAt?.getTime() ?? -Infinity
  return at(b) - at(a) || b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

export class ChatListStore {
  constructor(private readonly db: Database) {}

  /**
   * Ids of every channel of the user's servers (their own logs too) and every chat it is in,
   * most recent activity first (never active: newest first; both databases put NULLs last in
   * a descending sort). Driven by the user's memberships through their indexes: neither a
   * scan of all channels nor a statement carrying thousands of ids (an IN list of 2,000 ids
   * alone costs MariaDB tens of milliseconds). Permissions are not applied here: the caller
   * keeps only what the directory says the user may read.
   */
  async candidates(userId: string): Promise<string[]> {
    const mine = `SELECT c.id, c.last_activity_at, c.created_at
           FROM server_users su JOIN channels c ON c.server_id = su.server_id
           WHERE su.user_id = ? AND c.closed_at IS NULL
         UNION ALL
         SELECT c.id, c.last_activity_at, c.created_at
           FROM chat_members cm JOIN channels c ON c.id = cm.channel_id
           WHERE cm.user_id = ?`
    const order = 'x.last_activity_at DESC, x.created_at DESC, x.id ASC'
    if (this.db.dialect === 'sqlite') {
      // One row of comma-joined ids (ids never hold commas): the adapter's cost is per row
      // and per value, and this list has thousands.
      const [row] = await this.db.prisma.$queryRawUnsafe<{ ids: string | null }[]>(`SELECT group_concat(x.id, ',' ORDER BY ${order}) AS ids FROM (${mine}) x`, userId, userId)
      return row?.ids === null || row?.ids === undefined || row.ids === '' ? [] : row.ids.split(',')
    }
    const rows = await this.db.prisma.$queryRawUnsafe<{ id: string }[]>(`SELECT x.id FROM (${mine}) x ORDER BY ${order}`, userId, userId)
    return rows.map((r) => String(r.id))
  }

  /**
   * The user's role in each of its servers, and a fingerprint of everything its readable set
   * depends on besides its chats: each server, its role there and the last_seq of the
   * server's own log (every change of memberships, roles, channels or overrides is a delta
   * there).
   */
  async roles(userId: string): Promise<{ roles: Map<string, string>; fingerprint: string }> {
    const rows = await this.db.prisma.$queryRawUnsafe<{ server_id: string; role: string; last_seq: unknown }[]>(
      `SELECT su.server_id, su.role, c.last_seq FROM server_users su LEFT JOIN channels c ON c.id = su.server_id
       WHERE su.user_id = ? ORDER BY su.server_id`,
      userId,
    )
    return {
      roles: new Map(rows.map((r) => [String(r.server_id), String(r.role)])),
      fingerprint: rows.map((r) => `${String(r.server_id)}:${String(r.role)}:${r.last_seq === null || r.last_seq === undefined ? '-' : rawBigint(r.last_seq).toString()}`).join(';'),
    }
  }

  /** The listed rows of the given channels (as seen by `userId`), in the order of the ids given. */
  async rows(channelIds: readonly string[], userId: string): Promise<ListedChannel[]> {
    if (channelIds.length === 0) return []
    const rows = await this.select(userId, `WHERE c.id IN (${marks(channelIds.length)})`, channelIds)
    const byId = new Map(rows.map((r) => [r.id, r]))
    return channelIds.flatMap((id) => byId.get(id) ?? [])
  }

  /**
   * One page of exactly the given channels, sorted by the database (the way round when the
   * membership query and the directory disagree). Past CHUNK ids each chunk yields its first
   * skip+take rows and the page is cut from their merge.
   */
  async page(channelIds: readonly string[], userId: string, skip: number, take: number): Promise<ListedChannel[]> {
    if (channelIds.length === 0) return []
    const order = 'ORDER BY c.last_activity_at DESC, c.created_at DESC, c.id ASC'
    if (channelIds.length <= CHUNK) return this.select(userId, `WHERE c.id IN (${marks(channelIds.length)}) ${order} LIMIT ${Math.trunc(take)} OFFSET ${Math.trunc(skip)}`, channelIds)
    const keys: ListedChannel[] = []
    for (let i = 0; i < channelIds.length; i += CHUNK) {
      const chunk = channelIds.slice(i, i + CHUNK)
      keys.push(...(await this.select(userId, `WHERE c.id IN (${marks(chunk.length)}) ${order} LIMIT ${Math.trunc(skip + take)}`, chunk)))
    }
    return keys.sort(byActivity).slice(skip, skip + take)
  }

  /** Channel rows with their server's name and icon, for 1:1 chats the other member, and the user's read marker. */
  private async select(userId: string, where: string, ids: readonly string[]): Promise<ListedChannel[]> {
    const rows = await this.db.prisma.$queryRawUnsafe<Record<string, unknown>[]>(
      `SELECT c.id, c.server_id, c.kind, c.name, c.icon_file_id, c.closed_at, c.last_seq, c.last_activity_at, c.created_at,
              s.name AS server_name, s.icon_file_id AS server_icon,
              p.user_id AS partner_id, u.display_name AS partner_name, u.icon_file_id AS partner_icon, u.deleted_at AS partner_deleted,
              rm.read_seq, rm.received_seq
       FROM channels c
       LEFT JOIN servers s ON s.id = c.server_id
       LEFT JOIN chat_members p ON c.kind = 'dm' AND p.channel_id = c.id AND p.user_id <> ?
       LEFT JOIN users u ON u.id = p.user_id
       LEFT JOIN read_markers rm ON rm.user_id = ? AND rm.channel_id = c.id
       ${where}`,
      userId, userId, ...ids,
    )
    return rows.map((r) => {
      const partnerId = text(r['partner_id'])
      const partnerGone = r['partner_deleted'] !== null && r['partner_deleted'] !== undefined
      return {
        id: String(r['id']),
        serverId: text(r['server_id']),
        kind: String(r['kind']) as ChannelKind,
        name: String(r['name']),
        iconFileId: text(r['icon_file_id']),
        closed: r['closed_at'] !== null && r['closed_at'] !== undefined,
        lastSeq: rawBigint(r['last_seq']),
        lastActivityAt: rawDate(r['last_activity_at']),
        createdAt: rawDate(r['created_at']) ?? new Date(0),
        serverName: text(r['server_name']),
        serverIconFileId: text(r['server_icon']),
        partner: partnerId === null ? null : { id: partnerId, displayName: partnerGone ? null : text(r['partner_name']), iconFileId: partnerGone ? null : text(r['partner_icon']) },
        readSeq: rawBigint(r['read_seq'] ?? 0),
        receivedSeq: rawBigint(r['received_seq'] ?? 0),
      }
    })
  }

  /**
   * The newest message of each channel (deleted and expired ones included: the caller shows
   * them as deleted) with its author's name, in one statement: per channel an index lookup
   * of its highest seq.
   */
  async lastMessages(channelIds: readonly string[]): Promise<Map<string, LastMessage>> {
    const out = new Map<string, LastMessage>()
    if (channelIds.length === 0) return out
    const rows = await this.db.prisma.$queryRawUnsafe<Record<string, unknown>[]>(
      `SELECT m.message_id, m.channel_id, m.seq, m.user_id, m.kind, m.content, m.is_deleted, m.expires_at, m.timestamp,
              u.display_name, u.deleted_at AS user_deleted
       FROM channels c
       JOIN messages m ON m.channel_id = c.id
         AND m.seq = (SELECT x.seq FROM messages x WHERE x.channel_id = c.id ORDER BY x.seq DESC LIMIT 1)
       LEFT JOIN users u ON u.id = m.user_id
       WHERE c.id IN (${marks(channelIds.length)})`,
      ...channelIds,
    )
    for (const r of rows) {
      const channelId = String(r['channel_id'])
      const gone = r['user_deleted'] !== null && r['user_deleted'] !== undefined
      out.set(channelId, {
        id: rawBigint(r['message_id']),
        channelId,
        seq: rawBigint(r['seq']),
        userId: String(r['user_id']),
        senderName: gone ? null : text(r['display_name']),
        kind: String(r['kind']) as MessageKind,
        content: text(r['content']),
        isDeleted: r['is_deleted'] === true || Number(r['is_deleted']) === 1,
        expiresAt: rawDate(r['expires_at']),
        createdAt: rawDate(r['timestamp']) ?? new Date(0),
      })
    }
    return out
  }
}
