// Receipts (seed 004 "Receive & read message feedback", docs/protocol.md "Receipts, unread
// counts and ListChats"). "sent" is the POST_MESSAGE_RESPONSE (the commit acknowledged);
// "received" and "read" are the user's watermarks per channel or chat (read_markers), raised
// by MARK_RECEIVED and MARK_READ. After a marker moves, every device of the user gets a MARKER
// event with the new counts; in chats the authors of the newly covered messages get RECEIPT
// events (read ones only when the reader does not hide them).
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { MarkerEventData, MarkReceiptResponseData, ReceiptEventData } from '../../../clients/sdk/src/protocol.ts'
import { requireId, type Data } from '../requests/fields.ts'
import { ReadMarkerStore, type MarkerMove, type ReadMarker } from '../store/read-markers.ts'
import type { ChannelRecord } from '../store/types.ts'
import type { Caller, Core } from './context.ts'

type Status = 'received' | 'read'

/** seq: a non-negative integer, as a decimal string (a safe integer number is accepted too). */
export function requireSeq(data: Data, name = 'seq'): bigint {
  const v = data[name]
  if (v === undefined || v === null) throw new ChatError('INVALID_FIELD', `${name} is required`, { field: name })
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
  if (typeof v === 'string' && /^\d{1,19}$/.test(v)) return BigInt(v)
  throw new ChatError('INVALID_FIELD', `${name} must be a non-negative integer as a decimal string, such as "17"`, { field: name })
}

// Moves of one user's marker in one channel run one after another in this process, so the
// MARKER events they publish go out in the order of the moves (across processes, clients
// keep the highest read_seq: markers never go back).
const chains = new WeakMap<Core, Map<string, Promise<unknown>>>()

function serially<T>(core: Core, key: string, work: () => Promise<T>): Promise<T> {
  let byKey = chains.get(core)
  if (byKey === undefined) chains.set(core, (byKey = new Map()))
  const next = (byKey.get(key) ?? Promise.resolve()).then(work, work)
  const tail = next.then(() => undefined, () => undefined)
  byKey.set(key, tail)
  void tail.then(() => {
    if (byKey.get(key) === tail) byKey.delete(key)
  })
  return next
}

/** The marker and the counts it implies, as MARKER events and replies carry them. */
export async function markerData(core: Core, userId: string, channel: ChannelRecord, marker: ReadMarker, lastSeq?: bigint): Promise<MarkerEventData> {
  const role = channel.serverId === null ? null : await core.store.directory.serverRole(channel.serverId, userId)
  const counts = (await new ReadMarkerStore(core.store.db).counts(userId, [{ channelId: channel.id, readSeq: marker.readSeq, role, ...(lastSeq === undefined ? {} : { lastSeq }) }])).get(channel.id)!
  return {
    channel_id: channel.id,
    read_seq: marker.readSeq.toString(),
    received_seq: marker.receivedSeq.toString(),
    unread: counts.unread,
    mentions: counts.mentions,
    unread_capped: counts.unreadCapped,
    mentions_capped: counts.mentionsCapped,
  }
}

async function hidesReadReceipts(core: Core, userId: string): Promise<boolean> {
  const row = await core.store.db.prisma.user.findUnique({ where: { id: userId }, select: { hideReadReceipts: true } })
  return row?.hideReadReceipts === true
}

// Inbox events are a fast path: the marker is committed, and LIST_CHATS (or the next MARKER)
// answers it again, so a failed publish (a broker shutting down) does not fail the request.
async function tell(core: Core, userId: string, action: 'MARKER' | 'RECEIPT', data: MarkerEventData | ReceiptEventData): Promise<void> {
  try {
    await core.inbox.notify(userId, { action, data })
  } catch {
    // nothing to undo
  }
}

/** The MARKER event to the reader's devices; in chats, RECEIPT events to the authors concerned. */
async function announce(core: Core, readerId: string, channel: ChannelRecord, move: MarkerMove, marker: MarkerEventData): Promise<void> {
  await tell(core, readerId, 'MARKER', marker)
  // Server channels send no receipts: one per read in a channel of a million members would
  // be more traffic than its messages.
  if (channel.serverId !== null || (channel.kind !== 'dm' && channel.kind !== 'group')) return
  const ranges: { status: Status; after: bigint; upTo: bigint }[] = []
  if (move.after.receivedSeq > move.before.receivedSeq) ranges.push({ status: 'received', after: move.before.receivedSeq, upTo: move.after.receivedSeq })
  if (move.after.readSeq > move.before.readSeq && !(await hidesReadReceipts(core, readerId))) ranges.push({ status: 'read', after: move.before.readSeq, upTo: move.after.readSeq })
  const markers = new ReadMarkerStore(core.store.db)
  for (const { status, after, upTo } of ranges) {
    for (const author of await markers.chatAuthorsBetween(channel.id, readerId, after, upTo)) {
      await tell(core, author, 'RECEIPT', { channel_id: channel.id, user_id: readerId, status, seq: upTo.toString() })
    }
  }
}

async function mark(core: Core, caller: Caller, data: Data, status: Status): Promise<MarkReceiptResponseData> {
  const channelId = requireId(data, 'channel_id', 'channel-id')
  const seq = requireSeq(data)
  const channel = await core.store.directory.readableChannel(caller.userId, channelId)
  const lastSeq = await core.store.log.channelLastSeq(channel.id)
  if (seq > lastSeq) throw new ChatError('INVALID_CURSOR', `seq ${seq} is ahead of the channel, whose last seq is ${lastSeq}`, { field: 'seq', last_seq: lastSeq.toString() })
  return serially(core, `${caller.userId}/${channel.id}`, async () => {
    const move = await new ReadMarkerStore(core.store.db).raise(caller.userId, channel.id, status === 'read' ? { readSeq: seq } : { receivedSeq: seq })
    const marker = await markerData(core, caller.userId, channel, move.after, lastSeq)
    if (move.changed) await announce(core, caller.userId, channel, move, marker)
    return { ...marker, changed: move.changed }
  })
}

/** MARK_RECEIVED {channel_id, seq}: a device of the caller has the channel's deltas up to seq. */
export function doMarkReceived(core: Core, caller: Caller, data: Data): Promise<MarkReceiptResponseData> {
  return mark(core, caller, data, 'received')
}

/** MARK_READ {channel_id, seq}: the caller has read the channel up to seq (and so received it). */
export function doMarkRead(core: Core, caller: Caller, data: Data): Promise<MarkReceiptResponseData> {
  return mark(core, caller, data, 'read')
}
