// SEARCH (docs/protocol.md, "Search"): full-text search over the messages the caller may
// read, newest first, paged with an opaque cursor. The query is plain words: every word must
// occur (AND), the last one also as the start of a longer word unless the query ends with a
// space or punctuation; any other character only separates words, so no input is ever query
// syntax. Deleted and expired messages are never returned.
import { createHash } from 'node:crypto'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { SearchResponseData, SearchResultJson } from '../../../clients/sdk/src/protocol.ts'
import { optionalBoolean, optionalId, requireString, type Data } from '../requests/fields.ts'
import type { Database } from '../db/open-database.ts'
import { foldText, SearchStore, WORD, type SearchRow, type SearchTerm } from '../store/search.ts'
import type { Caller, Core } from './context.ts'

export const SEARCH_LIMITS = {
  queryChars: 200,
  words: 16,
  defaultLimit: 20,
  maxLimit: 50,
  /** Content longer than this gets a snippet around the first match. */
  snippetChars: 160,
  cursorChars: 200,
} as const

export interface SearchRequest {
  terms: SearchTerm[]
  channelId?: string
  serverId?: string
  authorId?: string
  hasFile?: boolean
  before?: Date
  after?: Date
  limit: number
  belowId?: bigint
}

/**
 * The words of a query, in order, each once (compared without case); the last one is a
 * prefix unless the query ends after it with a space or punctuation. Words keep their case:
 * the indexes fold it themselves (lower-casing here could change a word, as with "İ").
 */
export function searchTerms(query: string): SearchTerm[] {
  const text = query.normalize('NFC')
  const matches = [...text.matchAll(WORD)]
  const last = matches.at(-1)
  const prefixKey = last !== undefined && last.index + last[0].length === text.length ? last[0].toLowerCase() : null
  const terms: SearchTerm[] = []
  for (const m of matches) {
    const key = m[0].toLowerCase()
    if (!terms.some((t) => t.text.toLowerCase() === key)) terms.push({ text: m[0], prefix: key === prefixKey })
  }
  return terms
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/

/** An ISO 8601 date (`2026-11-24`, midnight UTC) or date-time with a zone (`2026-11-24T10:00:00Z`). */
function optionalTime(data: Data, name: string): Date | undefined {
  const v = data[name]
  if (v === undefined || v === null) return undefined
  const m = typeof v === 'string' ? ISO_TIME.exec(v) : null
  const bad = (): ChatError => new ChatError('INVALID_FIELD', `${name} must be an ISO 8601 date or date-time with a time zone, like 2026-11-24T10:00:00Z`, { field: name })
  if (m === null) throw bad()
  const [, y, mo, d, h = '00', mi = '00', s = '00'] = m
  // Date.parse accepts 2026-02-30 (it rolls over): the calendar fields must survive a round trip.
  const calendar = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)))
  if (calendar.getUTCMonth() !== Number(mo) - 1 || calendar.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw bad()
  const at = new Date(v as string)
  if (Number.isNaN(at.getTime())) throw bad()
  return at
}

function searchLimit(data: Data): number {
  const v = data['limit']
  if (v === undefined || v === null) return SEARCH_LIMITS.defaultLimit
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > SEARCH_LIMITS.maxLimit) {
    throw new ChatError('INVALID_FIELD', `limit must be a whole number from 1 to ${SEARCH_LIMITS.maxLimit}`, { field: 'limit' })
  }
  return v
}

/** What a cursor is bound to: the same words and filters (not the limit, which may change between pages). */
function fingerprint(r: Omit<SearchRequest, 'limit' | 'belowId'>): string {
  const key = JSON.stringify([r.terms, r.channelId ?? null, r.serverId ?? null, r.authorId ?? null, r.hasFile ?? null, r.before?.toISOString() ?? null, r.after?.toISOString() ?? null])
  return createHash('sha256').update(key).digest('hex').slice(0, 12)
}

export function encodeCursor(r: Omit<SearchRequest, 'limit' | 'belowId'>, lastId: bigint): string {
  return Buffer.from(`s1.${lastId}.${fingerprint(r)}`).toString('base64url')
}

function decodeCursor(data: Data, r: Omit<SearchRequest, 'limit' | 'belowId'>): bigint | undefined {
  const v = data['cursor']
  if (v === undefined || v === null) return undefined
  const bad = (why: string): ChatError => new ChatError('INVALID_CURSOR', why, { field: 'cursor' })
  if (typeof v !== 'string' || v.length === 0 || v.length > SEARCH_LIMITS.cursorChars || !/^[A-Za-z0-9_-]+$/.test(v)) throw bad('cursor must be the next_cursor of an earlier SEARCH_RESPONSE')
  const m = /^s1\.([1-9]\d{0,18})\.([0-9a-f]{12})$/.exec(Buffer.from(v, 'base64url').toString('latin1'))
  if (m === null) throw bad('cursor must be the next_cursor of an earlier SEARCH_RESPONSE')
  if (m[2] !== fingerprint(r)) throw bad('the cursor belongs to a search with other words or filters')
  return BigInt(m[1]!)
}

/** Checks the fields of a SEARCH request; every problem is INVALID_FIELD or INVALID_CURSOR. */
export function parseSearch(data: Data): SearchRequest {
  const query = requireString(data, 'query', { min: 1, max: SEARCH_LIMITS.queryChars })
  const terms = searchTerms(query)
  if (terms.length === 0) throw new ChatError('INVALID_FIELD', 'query must contain at least one word (letters or digits)', { field: 'query' })
  if (terms.length > SEARCH_LIMITS.words) throw new ChatError('INVALID_FIELD', `query may contain at most ${SEARCH_LIMITS.words} different words`, { field: 'query' })
  const channelId = optionalId(data, 'channel_id')
  const serverId = optionalId(data, 'server_id')
  if (channelId !== undefined && serverId !== undefined) throw new ChatError('INVALID_FIELD', 'give channel_id or server_id, not both', { field: 'server_id' })
  const authorId = optionalId(data, 'author_id')
  const hasFile = optionalBoolean(data, 'has_file')
  const before = optionalTime(data, 'before')
  const after = optionalTime(data, 'after')
  if (before !== undefined && after !== undefined && after.getTime() >= before.getTime()) {
    throw new ChatError('INVALID_FIELD', 'after must be earlier than before', { field: 'after' })
  }
  const limit = searchLimit(data)
  const filters = {
    terms,
    ...(channelId !== undefined ? { channelId } : {}),
    ...(serverId !== undefined ? { serverId } : {}),
    ...(authorId !== undefined ? { authorId } : {}),
    ...(hasFile !== undefined ? { hasFile } : {}),
    ...(before !== undefined ? { before } : {}),
    ...(after !== undefined ? { after } : {}),
  }
  const belowId = decodeCursor(data, filters)
  return { ...filters, limit, ...(belowId !== undefined ? { belowId } : {}) }
}

/**
 * GET /api/search: the query string as SEARCH data (`q` or `query`; `limit` a number,
 * `has_file` true or false). Other values pass through unchanged so that the field checks
 * name them.
 */
export function searchDataFromQuery(query: Record<string, unknown>): Data {
  const data: Data = { ...query }
  if (data['q'] !== undefined && data['query'] === undefined) data['query'] = data['q']
  delete data['q']
  const limit = data['limit']
  if (typeof limit === 'string' && /^\d{1,6}$/.test(limit)) data['limit'] = Number(limit)
  const hasFile = data['has_file']
  if (hasFile === 'true' || hasFile === 'false') data['has_file'] = hasFile === 'true'
  return data
}


/**
 * The part of a long content around the first word that matches a term (a whole word, or
 * its start for a prefix term; failing that, anywhere), cut at spaces, with "…" where cut.
 */
export function snippetOf(content: string, terms: readonly SearchTerm[], size: number = SEARCH_LIMITS.snippetChars): string | undefined {
  if (content.length <= size) return undefined
  const wanted = terms.map((t) => ({ text: foldText(t.text), prefix: t.prefix }))
  let at = -1
  for (const m of content.matchAll(WORD)) {
    const w = foldText(m[0])
    if (wanted.some((t) => (t.prefix ? w.startsWith(t.text) : w === t.text))) {
      at = m.index
      break
    }
  }
  if (at < 0) at = 0
  let start = Math.max(0, Math.min(at - Math.floor(size / 3), content.length - size))
  let end = Math.min(content.length, start + size)
  if (start > 0) {
    const space = content.indexOf(' ', start)
    if (space >= 0 && space < at) start = space + 1
  }
  if (end < content.length) {
    const space = content.lastIndexOf(' ', end)
    if (space > at) end = space
  }
  // Never cut between the two halves of a character outside the BMP (emoji).
  if (start > 0 && /[\uDC00-\uDFFF]/.test(content[start]!)) start++
  if (end < content.length && /[\uD800-\uDBFF]/.test(content[end - 1]!)) end--
  return `${start > 0 ? '…' : ''}${content.slice(start, end).trim()}${end < content.length ? '…' : ''}`
}

function toResultJson(r: SearchRow, terms: readonly SearchTerm[]): SearchResultJson {
  const snippet = snippetOf(r.content, terms)
  return {
    message_id: r.messageId.toString(),
    channel_id: r.channelId,
    ...(r.serverId !== null ? { server_id: r.serverId } : {}),
    user_id: r.userId,
    content: r.content,
    ...(snippet !== undefined ? { snippet } : {}),
    timestamp: r.createdAt.toISOString(),
    kind: r.kind,
  }
}

const stores = new WeakMap<Database, SearchStore>()

function searchStore(core: Core): SearchStore {
  let store = stores.get(core.store.db)
  if (store === undefined) stores.set(core.store.db, (store = new SearchStore(core.store.db, { scanRows: core.config.searchScanRows })))
  return store
}

/** The channels the search may look in: the one given, one server's, or all the caller may read (SYNC's checks and errors). */
async function scope(core: Core, caller: Caller, r: SearchRequest): Promise<string[]> {
  const { directory } = core.store
  if (r.channelId !== undefined) return [(await directory.readableChannel(caller.userId, r.channelId)).id]
  if (r.serverId !== undefined) {
    if ((await directory.serverRole(r.serverId, caller.userId)) === null) throw new ChatError('SERVER_NOT_FOUND')
    return directory.readableChannelIds(caller.userId, r.serverId)
  }
  return directory.readableChannelIds(caller.userId)
}

export async function doSearch(core: Core, caller: Caller, data: Data): Promise<SearchResponseData> {
  const r = parseSearch(data)
  const channelIds = await scope(core, caller, r)
  const rows = await searchStore(core).search({
    terms: r.terms,
    channelIds,
    ...(r.authorId !== undefined ? { authorId: r.authorId } : {}),
    ...(r.hasFile !== undefined ? { hasFile: r.hasFile } : {}),
    ...(r.before !== undefined ? { before: r.before } : {}),
    ...(r.after !== undefined ? { after: r.after } : {}),
    ...(r.belowId !== undefined ? { belowId: r.belowId } : {}),
    now: new Date(),
    limit: r.limit + 1,
  })
  const page = rows.slice(0, r.limit)
  const more = rows.length > r.limit
  return {
    results: page.map((row) => toResultJson(row, r.terms)),
    next_cursor: more ? encodeCursor(r, page.at(-1)!.messageId) : null,
  }
}
