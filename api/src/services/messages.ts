// Actions on existing messages (seed 004 edit/delete/reply semantics, reactions, pins,
// polls) and reads of a message's current state. Rights are checked here against the
// channel; the message's own state (deleted, author, poll closed) under the sequencer lock
// in store/message-changes.ts.
import { releaseFiles } from '../files/files.ts'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { DeltaJson, MessageJson, PollResultsJson } from '../../../clients/sdk/src/protocol.ts'
import { has, PERMISSIONS } from '../../../clients/sdk/src/permissions.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import { optionalCursor, optionalId, optionalLimit, requireMessageId, type Data } from '../requests/fields.ts'
import { closePoll, deleteMessage, editMessage, setPinned, setReaction, vote, type MessageChangeResult } from '../store/message-changes.ts'
import type { ChangeWork } from '../store/changes.ts'
import { isGone, POLL_UPDATE_TYPES, type MessageRecord, type PollUpdateRow } from '../store/messages.ts'
import type { ChannelRecord } from '../store/types.ts'
import type { Caller, Core } from './context.ts'
import { checkContentSize, checkMentions, LIMITS, parseMentions } from './message-input.ts'

export interface MessageChangeResponse {
  status: 'success'
  message_id: string
  changed: boolean
  /** The delta that records the change (absent when nothing changed). */
  delta?: DeltaJson
}

/** The message and the caller's rights in its channel; unreadable and unknown look alike. */
async function target(core: Core, caller: Caller, id: bigint): Promise<{ message: MessageRecord; channel: ChannelRecord; bits: number }> {
  const message = await core.store.messages.find(id)
  if (message === null) throw new ChatError('MESSAGE_NOT_FOUND')
  try {
    const { channel, bits } = await core.store.directory.channelWithBits(caller.userId, message.channelId)
    return { message, channel, bits }
  } catch (err) {
    if (err instanceof ChatError && (err.code === 'CHANNEL_NOT_FOUND' || err.code === 'NOT_A_MEMBER')) throw new ChatError('MESSAGE_NOT_FOUND')
    throw err
  }
}

/** Moderators: MANAGE_MESSAGES in a server channel, the admin of a group; nobody in a 1:1 chat. */
async function isModerator(core: Core, caller: Caller, channel: ChannelRecord, bits: number): Promise<boolean> {
  if (channel.serverId !== null) return has(bits, PERMISSIONS.MANAGE_MESSAGES)
  if (channel.kind !== 'group') return false
  const role = await core.store.directory.chatRole(channel.id, caller.userId)
  return role === 'admin' || role === 'owner'
}

function open(channel: ChannelRecord): void {
  if (channel.closed) throw new ChatError('CHANNEL_CLOSED')
}

async function run(core: Core, id: bigint, work: ChangeWork<MessageChangeResult>): Promise<MessageChangeResponse> {
  const { result, deltas } = await core.sequencer.change(work)
  const out: MessageChangeResponse = { status: 'success', message_id: id.toString(), changed: result.changed }
  const delta = deltas[0]
  if (delta !== undefined) out.delta = toDeltaJson(delta)
  return out
}

export async function doEditMessage(core: Core, caller: Caller, data: Data): Promise<MessageChangeResponse> {
  const id = requireMessageId(data)
  const content = data['content']
  if (typeof content !== 'string') throw new ChatError('INVALID_FIELD', 'content must be a string', { field: 'content' })
  checkContentSize(core, content)
  const { message } = await target(core, caller, id)
  // The author must still be allowed to post there (not muted, not removed, not closed).
  const { channel, bits } = await core.store.directory.writable(caller.userId, message.channelId)
  if (content.trim().length === 0 && (message.attachments === null || message.attachments.length === 0)) {
    throw new ChatError('INVALID_FIELD', 'content must not be empty; delete the message instead', { field: 'content' })
  }
  const mentions = parseMentions(content)
  checkMentions(mentions, channel, bits)
  return run(core, id, editMessage(caller.userId, id, content, mentions))
}

export async function doDeleteMessage(core: Core, caller: Caller, data: Data): Promise<MessageChangeResponse> {
  const id = requireMessageId(data)
  const { message, channel, bits } = await target(core, caller, id)
  open(channel)
  const moderator = message.userId !== caller.userId && (await isModerator(core, caller, channel, bits))
  const answer = await run(core, id, deleteMessage(caller.userId, id, moderator))
  // Its files go too, unless another message (a forward) carries them.
  if (answer.changed && message.attachments !== null) await releaseFiles(core, message.attachments.map((a) => a.file_id), message.createdAt)
  return answer
}

/** An emoji: 1 to 64 characters, no spaces or control characters (Unicode emoji or a :name:). */
function emojiOf(data: Data): string {
  const e = data['emoji']
  // Zero-width joiners and variation selectors are parts of emoji; other format characters are not.
  if (typeof e !== 'string' || e.length === 0 || e.length > LIMITS.emojiChars || /[\s\p{Cc}\p{Cf}]/u.test(e.replace(/[\u200d\ufe0f]/g, ''))) {
    throw new ChatError('INVALID_FIELD', `emoji must be 1 to ${LIMITS.emojiChars} characters without spaces`, { field: 'emoji' })
  }
  return e
}

export async function doReaction(core: Core, caller: Caller, data: Data, add: boolean): Promise<MessageChangeResponse> {
  const id = requireMessageId(data)
  const emoji = emojiOf(data)
  const { channel, bits } = await target(core, caller, id)
  open(channel)
  if (add && !has(bits, channel.serverId === null ? PERMISSIONS.POST : PERMISSIONS.ADD_REACTIONS)) throw new ChatError('FORBIDDEN', 'you may not add reactions here')
  return run(core, id, setReaction(caller.userId, id, emoji, add, LIMITS.reactionsPerMessage))
}

export async function doPin(core: Core, caller: Caller, data: Data, pin: boolean): Promise<MessageChangeResponse> {
  const id = requireMessageId(data)
  const { channel, bits } = await target(core, caller, id)
  open(channel)
  const allowed = channel.kind === 'dm' ? has(bits, PERMISSIONS.POST) : await isModerator(core, caller, channel, bits)
  if (!allowed) throw new ChatError('FORBIDDEN', channel.serverId === null ? 'only the group admin pins messages' : 'pinning takes MANAGE_MESSAGES')
  return run(core, id, setPinned(caller.userId, id, pin, LIMITS.pinsPerChannel))
}

export async function doVote(core: Core, caller: Caller, data: Data): Promise<MessageChangeResponse> {
  const id = requireMessageId(data)
  const options = data['options']
  if (!Array.isArray(options) || options.length === 0 || options.length > LIMITS.pollOptions || !options.every((o) => Number.isSafeInteger(o))) {
    throw new ChatError('INVALID_FIELD', 'options must list the chosen option indexes', { field: 'options' })
  }
  const { channel } = await target(core, caller, id)
  open(channel)
  return run(core, id, vote(caller.userId, id, options as number[]))
}

export async function doRetractVote(core: Core, caller: Caller, data: Data): Promise<MessageChangeResponse> {
  const id = requireMessageId(data)
  const { channel } = await target(core, caller, id)
  open(channel)
  return run(core, id, vote(caller.userId, id, []))
}

export async function doClosePoll(core: Core, caller: Caller, data: Data): Promise<MessageChangeResponse> {
  const id = requireMessageId(data)
  const { message, channel, bits } = await target(core, caller, id)
  open(channel)
  const moderator = message.userId !== caller.userId && (await isModerator(core, caller, channel, bits))
  return run(core, id, closePoll(caller.userId, id, moderator))
}

// ---- reads

/**
 * Poll results folded from the log: each user's latest vote or retraction counts, and the
 * poll is closed by a poll_closed delta or its closing time.
 */
async function pollResults(core: Core, caller: Caller, m: MessageRecord, prefetched?: readonly PollUpdateRow[]): Promise<PollResultsJson> {
  const poll = m.meta.poll!
  const updates = prefetched ?? await core.store.db.prisma.delta.findMany({
    where: { targetId: m.id, type: { in: [...POLL_UPDATE_TYPES] } },
    orderBy: { id: 'asc' },
    select: { type: true, userId: true, meta: true },
  })
  const byUser = new Map<string, number[]>()
  let closed = poll.closes_at !== undefined && new Date(poll.closes_at).getTime() <= Date.now()
  for (const u of updates) {
    if (u.type === 'poll_closed') closed = true
    else if (u.type === 'poll_retracted') byUser.delete(u.userId)
    else byUser.set(u.userId, (JSON.parse(u.meta ?? '{}') as { options?: number[] }).options ?? [])
  }
  const counts = poll.options.map(() => 0)
  for (const chosen of byUser.values()) for (const o of chosen) counts[o] = (counts[o] ?? 0) + 1
  return { counts, voters: byUser.size, closed, my_votes: byUser.get(caller.userId) ?? [] }
}

/**
 * What messageJson otherwise reads per message, read beforehand for many messages at once
 * (FETCH_DELTA: a batch of lookups in one snapshot instead of a query per message).
 */
export interface MessageLookups {
  /** The originals of replies, by id (absent: no such message any more). */
  originals: ReadonlyMap<bigint, Pick<MessageRecord, 'isDeleted' | 'expiresAt'>>
  /** Each poll's poll_vote, poll_retracted and poll_closed deltas, oldest first. */
  pollUpdates: ReadonlyMap<bigint, readonly PollUpdateRow[]>
}

/** The wire form of a message's current state, for a reader. */
export async function messageJson(core: Core, caller: Caller, m: MessageRecord, reactions?: Map<string, string[]>, lookups?: MessageLookups): Promise<MessageJson> {
  const json: MessageJson = {
    message_id: m.id.toString(),
    channel_id: m.channelId,
    seq: m.seq.toString(),
    user_id: m.userId,
    kind: m.kind,
    content: m.content,
    timestamp: m.createdAt.toISOString(),
    reactions: [...(reactions ?? new Map<string, string[]>()).entries()].map(([emoji, users]) => ({ emoji, count: users.length, me: users.includes(caller.userId) })),
  }
  if (isGone(m)) {
    json.deleted = true
    json.content = null
    json.reactions = []
    return json
  }
  const { reply_to: quote, ...meta } = m.meta
  if (Object.keys(meta).length > 0) json.meta = meta
  if (m.attachments !== null) json.attachments = m.attachments
  if (m.isEdited && m.editedAt !== null) json.edited_at = m.editedAt.toISOString()
  if (m.expiresAt !== null) json.expires_at = m.expiresAt.toISOString()
  if (m.pinnedAt !== null) json.pinned = { at: m.pinnedAt.toISOString(), by: m.pinnedBy ?? '' }
  if (quote !== undefined) {
    // The quote stays as it was; it links to the original while the original exists.
    const original = lookups !== undefined ? lookups.originals.get(BigInt(quote.message_id)) ?? null : await core.store.messages.find(BigInt(quote.message_id))
    json.reply_to = { ...quote, original: original === null || isGone(original) ? 'deleted' : 'available' }
    if (json.reply_to.original === 'deleted') json.reply_to.content = null
  }
  if (m.kind === 'poll' && m.meta.poll !== undefined) json.poll = await pollResults(core, caller, m, lookups === undefined ? undefined : lookups.pollUpdates.get(m.id) ?? [])
  return json
}

/** GET_MESSAGE: the current state, its reactions, poll results and edit history. */
export async function doGetMessage(core: Core, caller: Caller, data: Data): Promise<{ message: MessageJson; versions: { content: string | null; at: string; delta_id: string }[] }> {
  const id = requireMessageId(data)
  const m = await core.store.messages.readable(caller.userId, id)
  const reactions = (await core.store.messages.reactions([m.id])).get(m.id)
  const versions = m.isEdited ? await core.store.messages.versions(m) : []
  return {
    message: await messageJson(core, caller, m, reactions),
    versions: versions.map((v) => ({ content: v.content, at: v.at.toISOString(), delta_id: v.deltaId.toString() })),
  }
}

const LIST_MESSAGES_MAX = 200

/**
 * LIST_MESSAGES: a page of a channel's messages as they are now, oldest first, before
 * `before_seq` (default: the newest). `last_seq` is the channel's seq when the page was read:
 * a client shows the page and then follows the channel from there (SYNC, live deltas), so
 * nothing falls between the two (a message in both is the same message_id).
 */
export async function doListMessages(core: Core, caller: Caller, data: Data): Promise<{ channel_id: string; messages: MessageJson[]; has_more: boolean; last_seq: string }> {
  const channelId = optionalId(data, 'channel_id')
  if (channelId === undefined) throw new ChatError('INVALID_FIELD', 'channel_id is required', { field: 'channel_id' })
  const before = data['before_seq'] === undefined ? null : optionalCursor(data, 'before_seq') ?? null
  const limit = data['limit'] === undefined ? 50 : optionalLimit(data, LIST_MESSAGES_MAX)
  await core.store.directory.readableChannel(caller.userId, channelId)
  const lastSeq = (await core.store.db.prisma.channel.findUnique({ where: { id: channelId }, select: { lastSeq: true } }))?.lastSeq ?? 0n
  const page = await core.store.messages.page(channelId, before, limit + 1)
  const shown = page.slice(0, limit).reverse()
  const reactions = await core.store.messages.reactions(shown.map((m) => m.id))
  const messages = await Promise.all(shown.map((m) => messageJson(core, caller, m, reactions.get(m.id))))
  return { channel_id: channelId, messages, has_more: page.length > limit, last_seq: lastSeq.toString() }
}

/** LIST_PINS: the pinned messages of a channel or chat, most recently pinned first. */
export async function doListPins(core: Core, caller: Caller, data: Data): Promise<{ channel_id: string; messages: MessageJson[] }> {
  const channelId = optionalId(data, 'channel_id')
  if (channelId === undefined) throw new ChatError('INVALID_FIELD', 'channel_id is required', { field: 'channel_id' })
  await core.store.directory.readableChannel(caller.userId, channelId)
  const pinned = await core.store.messages.pinned(channelId)
  const reactions = await core.store.messages.reactions(pinned.map((m) => m.id))
  return { channel_id: channelId, messages: await Promise.all(pinned.map((m) => messageJson(core, caller, m, reactions.get(m.id)))) }
}
