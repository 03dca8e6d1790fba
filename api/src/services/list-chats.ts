// LIST_CHATS (seed 004 `ListChats(userID, pageIdx, pageSize)`): every server channel the
// user may read and every chat it is in, most recent activity first, one page at a time,
// each with its thumbnail, newest message and unread and mention counts.
//
// Cost is bounded by the page, not by the user's 2,000 channels: the activity order of the
// user's channels (one query by membership) and the readable set (directory
// .readableChannelIds, kept between calls while the database shows nothing it depends on
// changed: readable-cache.ts) are intersected in memory and the page is cut there; then
// each of the page's facts is one statement for the whole page, never one per item: its
// rows (with server names and icons, 1:1 partners and read markers), newest messages
// (with sender names), and unread and mention counts.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { ChatListItemJson, ChatListMessageJson, ListChatsResponseData } from '../../../clients/sdk/src/protocol.ts'
import { isRole } from '../../../clients/sdk/src/permissions.ts'
import type { Data } from '../requests/fields.ts'
import { ChatListStore, type LastMessage } from '../store/chat-list.ts'
import { ReadMarkerStore } from '../store/read-markers.ts'
import { isGone } from '../store/messages.ts'
import type { Caller, Core } from './context.ts'
import { DELETED_DISPLAY_NAME } from './profiles.ts'
import { readableCacheOf } from './readable-cache.ts'

export const LIST_CHATS_PAGE = { defaultSize: 50, maxSize: 100, maxPage: 100_000 } as const
export const PREVIEW_CHARS = 100

/** A whole number field, given as a number (MQTT, JSON) or as decimal text (a query string). */
function wholeNumber(data: Data, name: string, fallback: number, min: number, max: number): number {
  const v = data[name]
  if (v === undefined) return fallback
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ChatError('INVALID_FIELD', `${name} must be a whole number from ${min} to ${max}`, { field: name })
  return n
}

/** The first PREVIEW_CHARS characters (code points, so no emoji is cut in half). */
export function preview(content: string | null): string {
  if (content === null) return ''
  const chars = Array.from(content)
  return chars.length <= PREVIEW_CHARS ? content : chars.slice(0, PREVIEW_CHARS).join('')
}

const nameOf = (displayName: string | null): string => displayName ?? DELETED_DISPLAY_NAME

function lastMessageJson(m: LastMessage, now: number): ChatListMessageJson {
  const base = { message_id: m.id.toString(), user_id: m.userId, sender_name: nameOf(m.senderName), kind: m.kind, timestamp: m.createdAt.toISOString() }
  return isGone(m, now) ? { ...base, preview: null, deleted: true } : { ...base, preview: preview(m.content) }
}

export async function doListChatsPage(core: Core, caller: Caller, data: Data): Promise<ListChatsResponseData> {
  const page = wholeNumber(data, 'page', 0, 0, LIST_CHATS_PAGE.maxPage)
  const pageSize = wholeNumber(data, 'page_size', LIST_CHATS_PAGE.defaultSize, 1, LIST_CHATS_PAGE.maxSize)
  const userId = caller.userId
  const list = new ChatListStore(core.store.db)
  const markers = new ReadMarkerStore(core.store.db)

  // The directory decides what the user may read (its answer kept while the database says
  // nothing it depends on changed: readable-cache.ts); the membership query only sorts. They
  // name the same channels unless the directory's rules grew past "member, and the overrides
  // let it read": then the page is sorted over the readable ids themselves.
  const cache = readableCacheOf(core.store)
  const [{ roles, fingerprint }, sorted] = await Promise.all([list.roles(userId), list.candidates(userId)])
  let readable = cache.get(userId, fingerprint, sorted)
  if (readable === undefined) {
    const fresh = await core.store.directory.readableChannelIds(userId)
    cache.set(userId, fingerprint, fresh, sorted)
    readable = new Set(fresh)
  }
  // A server's own log (its id is the server's id) is a channel the user reads, not a chat.
  const ids = [...readable].filter((id) => !roles.has(id))
  const ordered = sorted.filter((id) => readable.has(id) && !roles.has(id))
  const pageIds = ordered.slice(page * pageSize, (page + 1) * pageSize)
  const agree = ordered.length === ids.length

  const now = new Date()
  const [rows, last] = await Promise.all([
    agree ? list.rows(pageIds, userId) : list.page(ids, userId, page * pageSize, pageSize),
    agree ? list.lastMessages(pageIds) : undefined,
  ])
  const lastMessages = last ?? (await list.lastMessages(rows.map((r) => r.id)))
  const counts = await markers.counts(userId, rows.map((r) => {
    const role = r.serverId === null ? undefined : roles.get(r.serverId)
    return { channelId: r.id, readSeq: r.readSeq, lastSeq: r.lastSeq, role: role !== undefined && isRole(role) ? role : null }
  }), now)

  const chats: ChatListItemJson[] = rows.map((r) => {
    const m = lastMessages.get(r.id)
    const c = counts.get(r.id)
    return {
      channel_id: r.id,
      kind: r.kind as ChatListItemJson['kind'],
      name: r.partner !== null ? nameOf(r.partner.displayName) : r.name,
      ...(r.partner !== null ? { peer_id: r.partner.id } : {}),
      server_id: r.serverId,
      server_name: r.serverName,
      icon_file_id: r.iconFileId ?? r.serverIconFileId ?? r.partner?.iconFileId ?? null,
      last_message: m === undefined ? null : lastMessageJson(m, now.getTime()),
      unread: c?.unread ?? 0,
      mentions: c?.mentions ?? 0,
      unread_capped: c?.unreadCapped ?? false,
      mentions_capped: c?.mentionsCapped ?? false,
      read_seq: r.readSeq.toString(),
      received_seq: r.receivedSeq.toString(),
      last_seq: r.lastSeq.toString(),
      closed: r.closed,
      last_activity_at: r.lastActivityAt?.toISOString() ?? null,
    }
  })
  return { chats, page, page_size: pageSize, total: ids.length, has_more: (page + 1) * pageSize < ids.length }
}
