// Reads of messages' current state (the messages table and the state tables the update
// deltas leave: reactions, poll votes), through Prisma. Writes happen in the append
// transaction only (append-*.ts for new messages, message-changes.ts for updates).
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { AttachmentJson, DeltaMetaJson, MessageKind } from '../../../clients/sdk/src/protocol.ts'
import type { Database } from '../db/open-database.ts'
import type { Directory } from './directory.ts'

export interface MessageRecord {
  id: bigint
  channelId: string
  seq: bigint
  userId: string
  kind: MessageKind
  content: string | null
  meta: DeltaMetaJson
  attachments: AttachmentJson[] | null
  replyTo: bigint | null
  createdAt: Date
  isEdited: boolean
  editedAt: Date | null
  isDeleted: boolean
  expiresAt: Date | null
  pinnedAt: Date | null
  pinnedBy: string | null
}

/** A messages row as Prisma reads it. */
type MessageRow = Omit<MessageRecord, 'kind' | 'meta' | 'attachments'> & { kind: string; meta: string | null; attachments: unknown }

export function toMessageRecord(r: MessageRow): MessageRecord {
  return {
    ...r,
    kind: r.kind as MessageKind,
    meta: r.meta === null ? {} : (JSON.parse(r.meta) as DeltaMetaJson),
    attachments: r.attachments === null || r.attachments === undefined ? null : (r.attachments as AttachmentJson[]),
  }
}

/** Whether a message is gone for readers: deleted, or past its expiry. */
export function isGone(m: Pick<MessageRecord, 'isDeleted' | 'expiresAt'>, now = Date.now()): boolean {
  return m.isDeleted || (m.expiresAt !== null && m.expiresAt.getTime() <= now)
}

/** The deltas poll results are folded from (services/messages.ts, pollResults). */
export const POLL_UPDATE_TYPES = ['poll_vote', 'poll_retracted', 'poll_closed'] as const

/** One of those deltas, as the fold reads it. */
export interface PollUpdateRow {
  type: string
  userId: string
  meta: string | null
}

export interface MessageVersion {
  deltaId: bigint
  content: string | null
  at: Date
}

export class MessageStore {
  constructor(
    private readonly db: Database,
    private readonly directory: Directory,
  ) {}

  async find(id: bigint): Promise<MessageRecord | null> {
    const row = await this.db.prisma.message.findUnique({ where: { id } })
    return row === null ? null : toMessageRecord(row)
  }

  /**
   * A message userId may read, or MESSAGE_NOT_FOUND (no such message, or one of a channel
   * the user cannot read: the two are not told apart) or MESSAGE_DELETED.
   */
  async readable(userId: string, id: bigint): Promise<MessageRecord> {
    const m = await this.find(id)
    if (m === null) throw new ChatError('MESSAGE_NOT_FOUND')
    const channel = await this.directory.findChannel(m.channelId)
    if (channel === null || !(await this.directory.canRead(userId, channel))) throw new ChatError('MESSAGE_NOT_FOUND')
    if (isGone(m)) throw new ChatError('MESSAGE_DELETED')
    return m
  }

  /** The message's content as first sent, then after each edit, oldest first. */
  async versions(m: MessageRecord): Promise<MessageVersion[]> {
    const first = await this.db.prisma.delta.findUnique({ where: { id: m.id }, select: { content: true, createdAt: true } })
    const edits = await this.db.prisma.delta.findMany({
      where: { targetId: m.id, type: 'edit' },
      orderBy: { id: 'asc' },
      select: { id: true, content: true, createdAt: true },
    })
    return [
      { deltaId: m.id, content: first?.content ?? null, at: first?.createdAt ?? m.createdAt },
      ...edits.map((e) => ({ deltaId: e.id, content: e.content, at: e.createdAt })),
    ]
  }

  /** Up to `limit` messages of a channel before `beforeSeq` (all: null), newest first; deleted ones included (readers see them as deleted). */
  async page(channelId: string, beforeSeq: bigint | null, limit: number): Promise<MessageRecord[]> {
    const rows = await this.db.prisma.message.findMany({
      where: { channelId, ...(beforeSeq === null ? {} : { seq: { lt: beforeSeq } }) },
      orderBy: { seq: 'desc' },
      take: limit,
    })
    return rows.map(toMessageRecord)
  }

  /** Pinned messages of a channel, most recently pinned first. */
  async pinned(channelId: string): Promise<MessageRecord[]> {
    const rows = await this.db.prisma.message.findMany({
      where: { channelId, pinnedAt: { not: null }, isDeleted: false },
      orderBy: { pinnedAt: 'desc' },
    })
    return rows.map(toMessageRecord).filter((m) => !isGone(m))
  }

  /** Reactions of the given messages: message id -> emoji -> user ids (in reaction order). */
  async reactions(ids: readonly bigint[]): Promise<Map<bigint, Map<string, string[]>>> {
    const out = new Map<bigint, Map<string, string[]>>()
    if (ids.length === 0) return out
    const rows = await this.db.prisma.messageReaction.findMany({ where: { messageId: { in: [...ids] } }, orderBy: { createdAt: 'asc' } })
    for (const r of rows) {
      let byEmoji = out.get(r.messageId)
      if (byEmoji === undefined) out.set(r.messageId, (byEmoji = new Map()))
      const users = byEmoji.get(r.emoji) ?? []
      users.push(r.userId)
      byEmoji.set(r.emoji, users)
    }
    return out
  }

  /** Votes of a poll: user id -> chosen option indexes. */
  async votes(id: bigint): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>()
    for (const v of await this.db.prisma.pollVote.findMany({ where: { messageId: id }, orderBy: { option: 'asc' } })) {
      out.set(v.userId, [...(out.get(v.userId) ?? []), v.option])
    }
    return out
  }

  /** Whether the poll's author closed it (a poll_closed delta exists). */
  async pollClosed(id: bigint): Promise<boolean> {
    return (await this.db.prisma.delta.count({ where: { targetId: id, type: 'poll_closed' } })) > 0
  }
}
