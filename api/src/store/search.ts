// Full-text search over the current content of messages (docs/protocol.md, "Search"): the
// FTS5 table messages_fts on SQLite, the FULLTEXT index messages_content_idx on MySQL/MariaDB
// (migration 20261124100000_search). Reads only; the caller decides which channels may be
// searched. Results come newest first by message_id (= delta id: commit order), so paging by
// "message_id below the last one seen" never repeats or skips a result.
//
// MySQL/MariaDB: InnoDB answers a word from its whole list of matches (and slowly for a word
// that half the messages contain: ~0.2-0.5 s per 50,000 matches), where a chat search wants
// only the newest 20. So a search first checks the newest messages row by row (the content is
// pre-filtered with LIKE and then split into words as InnoDB does, see matchesTerms), growing
// the window while matches come at a good rate (before the first one: while the words are
// common), up to `scanRows` rows; only what is still missing is asked from the FULLTEXT
// index, below the checked window. Both parts cover disjoint message_id ranges, so the order
// stays exact.
import type { MessageKind } from '../../../clients/sdk/src/protocol.ts'
import type { Database } from '../db/open-database.ts'

/** One word of a search; `prefix`: it matches words that start with it. */
export interface SearchTerm {
  text: string
  prefix: boolean
}

export interface SearchQuery {
  /** All must match (AND); each is a run of letters, digits and "_" (see searchWords). */
  terms: readonly SearchTerm[]
  /** The channels to search in; none: no results. */
  channelIds: readonly string[]
  authorId?: string
  /** true: only messages with attachments; false: only messages without. */
  hasFile?: boolean
  /** Sent strictly before / after these instants. */
  before?: Date
  after?: Date
  /** Paging: only messages with a smaller id. */
  belowId?: bigint
  /** Messages whose expires_at is at or before this are gone. */
  now: Date
  limit: number
}

export interface SearchRow {
  messageId: bigint
  channelId: string
  serverId: string | null
  userId: string
  content: string
  kind: MessageKind
  createdAt: Date
}

/** The words of a query as the indexes see them: runs of letters, digits, private-use characters and "_". */
export const WORD = /[\p{L}\p{N}\p{Co}_]+/gu

/**
 * InnoDB's default full-text stopwords (information_schema.INNODB_FT_DEFAULT_STOPWORD):
 * they are not indexed, and a required one makes a boolean-mode MATCH find nothing.
 */
export const INNODB_DEFAULT_STOPWORDS: ReadonlySet<string> = new Set([
  'a', 'about', 'an', 'are', 'as', 'at', 'be', 'by', 'com', 'de', 'en', 'for', 'from', 'how', 'i', 'in', 'is', 'it', 'la',
  'of', 'on', 'or', 'that', 'the', 'this', 'to', 'was', 'what', 'when', 'where', 'who', 'will', 'with', 'und', 'www',
])

/** What InnoDB leaves out of a FULLTEXT index (read once from the server's settings). */
export interface InnodbTokenRules {
  minTokenSize: number
  maxTokenSize: number
  stopwords: ReadonlySet<string>
}

/** The FTS5 MATCH expression: every term quoted (so no word is ever an operator), the prefix ones with `*`. */
export function fts5Match(terms: readonly SearchTerm[]): string {
  return terms.map((t) => `"${t.text.replace(/"/g, '""')}"${t.prefix ? '*' : ''}`).join(' ')
}

/**
 * A LIKE pattern (for `LIKE ? ESCAPE '!'`) that finds the text anywhere, with `%`, `_` and
 * `!` taken literally. `!` rather than a backslash: the same text works under any sql_mode.
 */
export function likeAnywhere(text: string): string {
  return `%${text.replace(/[!%_]/g, (c) => `!${c}`)}%`
}

/**
 * Splits the terms for MySQL/MariaDB: those InnoDB indexed go into a boolean-mode MATCH
 * (`+word` or `+word*`); the others (shorter than the minimum token size, longer than the
 * maximum, stopwords) would make MATCH find nothing, so they are checked with LIKE instead.
 */
export function innodbPlan(terms: readonly SearchTerm[], rules: InnodbTokenRules): { against: string | null; likes: string[] } {
  const indexed: string[] = []
  const likes: string[] = []
  for (const t of terms) {
    // A short prefix would still find the longer words that start with it, but never the
    // short word itself (not indexed): LIKE covers both.
    if (indexedByInnodb(t.text, rules)) indexed.push(`+${t.text}${t.prefix ? '*' : ''}`)
    else likes.push(likeAnywhere(t.text))
  }
  return { against: indexed.length > 0 ? indexed.join(' ') : null, likes }
}

/** Folds text as the indexes compare it (utf8mb4_unicode_ci, unicode61 remove_diacritics): no case, no diacritics. */
export function foldText(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
}

function indexedByInnodb(word: string, rules: InnodbTokenRules): boolean {
  const length = [...word].length
  return length >= rules.minTokenSize && length <= rules.maxTokenSize && !rules.stopwords.has(word.toLowerCase())
}

/**
 * Whether content matches the terms as the MySQL/MariaDB search does (innodbPlan): each
 * indexed term equals (or, as a prefix, starts) a word InnoDB would have indexed; each other
 * term occurs anywhere (LIKE). Used on the rows the search checks one by one.
 */
export function matchesTerms(content: string, terms: readonly SearchTerm[], rules: InnodbTokenRules): boolean {
  let words: string[] | undefined
  let folded: string | undefined
  for (const t of terms) {
    const term = foldText(t.text)
    if (!indexedByInnodb(t.text, rules)) {
      folded ??= foldText(content)
      if (!folded.includes(term)) return false
      continue
    }
    words ??= [...content.matchAll(WORD)].map((m) => m[0]).filter((w) => indexedByInnodb(w, rules)).map(foldText)
    if (!words.some((w) => (t.prefix ? w.startsWith(term) : w === term))) return false
  }
  return true
}

interface RawRow {
  message_id: unknown
  channel_id: string
  server_id: string | null
  user_id: string
  content: string | null
  kind: string
  timestamp: unknown
}

/** SQLite stores dates as ISO text with +00:00 (append-sqlite.ts). */
const sqliteTime = (d: Date): string => d.toISOString().replace('Z', '+00:00')
/** MySQL DATETIME(3) in UTC. */
const mysqlTime = (d: Date): string => d.toISOString().replace('T', ' ').replace('Z', '')

function toDate(v: unknown): Date {
  if (v instanceof Date) return v
  if (typeof v === 'number') return new Date(v)
  const s = String(v)
  return new Date(/[T]/.test(s) ? s : `${s.replace(' ', 'T')}Z`)
}

function toRow(r: RawRow): SearchRow {
  return {
    messageId: BigInt(String(r.message_id)),
    channelId: r.channel_id,
    serverId: r.server_id ?? null,
    userId: r.user_id,
    content: r.content ?? '',
    kind: r.kind as MessageKind,
    createdAt: toDate(r.timestamp),
  }
}

/** A WHERE clause built condition by condition, each with its `?` parameters in order. */
class Conditions {
  private readonly parts: string[] = []
  readonly params: unknown[] = []

  add(condition: string, ...params: unknown[]): void {
    this.parts.push(condition)
    this.params.push(...params)
  }

  sql(): string {
    return this.parts.join(' AND ')
  }
}

/** The scope and filters every MySQL query of a search applies. */
function mysqlFilters(where: Conditions, q: SearchQuery): void {
  where.add(`m.channel_id IN (${q.channelIds.map(() => '?').join(', ')})`, ...q.channelIds)
  where.add('m.is_deleted = 0 AND m.content IS NOT NULL')
  where.add('(m.expires_at IS NULL OR m.expires_at > ?)', mysqlTime(q.now))
  if (q.authorId !== undefined) where.add('m.user_id = ?', q.authorId)
  if (q.hasFile !== undefined) where.add(q.hasFile ? 'm.attachments IS NOT NULL' : 'm.attachments IS NULL')
  if (q.before !== undefined) where.add('m.timestamp < ?', mysqlTime(q.before))
  if (q.after !== undefined) where.add('m.timestamp > ?', mysqlTime(q.after))
}

/** The first window of newest messages a MySQL search checks row by row. */
const FIRST_SCAN_WINDOW = 200
/** Words in at least this share of messages are "common": InnoDB answers them slowly. */
const COMMON_WORDS_SHARE = 0.02

export interface SearchStoreOptions {
  /** MySQL/MariaDB: most messages one search checks row by row before asking the FULLTEXT index (0: never). */
  scanRows: number
}

export class SearchStore {
  private innodbRules: Promise<InnodbTokenRules> | undefined

  constructor(
    private readonly db: Database,
    private readonly options: SearchStoreOptions,
  ) {}

  /** Up to `limit` matching messages of the channels, newest first. */
  async search(q: SearchQuery): Promise<SearchRow[]> {
    if (q.channelIds.length === 0 || q.terms.length === 0) return []
    return this.db.dialect === 'sqlite' ? this.searchSqlite(q) : this.searchMysql(q)
  }

  private async searchSqlite(q: SearchQuery): Promise<SearchRow[]> {
    const where = new Conditions()
    where.add('messages_fts MATCH ?', fts5Match(q.terms))
    where.add('m.channel_id IN (SELECT value FROM json_each(?))', JSON.stringify(q.channelIds))
    where.add('m.is_deleted = 0 AND m.content IS NOT NULL')
    where.add('(m.expires_at IS NULL OR julianday(m.expires_at) > julianday(?))', sqliteTime(q.now))
    if (q.belowId !== undefined) where.add('f.rowid < ?', q.belowId)
    if (q.authorId !== undefined) where.add('m.user_id = ?', q.authorId)
    if (q.hasFile !== undefined) where.add(q.hasFile ? 'm.attachments IS NOT NULL' : 'm.attachments IS NULL')
    // julianday() reads ISO text with or without a zone, so the comparison does not depend on how the text was written.
    if (q.before !== undefined) where.add('julianday(m.timestamp) < julianday(?)', sqliteTime(q.before))
    if (q.after !== undefined) where.add('julianday(m.timestamp) > julianday(?)', sqliteTime(q.after))
    // CROSS JOIN keeps the FTS5 table the outer loop: it yields the matches in descending
    // message_id order straight from the index (no sort step) and stops at LIMIT.
    const rows = await this.db.prisma.$queryRawUnsafe<RawRow[]>(
      `SELECT CAST(m.message_id AS TEXT) AS message_id, m.channel_id, c.server_id, m.user_id, m.content, m.kind, m.timestamp
       FROM messages_fts f CROSS JOIN messages m ON m.message_id = f.rowid
       LEFT JOIN channels c ON c.id = m.channel_id
       WHERE ${where.sql()}
       ORDER BY f.rowid DESC
       LIMIT ?`,
      ...where.params, q.limit,
    )
    return rows.map(toRow)
  }

  private async searchMysql(q: SearchQuery): Promise<SearchRow[]> {
    const rules = await this.innodbTokenRules()
    const found: SearchRow[] = []
    let below = q.belowId
    let scanned = 0
    let window = Math.min(FIRST_SCAN_WINDOW, this.options.scanRows)
    while (window > 0) {
      const low = await this.windowStart(below, window)
      for (const row of await this.scanMysql(q, low, below)) if (matchesTerms(row.content, q.terms, rules)) found.push(row)
      if (found.length >= q.limit) return found.slice(0, q.limit)
      if (low === null) return found // the window reached the oldest message: nothing left to ask
      const last = { low, below, size: window }
      below = low
      scanned += window
      window = await this.nextWindow(q, found.length, scanned, last)
    }
    return [...found, ...(await this.indexMysql({ ...q, ...(below !== undefined ? { belowId: below } : {}), limit: q.limit - found.length }, rules))]
  }

  /**
   * How many more messages to check one by one, or 0 to ask the index for the rest. With
   * matches so far: what their rate says is still missing (with a margin), if the budget
   * allows. Without: 4 times as many, but only while the words themselves are common in the
   * window just checked (then the index is slow; for rarer words it is the faster way).
   */
  private async nextWindow(q: SearchQuery, found: number, scanned: number, last: { low: bigint; below: bigint | undefined; size: number }): Promise<number> {
    const left = this.options.scanRows - scanned
    if (left <= 0) return 0
    if (found > 0) {
      const needed = Math.ceil(((q.limit - found) * scanned * 1.25) / found)
      return needed <= left ? Math.min(Math.max(needed, 100), left) : 0
    }
    const where = new Conditions()
    where.add('message_id >= ?', last.low)
    if (last.below !== undefined) where.add('message_id < ?', last.below)
    for (const t of q.terms) where.add("content LIKE ? ESCAPE '!'", likeAnywhere(t.text))
    const [row] = await this.db.prisma.$queryRawUnsafe<{ n: unknown }[]>(`SELECT COUNT(*) AS n FROM messages FORCE INDEX (PRIMARY) WHERE ${where.sql()}`, ...where.params)
    return Number(row?.n ?? 0) >= COMMON_WORDS_SHARE * last.size ? Math.min(scanned * 4, left) : 0
  }

  /** The message_id that starts the window of `size` messages below `below` (inclusive), or null when fewer are left. */
  private async windowStart(below: bigint | undefined, size: number): Promise<bigint | null> {
    const rows = await this.db.prisma.$queryRawUnsafe<{ id: unknown }[]>(
      `SELECT CAST(message_id AS CHAR) AS id FROM messages ${below !== undefined ? 'WHERE message_id < ?' : ''} ORDER BY message_id DESC LIMIT 1 OFFSET ?`,
      ...(below !== undefined ? [below] : []), size - 1,
    )
    return rows[0] === undefined ? null : BigInt(String(rows[0].id))
  }

  /** The candidates of the window [low, below): every filter, and each term somewhere in the content (LIKE); matchesTerms decides. */
  private async scanMysql(q: SearchQuery, low: bigint | null, below: bigint | undefined): Promise<SearchRow[]> {
    const where = new Conditions()
    if (low !== null) where.add('m.message_id >= ?', low)
    if (below !== undefined) where.add('m.message_id < ?', below)
    for (const t of q.terms) where.add("m.content LIKE ? ESCAPE '!'", likeAnywhere(t.text))
    mysqlFilters(where, q)
    // FORCE INDEX: the window is a primary-key range; reading it is the whole point.
    const rows = await this.db.prisma.$queryRawUnsafe<RawRow[]>(
      `SELECT CAST(m.message_id AS CHAR) AS message_id, m.channel_id, c.server_id, m.user_id, m.content, m.kind, m.timestamp
       FROM messages m FORCE INDEX (PRIMARY) LEFT JOIN channels c ON c.id = m.channel_id
       WHERE ${where.sql()}
       ORDER BY m.message_id DESC`,
      ...where.params,
    )
    return rows.map(toRow)
  }

  /** The FULLTEXT index (with LIKE for the terms it cannot answer), below q.belowId. */
  private async indexMysql(q: SearchQuery, rules: InnodbTokenRules): Promise<SearchRow[]> {
    const { against, likes } = innodbPlan(q.terms, rules)
    const where = new Conditions()
    if (against !== null) where.add('MATCH (m.content) AGAINST (? IN BOOLEAN MODE)', against)
    for (const like of likes) where.add("m.content LIKE ? ESCAPE '!'", like)
    if (q.belowId !== undefined) where.add('m.message_id < ?', q.belowId)
    mysqlFilters(where, q)
    const rows = await this.db.prisma.$queryRawUnsafe<RawRow[]>(
      `SELECT CAST(m.message_id AS CHAR) AS message_id, m.channel_id, c.server_id, m.user_id, m.content, m.kind, m.timestamp
       FROM messages m LEFT JOIN channels c ON c.id = m.channel_id
       WHERE ${where.sql()}
       ORDER BY m.message_id DESC
       LIMIT ?`,
      ...where.params, q.limit,
    )
    return rows.map(toRow)
  }

  /** The server's token size limits and stopwords, read once (they apply when the index is built). */
  private innodbTokenRules(): Promise<InnodbTokenRules> {
    this.innodbRules ??= this.readInnodbTokenRules().catch((err: unknown) => {
      this.innodbRules = undefined
      throw err
    })
    return this.innodbRules
  }

  private async readInnodbTokenRules(): Promise<InnodbTokenRules> {
    const [v] = await this.db.prisma.$queryRawUnsafe<{ min: unknown; max: unknown; enabled: unknown; server_table: unknown }[]>(
      'SELECT @@innodb_ft_min_token_size AS min, @@innodb_ft_max_token_size AS max, @@innodb_ft_enable_stopword AS enabled, @@innodb_ft_server_stopword_table AS server_table',
    )
    const rules = { minTokenSize: Number(v?.min ?? 3), maxTokenSize: Number(v?.max ?? 84), stopwords: INNODB_DEFAULT_STOPWORDS }
    if (Number(v?.enabled ?? 1) === 0) return { ...rules, stopwords: new Set() }
    const table = typeof v?.server_table === 'string' ? v.server_table : ''
    // innodb_ft_server_stopword_table is "database/table" with a single VARCHAR column `value`.
    const named = /^([A-Za-z0-9_$]+)\/([A-Za-z0-9_$]+)$/.exec(table)
    if (named === null) return rules
    try {
      const words = await this.db.prisma.$queryRawUnsafe<{ value: string }[]>(`SELECT value FROM \`${named[1]!}\`.\`${named[2]!}\``)
      return { ...rules, stopwords: new Set(words.map((w) => String(w.value).toLowerCase())) }
    } catch {
      return rules // not readable by this user: the default list is the best guess
    }
  }
}
