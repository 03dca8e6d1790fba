// Secret chats inside the append transaction (docs/protocol.md, "Secret chats, broadcast and
// export"): changing a chat's message timer, and purging messages past their expiry. Both
// read the rows under the sequencer lock, so what they decide holds across every API sidecar.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { AttachmentJson, DeltaMetaJson, MessageKind } from '../../../clients/sdk/src/protocol.ts'
import { dbDate, type Row, type Tx, type TxOutcome } from './append-engine.ts'
import type { Change, ChangeWork } from './changes.ts'
import type { AppendInput } from './types.ts'

/** Bounds of a chat's message timer, in seconds (5 s to 7 days). */
export const CHAT_TTL = { min: 5, max: 7 * 24 * 3600, default: 24 * 3600 } as const

// ---- the message timer of a chat

export interface ChatTimerResult {
  chatId: string
  ttlSeconds: number | null
  /** false when the chat already had this timer: nothing was written. */
  changed: boolean
}

/**
 * Sets (or with null removes) the timer of a chat: every message sent afterwards expires
 * that many seconds after it is sent; messages sent before keep their own expiry. Groups:
 * the admin; 1:1 chats: either member. A secret 1:1 chat (kind dm without a dm_key) always
 * keeps a timer. Recorded as `chat_updated` {message_ttl_seconds, by}.
 */
export function setChatTimer(chatId: string, actorId: string, ttlSeconds: number | null): ChangeWork<ChatTimerResult> {
  return async (tx) => {
    const [chat] = await tx.all("SELECT kind, dm_key, closed_at, message_ttl_seconds FROM channels WHERE id = ? AND server_id IS NULL AND kind IN ('dm', 'group')", [chatId])
    const [member] = chat === undefined ? [] : await tx.all('SELECT role FROM chat_members WHERE channel_id = ? AND user_id = ?', [chatId, actorId])
    if (chat === undefined || member === undefined) throw new ChatError('CHANNEL_NOT_FOUND')
    if (chat['closed_at'] !== null) throw new ChatError('CHANNEL_CLOSED')
    if (chat['kind'] === 'group' && member['role'] !== 'admin') throw new ChatError('FORBIDDEN', "only the group admin changes the group's message timer")
    if (chat['kind'] === 'dm' && chat['dm_key'] === null && ttlSeconds === null) {
      throw new ChatError('INVALID_FIELD', 'a secret 1:1 chat always has a timer; write in the normal 1:1 chat instead', { field: 'message_ttl_seconds' })
    }
    const current = chat['message_ttl_seconds'] === null ? null : Number(chat['message_ttl_seconds'])
    if (current === ttlSeconds) return { value: { result: { chatId, ttlSeconds, changed: false }, access: [], inbox: [] }, deltas: [] }
    await tx.run('UPDATE channels SET message_ttl_seconds = ? WHERE id = ?', [ttlSeconds, chatId])
    const delta: AppendInput = { channelId: chatId, userId: actorId, type: 'chat_updated', content: JSON.stringify({ message_ttl_seconds: ttlSeconds, by: actorId }) }
    return {
      value: {
        result: { chatId, ttlSeconds, changed: true },
        // The `chat-closed` event makes every API process and broker node drop its cached row
        // of the chat (that is all it does for a chat that is still open), so posts through
        // any sidecar take the new timer at once; nobody's grants change.
        access: [{ type: 'chat-closed', chatId }],
        inbox: [],
      },
      deltas: [delta],
    }
  }
}

// ---- purging expired messages

/**
 * Marks the archives of the sealed partitions that hold these deltas as stale: archived_at
 * goes back to NULL (the archiver writes the partition again) and archive_version rises (an
 * archiver that read the partition before this purge cannot mark its file as current).
 */
async function invalidateArchives(tx: Tx, deltas: readonly { channelId: string; deltaId: bigint }[]): Promise<void> {
  const byChannel = new Map<string, bigint[]>()
  for (const d of deltas) byChannel.set(d.channelId, [...(byChannel.get(d.channelId) ?? []), d.deltaId])
  for (const [channelId, ids] of byChannel) {
    const ranges = ids.map(() => '(start_delta_id <= ? AND end_delta_id >= ?)').join(' OR ')
    await tx.run(
      `UPDATE delta_partitions SET archived_at = NULL, archive_version = archive_version + 1 WHERE channel_id = ? AND sealed = TRUE AND (${ranges})`,
      [channelId, ...ids.flatMap((id) => [param(id), param(id)])],
    )
  }
}

/** A message the sweeper purged, with the files its attachments named. */
export interface PurgedMessage {
  messageId: bigint
  channelId: string
  fileIds: string[]
  /** When it was posted: a claim of its files after that is another post's (files.ts releaseFiles). */
  postedAt: Date
}

const idOf = (v: Row[string] | undefined): bigint => BigInt(String(v))

/** An id as a SQL parameter: a number while exact (MySQL compares BIGINT keys with numbers fastest). */
const param = (id: bigint): bigint | number => (id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id)

function attachmentsOf(v: unknown): AttachmentJson[] {
  if (v === null || v === undefined) return []
  const parsed: unknown = typeof v === 'string' ? JSON.parse(v) : v
  return Array.isArray(parsed) ? (parsed as AttachmentJson[]) : []
}

/** What the purged `message` delta keeps: its kind (when not text) and when it expired. */
function purgedMeta(kind: MessageKind, expiresAt: Date): string {
  const meta: DeltaMetaJson = {}
  if (kind !== 'text') meta.kind = kind
  meta.expires_at = expiresAt.toISOString()
  return JSON.stringify(meta)
}

/**
 * Purges up to `batchMax` messages whose expiry has passed and that are not purged yet,
 * chosen under the sequencer lock (so sidecars sweeping at once never take the same
 * message twice): the messages row loses content, meta, attachments and pin and gets
 * purged_at; the original `message` delta loses content and attachments and keeps only
 * {kind?, expires_at} as meta; the message's `edit` deltas lose content and meta; its
 * reactions, poll votes and mentions go. This UPDATE of delta rows is the one documented
 * exception to "a delta is never altered" (docs/architecture.md, guarantee 6). One
 * `expired` delta per message (target_id = the message id, content null, user_id = its
 * author) tells every client to remove it.
 */
export function purgeExpired(batchMax: number, now: Date = new Date()): ChangeWork<PurgedMessage[]> {
  const limit = Math.max(1, Math.floor(batchMax))
  return async (tx: Tx): Promise<TxOutcome<Change<PurgedMessage[]>>> => {
    const rows = await tx.all(
      `SELECT message_id, channel_id, user_id, kind, expires_at, attachments, timestamp FROM messages
       WHERE purged_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?
       ORDER BY expires_at, message_id LIMIT ${limit}`,
      [now],
    )
    if (rows.length === 0) return { value: { result: [], access: [], inbox: [] }, deltas: [] }
    const ids = rows.map((r) => param(idOf(r['message_id'])))
    const marks = ids.map(() => '?').join(', ')
    await tx.run(`UPDATE messages SET content = NULL, meta = NULL, attachments = NULL, pinned_at = NULL, pinned_by = NULL, purged_at = ? WHERE message_id IN (${marks})`, [now, ...ids])
    const cases = rows.flatMap((r) => [param(idOf(r['message_id'])), purgedMeta(String(r['kind']) as MessageKind, dbDate(r['expires_at'])!)])
    await tx.run(
      `UPDATE deltas SET content = NULL, attachments = NULL, meta = CASE delta_id ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END
       WHERE delta_id IN (${marks}) AND type = 'message'`,
      [...cases, ...ids],
    )
    await tx.run(`UPDATE deltas SET content = NULL, meta = NULL WHERE type = 'edit' AND target_id IN (${marks})`, ids)
    // A sealed partition holding any purged delta has an archive file with the content in it:
    // mark it to be written again (services/history-archive.ts), and deleted with it the old file.
    const edits = await tx.all(`SELECT delta_id, channel_id FROM deltas WHERE type = 'edit' AND target_id IN (${marks})`, ids)
    await invalidateArchives(tx, [...rows.map((r) => ({ channelId: String(r['channel_id']), deltaId: idOf(r['message_id']) })), ...edits.map((r) => ({ channelId: String(r['channel_id']), deltaId: idOf(r['delta_id']) }))])
    await tx.run(`DELETE FROM message_reactions WHERE message_id IN (${marks})`, ids)
    await tx.run(`DELETE FROM poll_votes WHERE message_id IN (${marks})`, ids)
    await tx.run(`DELETE FROM message_mentions WHERE message_id IN (${marks})`, ids)
    await tx.run(`DELETE FROM attachments WHERE message_id IN (${marks})`, ids)
    const purged: PurgedMessage[] = rows.map((r) => ({
      messageId: idOf(r['message_id']),
      channelId: String(r['channel_id']),
      fileIds: attachmentsOf(r['attachments']).map((a) => a.file_id),
      postedAt: dbDate(r['timestamp'])!,
    }))
    const deltas: AppendInput[] = rows.map((r) => ({ channelId: String(r['channel_id']), userId: String(r['user_id']), type: 'expired', content: null, targetId: idOf(r['message_id']) }))
    return { value: { result: purged, access: [], inbox: [] }, deltas }
  }
}
