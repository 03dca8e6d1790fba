// The reads of FETCH_DELTA (services/fetch-delta.ts; docs/protocol.md, "FETCH_DELTA"): one
// window of a channel's log, by seq, and the current state of the messages it created or
// changed. Everything is read in one read transaction, so the channel's last seq and the
// state (messages, reactions, poll votes) come from the same snapshot: the state is exactly
// the one the log reaches at that last seq, which is what makes applying later deltas on top
// safe. Each lookup is one statement per chunk of ids over an index (deltas by
// (channel_id, seq) and target_id, messages by (channel_id, seq) and id), never one per message.
import { MESSAGE_UPDATE_TYPES } from '../../../clients/sdk/src/protocol.ts'
import type { Database, TransactionClient } from '../db/open-database.ts'
import { toRecord } from './delta-log.ts'
import { isGone, POLL_UPDATE_TYPES, toMessageRecord, type MessageRecord, type PollUpdateRow } from './messages.ts'
import type { DeltaRecord } from './types.ts'

/** Ids per IN list: under SQLite's limit of 999 bound parameters. */
const IN_CHUNK = 900

/** How long the read transaction may take; a page of CHIME_MAX_PAGE_SIZE (at most 10,000) deltas takes far less. */
const READ_TIMEOUT_MS = 30_000

/** Delta types folded into message state; every other type is handed over as it is. */
export const COMPACTED_TYPES: readonly string[] = ['message', ...MESSAGE_UPDATE_TYPES]

export interface CatchUpWindow {
  /** The channel's last seq in the snapshot. */
  lastSeq: bigint
  /** The window is (afterSeq, endSeq]. */
  endSeq: bigint
  /** Messages created in the window, by seq (deleted and expired ones too). */
  created: MessageRecord[]
  /** Messages created before the window that a delta of the window changed, by seq. */
  changed: MessageRecord[]
  /** The window's deltas that are neither a message nor a change of one, oldest first. */
  others: DeltaRecord[]
  /** Reactions of the messages that are not gone: message id -> emoji -> user ids, in reaction order. */
  reactions: Map<bigint, Map<string, string[]>>
  /** Poll deltas of the polls that are not gone, oldest first. */
  pollUpdates: Map<bigint, PollUpdateRow[]>
  /** The originals the replies among them quote. */
  originals: Map<bigint, Pick<MessageRecord, 'isDeleted' | 'expiresAt'>>
}

export type CatchUpRead = { ok: true; window: CatchUpWindow } | { ok: false; lastSeq: bigint }

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += IN_CHUNK) out.push(items.slice(i, i + IN_CHUNK))
  return out
}

const bySeq = (a: MessageRecord, b: MessageRecord): number => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0)

/** Runs `read` on every chunk of ids, one statement after the other (a transaction has one connection). */
async function inChunks<T>(ids: readonly bigint[], read: (chunk: bigint[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = []
  for (const chunk of chunks(ids)) out.push(...(await read(chunk)))
  return out
}

async function readWindow(tx: TransactionClient, channelId: string, serverId: string | null, afterSeq: bigint, limit: number, now: number): Promise<CatchUpRead> {
  const channel = await tx.channel.findUnique({ where: { id: channelId }, select: { lastSeq: true } })
  const lastSeq = channel?.lastSeq ?? 0n
  if (afterSeq > lastSeq) return { ok: false, lastSeq }
  const endSeq = afterSeq + BigInt(limit) < lastSeq ? afterSeq + BigInt(limit) : lastSeq
  const window: CatchUpWindow = { lastSeq, endSeq, created: [], changed: [], others: [], reactions: new Map(), pollUpdates: new Map(), originals: new Map() }
  if (endSeq === afterSeq) return { ok: true, window }
  const seq = { gt: afterSeq, lte: endSeq }

  // The window's deltas in three range reads of (channel_id, seq): the targets of changes,
  // the deltas handed over as they are, and (from the messages table) the messages created.
  const targets = await tx.delta.findMany({ where: { channelId, seq, targetId: { not: null } }, select: { targetId: true } })
  const others = await tx.delta.findMany({ where: { channelId, seq, type: { notIn: [...COMPACTED_TYPES] } }, orderBy: { seq: 'asc' } })
  window.others = others.map((r) => toRecord(r, serverId))
  window.created = (await tx.message.findMany({ where: { channelId, seq }, orderBy: { seq: 'asc' } })).map(toMessageRecord)

  // By primary key alone: with a channel_id condition too, SQLite (without statistics)
  // walks one of the channel's indexes instead, which grows with the channel.
  const createdIds = new Set(window.created.map((m) => m.id))
  const olderIds = [...new Set(targets.map((t) => t.targetId!))].filter((id) => !createdIds.has(id))
  window.changed = (await inChunks(olderIds, (chunk) => tx.message.findMany({ where: { id: { in: chunk } } })))
    .map(toMessageRecord)
    .filter((m) => m.channelId === channelId)
    .sort(bySeq)

  // What rendering needs of the messages still there: reactions, poll deltas, quoted originals.
  const live = [...window.created, ...window.changed].filter((m) => !isGone(m, now))
  const liveIds = live.map((m) => m.id)
  const reactions = await inChunks(liveIds, (chunk) => tx.messageReaction.findMany({ where: { messageId: { in: chunk } }, orderBy: { createdAt: 'asc' } }))
  for (const r of reactions) {
    let byEmoji = window.reactions.get(r.messageId)
    if (byEmoji === undefined) window.reactions.set(r.messageId, (byEmoji = new Map()))
    const users = byEmoji.get(r.emoji) ?? []
    users.push(r.userId)
    byEmoji.set(r.emoji, users)
  }
  const pollIds = live.filter((m) => m.kind === 'poll' && m.meta.poll !== undefined).map((m) => m.id)
  const pollRows = await inChunks(pollIds, (chunk) => tx.delta.findMany({
    where: { targetId: { in: chunk }, type: { in: [...POLL_UPDATE_TYPES] } },
    orderBy: { id: 'asc' },
    select: { targetId: true, type: true, userId: true, meta: true },
  }))
  for (const { targetId, ...row } of pollRows) {
    const list = window.pollUpdates.get(targetId!) ?? []
    list.push(row)
    window.pollUpdates.set(targetId!, list)
  }
  const quoted = [...new Set(live.flatMap((m) => (m.meta.reply_to === undefined ? [] : [BigInt(m.meta.reply_to.message_id)])))]
  const originals = await inChunks(quoted, (chunk) => tx.message.findMany({ where: { id: { in: chunk } }, select: { id: true, isDeleted: true, expiresAt: true } }))
  for (const o of originals) window.originals.set(o.id, { isDeleted: o.isDeleted, expiresAt: o.expiresAt })
  return { ok: true, window }
}

/**
 * The window (afterSeq, min(afterSeq + limit, last seq)] of a channel's log and the state of
 * the messages it touches, from one snapshot; `ok: false` when afterSeq is past the last seq.
 * `now` decides which messages count as expired (as the renderer will).
 */
export async function readCatchUp(db: Database, channelId: string, serverId: string | null, afterSeq: bigint, limit: number, now = Date.now()): Promise<CatchUpRead> {
  // MySQL/MariaDB: REPEATABLE READ takes the snapshot at the first read. SQLite (WAL): a
  // deferred BEGIN does the same; its readers never block the append connection.
  return db.prisma.$transaction((tx) => readWindow(tx, channelId, serverId, afterSeq, limit, now), {
    timeout: READ_TIMEOUT_MS,
    maxWait: READ_TIMEOUT_MS,
    ...(db.dialect === 'mysql' ? { isolationLevel: 'RepeatableRead' as const } : {}),
  })
}
