// The fields of a new message besides its channel: content, mentions, reply, forward,
// contact card, poll, attachments and lifetime (docs/protocol.md, "Messages"). Each check
// fails with a coded error naming the field; nothing is written here.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { AttachmentJson, ContactCardJson, DeltaMetaJson, MessageKind, PollJson, QuotedMessageJson } from '../../../clients/sdk/src/protocol.ts'
import { has, isRole, PERMISSIONS } from '../../../clients/sdk/src/permissions.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'
import { identityOf } from '../auth/identity.ts'
import { isPlainObject, requireMessageId, type Data } from '../requests/fields.ts'
import type { ChannelRecord, MessageFields } from '../store/types.ts'
import type { Caller, Core } from './context.ts'
import { attachmentIdsOf, claimFiles, touchFiles } from '../files/files.ts'

export const LIMITS = {
  mentions: 50,
  attachments: 10,
  pollOptions: 10,
  pollOptionChars: 200,
  pollQuestionChars: 500,
  quoteChars: 1000,
  maxExpiresInSeconds: 7 * 24 * 3600,
  emojiChars: 64,
  reactionsPerMessage: 20,
  pinsPerChannel: 50,
} as const

/** `<@userId>`, `<@&role>` and `<@everyone>` in a message's content. */
const MENTION = /<@(&?)([A-Za-z0-9_-]{1,64})>/g

/** Mention targets of a content: user ids, "role:<role>", "everyone" (unique, in order). */
export function parseMentions(content: string): string[] {
  const out = new Set<string>()
  for (const m of content.matchAll(MENTION)) {
    const [, amp, name] = m
    if (amp === '&') {
      if (isRole(name)) out.add(`role:${name}`)
    } else if (name === 'everyone') out.add('everyone')
    else out.add(name!)
  }
  return [...out]
}

/** Checks the mentions a caller may make in a channel with the given permission bits. */
export function checkMentions(mentions: readonly string[], channel: ChannelRecord, bits: number): void {
  if (mentions.length > LIMITS.mentions) throw new ChatError('INVALID_FIELD', `at most ${LIMITS.mentions} mentions per message`, { field: 'content' })
  const broad = mentions.some((m) => m === 'everyone' || m.startsWith('role:'))
  // In chats every member may mention the whole chat; in servers it takes MENTION_EVERYONE.
  if (broad && channel.serverId !== null && !has(bits, PERMISSIONS.MENTION_EVERYONE)) {
    throw new ChatError('FORBIDDEN', 'you may not mention everyone or a role in this channel', { field: 'content' })
  }
}

/** CONTENT_TOO_LARGE past CHIME_MAX_CONTENT_BYTES (new messages and edits). */
export function checkContentSize(core: Core, content: string): void {
  const bytes = Buffer.byteLength(content, 'utf8')
  if (bytes > core.config.maxContentBytes) {
    throw new ChatError('CONTENT_TOO_LARGE', `content is ${bytes} bytes; the limit is ${core.config.maxContentBytes}`, { limit: core.config.maxContentBytes })
  }
}

export interface MessageDraft {
  content: string
  meta: DeltaMetaJson
  attachments: AttachmentJson[] | null
  fields: MessageFields
}

function pollOf(value: unknown, now: Date): PollJson {
  if (!isPlainObject(value)) throw new ChatError('INVALID_FIELD', 'poll must be an object', { field: 'poll' })
  const { question, options, multiple, closes_at: closesAt } = value
  if (typeof question !== 'string' || question.trim().length === 0 || question.length > LIMITS.pollQuestionChars) {
    throw new ChatError('INVALID_FIELD', `poll.question must be 1 to ${LIMITS.pollQuestionChars} characters`, { field: 'poll.question' })
  }
  if (!Array.isArray(options) || options.length < 2 || options.length > LIMITS.pollOptions) {
    throw new ChatError('INVALID_FIELD', `poll.options must list 2 to ${LIMITS.pollOptions} answers`, { field: 'poll.options' })
  }
  const texts = options.map((o: unknown, i) => {
    if (typeof o !== 'string' || o.trim().length === 0 || o.length > LIMITS.pollOptionChars) {
      throw new ChatError('INVALID_FIELD', `poll.options[${i}] must be 1 to ${LIMITS.pollOptionChars} characters`, { field: `poll.options[${i}]` })
    }
    return o
  })
  if (new Set(texts).size !== texts.length) throw new ChatError('INVALID_FIELD', 'poll.options must differ', { field: 'poll.options' })
  if (multiple !== undefined && typeof multiple !== 'boolean') throw new ChatError('INVALID_FIELD', 'poll.multiple must be true or false', { field: 'poll.multiple' })
  const poll: PollJson = { question, options: texts, multiple: multiple ?? false }
  if (closesAt !== undefined) {
    const at = typeof closesAt === 'string' ? new Date(closesAt) : new Date(NaN)
    if (Number.isNaN(at.getTime()) || at.getTime() <= now.getTime()) throw new ChatError('INVALID_FIELD', 'poll.closes_at must be an ISO time in the future', { field: 'poll.closes_at' })
    poll.closes_at = at.toISOString()
  }
  return poll
}

/** Checks a new message's fields; reads the originals of replies, forwards and cards. */
export async function draftMessage(core: Core, caller: Caller, channel: ChannelRecord, bits: number, data: Data, now = new Date()): Promise<MessageDraft> {
  const content = data['content'] ?? ''
  if (typeof content !== 'string') throw new ChatError('INVALID_FIELD', 'content must be a string', { field: 'content' })
  checkContentSize(core, content)
  const meta: DeltaMetaJson = {}
  let kind: MessageKind = 'text'
  let text = content
  const special = ['forward_of', 'card_user_id', 'poll'].filter((k) => data[k] !== undefined)
  if (special.length > 1) throw new ChatError('INVALID_FIELD', `send one of ${special.join(', ')} per message`, { field: special[1] })

  const fileIds = attachmentIdsOf(data['attachments'], LIMITS.attachments)
  let attachments: AttachmentJson[] | null = null
  // A forward of a message with a lifetime expires no later than the original.
  let forwardExpiry: Date | null = null
  if (data['forward_of'] !== undefined) {
    if (content.length > 0 || fileIds !== null) throw new ChatError('INVALID_FIELD', 'a forward carries the original as it is; send no content or attachments with it', { field: 'content' })
    const id = requireMessageId(data, 'forward_of')
    const original = await core.store.messages.readable(caller.userId, id)
    kind = 'forward'
    text = original.content ?? ''
    attachments = original.attachments
    forwardExpiry = original.expiresAt
    meta.forwarded_from = { message_id: id.toString(), channel_id: original.channelId, user_id: original.userId, timestamp: original.createdAt.toISOString() }
  } else if (data['card_user_id'] !== undefined) {
    const userId = data['card_user_id']
    if (!isValidId(userId)) throw new ChatError('INVALID_FIELD', 'card_user_id must be a user id', { field: 'card_user_id' })
    const user = await identityOf(core).accounts.findUser(userId)
    if (user === null) throw new ChatError('USER_NOT_FOUND', undefined, { field: 'card_user_id' })
    if (user.deletedAt !== null) throw new ChatError('USER_DELETED', undefined, { field: 'card_user_id' })
    const card: ContactCardJson = { user_id: user.id, username: user.username, display_name: user.displayName }
    kind = 'card'
    meta.card = card
  } else if (data['poll'] !== undefined) {
    const poll = pollOf(data['poll'], now)
    kind = 'poll'
    meta.poll = poll
    if (content.length === 0) text = poll.question
  } else if (fileIds !== null) kind = 'file'
  else if (content.trim().length === 0) throw new ChatError('INVALID_FIELD', 'content must not be empty', { field: 'content' })

  if ((fileIds !== null || attachments !== null) && channel.serverId !== null && !has(bits, PERMISSIONS.ATTACH_FILES)) {
    throw new ChatError('FORBIDDEN', 'you may not attach files in this channel', { field: 'attachments' })
  }

  let replyTo: bigint | null = null
  if (data['reply_to'] !== undefined) {
    replyTo = requireMessageId(data, 'reply_to')
    const original = await core.store.messages.readable(caller.userId, replyTo)
    if (original.channelId !== channel.id) throw new ChatError('INVALID_FIELD', 'reply_to must be a message of the same channel or chat', { field: 'reply_to' })
    const quote: QuotedMessageJson = {
      message_id: replyTo.toString(),
      user_id: original.userId,
      // A message that will expire is quoted without its content, so nothing outlives it.
      content: original.expiresAt !== null || original.content === null ? null : original.content.slice(0, LIMITS.quoteChars),
      kind: original.kind,
      timestamp: original.createdAt.toISOString(),
    }
    meta.reply_to = quote
  }

  const mentions = parseMentions(text)
  checkMentions(mentions, channel, bits)
  if (mentions.length > 0) meta.mentions = mentions

  let expiresAt: Date | null = null
  const expiresIn = data['expires_in']
  if (expiresIn !== undefined) {
    if (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > LIMITS.maxExpiresInSeconds) {
      throw new ChatError('INVALID_FIELD', `expires_in must be 1 to ${LIMITS.maxExpiresInSeconds} seconds`, { field: 'expires_in' })
    }
    expiresAt = new Date(now.getTime() + expiresIn * 1000)
  } else if (channel.messageTtlSeconds !== null && channel.messageTtlSeconds !== undefined) {
    expiresAt = new Date(now.getTime() + channel.messageTtlSeconds * 1000)
  }
  if (forwardExpiry !== null && (expiresAt === null || forwardExpiry < expiresAt)) expiresAt = forwardExpiry
  if (expiresAt !== null) meta.expires_at = expiresAt.toISOString()
  if (kind !== 'text') meta.kind = kind
  // Last, once everything else passed: the files' details come from their uploads, and the
  // claim keeps them (and a forward's original's files) from removal until the append.
  if (fileIds !== null) attachments = await claimFiles(core, caller, fileIds, now)
  else if (attachments !== null) await touchFiles(core, attachments.map((a) => a.file_id), now)
  return { content: text, meta, attachments, fields: { kind, replyTo, expiresAt, mentions, fileIds: attachments?.map((a) => a.file_id) ?? [] } }
}
