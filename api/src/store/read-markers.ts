// Receipts as per-user watermarks (read_markers: received and read up to a seq, per channel
// or chat) and the unread and mention counts they imply, computed from the messages table.
// Markers are not deltas: they are written here directly, outside the sequencer, and only
// ever rise (compare-and-set on the previous values, so two devices racing cannot lower one).
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { Database } from '../db/open-database.ts'
import type { ServerRole } from './types.ts'

/** Counting stops here: a count at the cap is reported as the cap with a `capped` flag. */
export const COUNT_CAP = 1000

export interface ReadMarker {
  readSeq: bigint
  receivedSeq: bigint
}

export interface MarkerMove {
  before: ReadMarker
  after: ReadMarker
  /** false when the marker already was at or past what was asked: nothing was written. */
  changed: boolean
}

export interface UnreadCounts {
  unread: number
  mentions: number
  unreadCapped: boolean
  mentionsCapped: boolean
}

/** What counting needs to know of a channel: the reader's read_seq there and (servers) its role. */
export interface CountTarget {
  channelId: string
  readSeq: bigint
  /** The channel's last seq, when known: bounds how many messages can be unread. */
  lastSeq?: bigint
  /** The reader's role in the channel's server; null in chats (role mentions do not apply). */
  role: ServerRole | null
}

const ZERO: ReadMarker = { readSeq: 0n, receivedSeq: 0n }
const MAX_ATTEMPTS = 20

const max = (...xs: bigint[]): bigint => xs.reduce((a, b) => (b > a ? b : a))

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002'
}

/** A time as the dialect stores DateTime columns, for comparisons in raw SQL. */
export function sqlTime(dialect: Database['dialect'], at: Date): string {
  const iso = at.toISOString()
  return dialect === 'sqlite' ? iso.replace('Z', '+00:00') : iso.replace('T', ' ').replace('Z', '')
}

/** A number a raw query answers (bigint, number or decimal text, by driver). */
export function rawNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number(typeof v === 'bigint' ? v : String(v ?? 0))
}

export function rawBigint(v: unknown): bigint {
  return typeof v === 'bigint' ? v : BigInt(typeof v === 'number' ? Math.trunc(v) : String(v ?? 0))
}

/** A DateTime column a raw query answers (a Date, ISO text or MySQL text in UTC). */
export function rawDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null
  if (v instanceof Date) return v
  if (typeof v === 'number') return new Date(v)
  const s = String(v)
  return new Date(s.includes('T') ? s : `${s.replace(' ', 'T')}Z`)
}

/** The mention targets that address a reader: itself, everyone, and (servers) its role. */
export function mentionTargets(userId: string, role: ServerRole | null): [string, string, string] {
  return [userId, 'everyone', role === null ? userId : `role:${role}`]
}

export class ReadMarkerStore {
  constructor(private readonly db: Database) {}

  async get(userId: string, channelId: string): Promise<ReadMarker> {
    const row = await this.db.prisma.readMarker.findUnique({ where: { userId_channelId: { userId, channelId } }, select: { readSeq: true, receivedSeq: true } })
    return row ?? ZERO
  }

  /**
   * Raises the user's marker to at least `want` (read implies received: received_seq is
   * kept >= read_seq). Never lowers either value. Compare-and-set: the update applies only
   * if the row still holds the values read, else it is read again, so concurrent marks from
   * several devices end at the highest of them and each move knows exactly what it covered.
   */
  async raise(userId: string, channelId: string, want: { readSeq?: bigint; receivedSeq?: bigint }, now = new Date()): Promise<MarkerMove> {
    const where = { userId_channelId: { userId, channelId } }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const row = await this.db.prisma.readMarker.findUnique({ where, select: { readSeq: true, receivedSeq: true } })
      const before = row ?? ZERO
      const readSeq = max(before.readSeq, want.readSeq ?? 0n)
      const receivedSeq = max(before.receivedSeq, want.receivedSeq ?? 0n, readSeq)
      const after = { readSeq, receivedSeq }
      if (readSeq === before.readSeq && receivedSeq === before.receivedSeq) return { before, after: before, changed: false }
      if (row === null) {
        try {
          await this.db.prisma.readMarker.create({ data: { userId, channelId, readSeq, receivedSeq, updatedAt: now } })
          return { before, after, changed: true }
        } catch (err) {
          if (!isUniqueViolation(err)) throw err
          continue // another device created it first: read it again
        }
      }
      const { count } = await this.db.prisma.readMarker.updateMany({
        where: { userId, channelId, readSeq: before.readSeq, receivedSeq: before.receivedSeq },
        data: { readSeq, receivedSeq, updatedAt: now },
      })
      if (count === 1) return { before, after, changed: true }
    }
    throw new ChatError('UNAVAILABLE', 'the read marker kept changing under this request; retry')
  }

  /**
   * Unread and mention counts of one user in several channels, in one statement: per channel
   * the messages past the user's read_seq that are not deleted, not expired and not the
   * user's own, and of those the ones that mention the user (its id, everyone, or its role in
   * servers). No count reads more than COUNT_CAP + 1 index entries past read_seq per channel
   * (+1 tells that the cap was reached).
   */
  async counts(userId: string, targets: readonly CountTarget[], now = new Date()): Promise<Map<string, UnreadCounts>> {
    if (targets.length === 0) return new Map()
    const found = this.db.dialect === 'sqlite' ? await this.countsCorrelated(userId, targets, now) : await this.countsByRange(userId, targets, now)
    const out = new Map<string, UnreadCounts>()
    for (const c of targets) {
      const { unread, mentions } = found.get(c.channelId) ?? { unread: 0, mentions: 0 }
      out.set(c.channelId, {
        unread: Math.min(unread, COUNT_CAP),
        mentions: Math.min(mentions, COUNT_CAP),
        unreadCapped: unread > COUNT_CAP,
        mentionsCapped: mentions > COUNT_CAP,
      })
    }
    return out
  }

  /**
   * SQLite: the channels as a derived table and two capped, correlated counts per row. SQLite
   * searches the index range (channel_id = t.channel_id AND seq > t.read_seq) per row, and
   * the statement stays small, so preparing it (done on every call) costs little.
   */
  private async countsCorrelated(userId: string, targets: readonly CountTarget[], now: Date): Promise<Map<string, { unread: number; mentions: number }>> {
    const limit = COUNT_CAP + 1
    const alive = 'm.user_id <> ? AND m.is_deleted = 0 AND (m.expires_at IS NULL OR m.expires_at > ?)'
    const at = sqlTime(this.db.dialect, now)
    const table = targets.map((_, i) => (i === 0 ? 'SELECT ? AS channel_id, ? AS read_seq, ? AS role_target' : 'SELECT ?, ?, ?')).join(' UNION ALL ')
    const params: unknown[] = [userId, at, userId, userId, at]
    for (const c of targets) params.push(c.channelId, c.readSeq, mentionTargets(userId, c.role)[2])
    const rows = await this.db.prisma.$queryRawUnsafe<{ channel_id: string; unread: unknown; mentions: unknown }[]>(
      `SELECT t.channel_id,
         (SELECT COUNT(*) FROM (SELECT 1 AS x FROM messages m
            WHERE m.channel_id = t.channel_id AND m.seq > t.read_seq AND ${alive} LIMIT ${limit}) u) AS unread,
         (SELECT COUNT(*) FROM (SELECT DISTINCT mm.message_id FROM message_mentions mm JOIN messages m ON m.message_id = mm.message_id
            WHERE mm.channel_id = t.channel_id AND mm.target IN (?, 'everyone', t.role_target) AND mm.seq > t.read_seq AND ${alive} LIMIT ${limit}) v) AS mentions
       FROM (${table}) t`,
      ...params,
    )
    return new Map(rows.map((r) => [String(r.channel_id), { unread: rawNumber(r.unread), mentions: rawNumber(r.mentions) }]))
  }

  /**
   * MySQL/MariaDB: they allow no outer reference inside a derived table, and a correlated
   * subquery would walk a channel's whole index prefix, so every channel's read_seq goes in
   * as a value and each count is an index range scan. Where the log has at most COUNT_CAP + 1
   * deltas past read_seq (known from last_seq), one grouped count over all those channels is
   * exact; elsewhere a per-channel count stops at COUNT_CAP + 1.
   */
  private async countsByRange(userId: string, targets: readonly CountTarget[], now: Date): Promise<Map<string, { unread: number; mentions: number }>> {
    const at = sqlTime(this.db.dialect, now)
    const limit = COUNT_CAP + 1
    const alive = 'm.user_id <> ? AND m.is_deleted = 0 AND (m.expires_at IS NULL OR m.expires_at > ?)'
    const near = targets.filter((c) => c.lastSeq !== undefined && c.lastSeq - c.readSeq <= BigInt(limit))
    const far = targets.filter((c) => !near.includes(c))
    // Two statements, run side by side on two connections: unread, then mentions.
    const unread = { parts: [] as string[], params: [] as unknown[] }
    const mentioned = { parts: [] as string[], params: [] as unknown[] }
    if (near.length > 0) {
      unread.parts.push(`SELECT m.channel_id AS channel_id, COUNT(*) AS n FROM messages m
        WHERE (${near.map(() => '(m.channel_id = ? AND m.seq > ?)').join(' OR ')}) AND ${alive} GROUP BY m.channel_id`)
      for (const c of near) unread.params.push(c.channelId, c.readSeq)
      unread.params.push(userId, at)
      mentioned.parts.push(`SELECT mm.channel_id AS channel_id, COUNT(DISTINCT mm.message_id) AS n FROM message_mentions mm JOIN messages m ON m.message_id = mm.message_id
        WHERE (${near.map(() => '(mm.channel_id = ? AND mm.target IN (?, ?, ?) AND mm.seq > ?)').join(' OR ')}) AND ${alive} GROUP BY mm.channel_id`)
      for (const c of near) mentioned.params.push(c.channelId, ...mentionTargets(userId, c.role), c.readSeq)
      mentioned.params.push(userId, at)
    }
    for (const c of far) {
      unread.parts.push(`SELECT ? AS channel_id, (SELECT COUNT(*) FROM (SELECT 1 AS x FROM messages m
        WHERE m.channel_id = ? AND m.seq > ? AND ${alive} LIMIT ${limit}) u) AS n`)
      unread.params.push(c.channelId, c.channelId, c.readSeq, userId, at)
      mentioned.parts.push(`SELECT ? AS channel_id, (SELECT COUNT(*) FROM (SELECT DISTINCT mm.message_id FROM message_mentions mm JOIN messages m ON m.message_id = mm.message_id
        WHERE mm.channel_id = ? AND mm.target IN (?, ?, ?) AND mm.seq > ? AND ${alive} LIMIT ${limit}) v) AS n`)
      mentioned.params.push(c.channelId, c.channelId, ...mentionTargets(userId, c.role), c.readSeq, userId, at)
    }
    const run = (q: { parts: string[]; params: unknown[] }) => this.db.prisma.$queryRawUnsafe<{ channel_id: string; n: unknown }[]>(q.parts.join('\nUNION ALL\n'), ...q.params)
    const [unreadRows, mentionRows] = await Promise.all([run(unread), run(mentioned)])
    const found = new Map<string, { unread: number; mentions: number }>(targets.map((c) => [c.channelId, { unread: 0, mentions: 0 }]))
    for (const r of unreadRows) {
      const e = found.get(String(r.channel_id))
      if (e !== undefined) e.unread = rawNumber(r.n)
    }
    for (const r of mentionRows) {
      const e = found.get(String(r.channel_id))
      if (e !== undefined) e.mentions = rawNumber(r.n)
    }
    return found
  }

  /**
   * Members of a chat other than `readerId` who authored a message with a seq in
   * (after, upTo]: whom a receipt for that range concerns. Bounded by the chat's members.
   */
  async chatAuthorsBetween(channelId: string, readerId: string, after: bigint, upTo: bigint): Promise<string[]> {
    if (upTo <= after) return []
    const rows = await this.db.prisma.$queryRawUnsafe<{ user_id: string }[]>(
      `SELECT cm.user_id FROM chat_members cm
       WHERE cm.channel_id = ? AND cm.user_id <> ?
         AND EXISTS (SELECT 1 FROM messages m WHERE m.channel_id = cm.channel_id AND m.user_id = cm.user_id AND m.seq > ? AND m.seq <= ?)`,
      channelId, readerId, after, upTo,
    )
    return rows.map((r) => String(r.user_id))
  }
}
