// Changes to existing messages (edit, delete, reactions, pins, poll votes), as work inside
// an append transaction: each re-reads the message under the sequencer lock, checks its
// state, updates the current-state rows and returns the one delta that records the change
// (target_id = the message id). A change that changes nothing (a second identical reaction,
// pinning a pinned message) writes nothing and appends no delta.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { DeltaMetaJson, DeltaType, MessageKind } from '../../../clients/sdk/src/protocol.ts'
import { dbDate, type Tx, type TxOutcome } from './append-engine.ts'
import type { Change, ChangeWork } from './changes.ts'
import type { AppendInput } from './types.ts'

export interface MessageChangeResult {
  /** false when the message already was in the asked state: nothing was appended. */
  changed: boolean
}

interface LockedMessage {
  id: bigint
  channelId: string
  userId: string
  kind: MessageKind
  meta: DeltaMetaJson
  isDeleted: boolean
  expiresAt: Date | null
  pinnedAt: Date | null
}

async function lockedMessage(tx: Tx, id: bigint, now: Date): Promise<LockedMessage> {
  const [r] = await tx.all('SELECT message_id, channel_id, user_id, kind, meta, is_deleted, expires_at, pinned_at FROM messages WHERE message_id = ?', [id])
  if (r === undefined) throw new ChatError('MESSAGE_NOT_FOUND')
  const m: LockedMessage = {
    id,
    channelId: String(r['channel_id']),
    userId: String(r['user_id']),
    kind: String(r['kind']) as MessageKind,
    meta: r['meta'] === null ? {} : (JSON.parse(String(r['meta'])) as DeltaMetaJson),
    isDeleted: Number(r['is_deleted']) === 1,
    expiresAt: dbDate(r['expires_at']),
    pinnedAt: dbDate(r['pinned_at']),
  }
  if (m.isDeleted || (m.expiresAt !== null && m.expiresAt.getTime() <= now.getTime())) throw new ChatError('MESSAGE_DELETED')
  return m
}

function changed(m: LockedMessage, userId: string, type: DeltaType, content: string | null, meta?: DeltaMetaJson): TxOutcome<Change<MessageChangeResult>> {
  const delta: AppendInput = { channelId: m.channelId, userId, type, content, targetId: m.id }
  if (meta !== undefined && Object.keys(meta).length > 0) delta.meta = JSON.stringify(meta)
  return { value: { result: { changed: true }, access: [], inbox: [] }, deltas: [delta] }
}

const unchanged = (): TxOutcome<Change<MessageChangeResult>> => ({ value: { result: { changed: false }, access: [], inbox: [] }, deltas: [] })

async function replaceMentions(tx: Tx, m: { id: bigint; channelId: string }, seq: bigint, mentions: readonly string[]): Promise<void> {
  await tx.run('DELETE FROM message_mentions WHERE message_id = ?', [m.id])
  for (const target of mentions) {
    await tx.run('INSERT INTO message_mentions (message_id, channel_id, seq, target) VALUES (?, ?, ?, ?)', [m.id, m.channelId, seq, target])
  }
}

/** Only the author edits; text and file messages only; the edit keeps the earlier versions in the log. */
export function editMessage(userId: string, id: bigint, content: string, mentions: readonly string[], now = new Date()): ChangeWork<MessageChangeResult> {
  return async (tx) => {
    const m = await lockedMessage(tx, id, now)
    if (m.userId !== userId) throw new ChatError('NOT_MESSAGE_AUTHOR', 'only the author edits a message')
    if (m.kind !== 'text' && m.kind !== 'file') throw new ChatError('MESSAGE_NOT_EDITABLE', `a ${m.kind} message cannot be edited`)
    const [cur] = await tx.all('SELECT content, seq FROM messages WHERE message_id = ?', [id])
    if (cur !== undefined && cur['content'] === content) return unchanged()
    const meta: DeltaMetaJson = { ...m.meta }
    if (mentions.length > 0) meta.mentions = [...mentions]
    else delete meta.mentions
    await tx.run('UPDATE messages SET content = ?, meta = ?, is_edited = ?, edited_at = ? WHERE message_id = ?', [
      content, Object.keys(meta).length > 0 ? JSON.stringify(meta) : null, true, now, id,
    ])
    await replaceMentions(tx, m, BigInt(cur?.['seq'] ?? 0), mentions)
    // An edit of a message with a lifetime carries it, so readers drop the edit with the message.
    const editMeta: DeltaMetaJson = {}
    if (mentions.length > 0) editMeta.mentions = [...mentions]
    if (m.expiresAt !== null) editMeta.expires_at = m.expiresAt.toISOString()
    return changed(m, userId, 'edit', content, editMeta)
  }
}

/**
 * The author, or a moderator of the channel (`asModerator`, checked by the caller), deletes.
 * The current state loses its content, reactions, votes, mentions and pin; the log keeps the
 * `delete` delta (and, until the message's partition is compacted, the original delta).
 */
export function deleteMessage(userId: string, id: bigint, asModerator: boolean, now = new Date()): ChangeWork<MessageChangeResult> {
  return async (tx) => {
    const m = await lockedMessage(tx, id, now)
    const by = m.userId === userId ? 'author' : asModerator ? 'moderator' : null
    if (by === null) throw new ChatError('NOT_MESSAGE_AUTHOR', 'only the author or a moderator deletes a message')
    await tx.run('UPDATE messages SET is_deleted = ?, content = NULL, meta = NULL, attachments = NULL, pinned_at = NULL, pinned_by = NULL WHERE message_id = ?', [true, id])
    await tx.run('DELETE FROM message_reactions WHERE message_id = ?', [id])
    await tx.run('DELETE FROM poll_votes WHERE message_id = ?', [id])
    await tx.run('DELETE FROM message_mentions WHERE message_id = ?', [id])
    // Its files lose this reference; the caller releases those no other message carries.
    await tx.run('DELETE FROM attachments WHERE message_id = ?', [id])
    return changed(m, userId, 'delete', null, { by })
  }
}

/** Adds or removes one user's reaction; at most `maxEmoji` different emoji per message. */
export function setReaction(userId: string, id: bigint, emoji: string, add: boolean, maxEmoji: number, now = new Date()): ChangeWork<MessageChangeResult> {
  return async (tx) => {
    const m = await lockedMessage(tx, id, now)
    const [mine] = await tx.all('SELECT 1 AS x FROM message_reactions WHERE message_id = ? AND user_id = ? AND emoji = ?', [id, userId, emoji])
    if (add === (mine !== undefined)) return unchanged()
    if (add) {
      const present = await tx.all('SELECT DISTINCT emoji FROM message_reactions WHERE message_id = ?', [id])
      if (!present.some((r) => r['emoji'] === emoji) && present.length >= maxEmoji) {
        throw new ChatError('REACTION_LIMIT', `a message has at most ${maxEmoji} different reactions`, { limit: maxEmoji })
      }
      await tx.run('INSERT INTO message_reactions (message_id, user_id, emoji, channel_id, created_at) VALUES (?, ?, ?, ?, ?)', [id, userId, emoji, m.channelId, now])
    } else {
      await tx.run('DELETE FROM message_reactions WHERE message_id = ? AND user_id = ? AND emoji = ?', [id, userId, emoji])
    }
    return changed(m, userId, add ? 'reaction_added' : 'reaction_removed', null, { emoji })
  }
}

/** Pins or unpins (the caller's right to is checked before); at most `maxPins` per channel. */
export function setPinned(userId: string, id: bigint, pin: boolean, maxPins: number, now = new Date()): ChangeWork<MessageChangeResult> {
  return async (tx) => {
    const m = await lockedMessage(tx, id, now)
    if (pin === (m.pinnedAt !== null)) return unchanged()
    if (pin) {
      const [n] = await tx.all('SELECT COUNT(*) AS n FROM messages WHERE channel_id = ? AND pinned_at IS NOT NULL AND is_deleted = ?', [m.channelId, false])
      if (Number(n?.['n'] ?? 0) >= maxPins) throw new ChatError('PIN_LIMIT', `a channel has at most ${maxPins} pinned messages`, { limit: maxPins })
      await tx.run('UPDATE messages SET pinned_at = ?, pinned_by = ? WHERE message_id = ?', [now, userId, id])
    } else {
      await tx.run('UPDATE messages SET pinned_at = NULL, pinned_by = NULL WHERE message_id = ?', [id])
    }
    return changed(m, userId, pin ? 'pinned' : 'unpinned', null)
  }
}

async function openPoll(tx: Tx, id: bigint, now: Date): Promise<LockedMessage & { poll: NonNullable<DeltaMetaJson['poll']> }> {
  const m = await lockedMessage(tx, id, now)
  const poll = m.meta.poll
  if (m.kind !== 'poll' || poll === undefined) throw new ChatError('NOT_A_POLL')
  const closes = poll.closes_at === undefined ? null : new Date(poll.closes_at)
  const [closed] = await tx.all("SELECT 1 AS x FROM deltas WHERE target_id = ? AND type = 'poll_closed'", [id])
  if (closed !== undefined || (closes !== null && closes.getTime() <= now.getTime())) throw new ChatError('POLL_CLOSED')
  return { ...m, poll }
}

/** Replaces the user's vote with `options` (validated against the poll), or retracts it (empty). */
export function vote(userId: string, id: bigint, options: readonly number[], now = new Date()): ChangeWork<MessageChangeResult> {
  return async (tx) => {
    const m = await openPoll(tx, id, now)
    const chosen = [...new Set(options)].sort((a, b) => a - b)
    if (chosen.length !== options.length) throw new ChatError('INVALID_FIELD', 'options must not repeat', { field: 'options' })
    if (chosen.some((o) => o < 0 || o >= m.poll.options.length)) throw new ChatError('INVALID_FIELD', `options are indexes 0 to ${m.poll.options.length - 1}`, { field: 'options' })
    if (!m.poll.multiple && chosen.length > 1) throw new ChatError('INVALID_FIELD', 'this poll takes one option', { field: 'options' })
    const before = (await tx.all('SELECT option_idx FROM poll_votes WHERE message_id = ? AND user_id = ? ORDER BY option_idx', [id, userId])).map((r) => Number(r['option_idx']))
    if (before.length === chosen.length && before.every((o, i) => o === chosen[i])) return unchanged()
    await tx.run('DELETE FROM poll_votes WHERE message_id = ? AND user_id = ?', [id, userId])
    for (const o of chosen) await tx.run('INSERT INTO poll_votes (message_id, user_id, option_idx, created_at) VALUES (?, ?, ?, ?)', [id, userId, o, now])
    return chosen.length === 0 ? changed(m, userId, 'poll_retracted', null) : changed(m, userId, 'poll_vote', null, { options: chosen })
  }
}

/** The poll's author (or a moderator, checked by the caller) stops the voting. */
export function closePoll(userId: string, id: bigint, asModerator: boolean, now = new Date()): ChangeWork<MessageChangeResult> {
  return async (tx) => {
    const m = await openPoll(tx, id, now)
    if (m.userId !== userId && !asModerator) throw new ChatError('NOT_MESSAGE_AUTHOR', 'only the author or a moderator closes a poll')
    return changed(m, userId, 'poll_closed', null)
  }
}
