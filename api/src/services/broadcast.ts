// BROADCAST_MESSAGE (seed 004 "broadcast a message to multiple friends"): one message sent to
// 2 to 20 chats or channels at once, each a normal `message` delta in its own log. Every
// target is checked first, as a POST_MESSAGE there would be; if one fails, the whole request
// fails naming it and nothing is posted. Then all of them are appended in one transaction.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'
import type { Data } from '../requests/fields.ts'
import type { ChangeWork } from '../store/changes.ts'
import type { AppendInput, DeltaRecord } from '../store/types.ts'
import type { Caller, Core } from './context.ts'
import { checkPostTo } from './post-message.ts'

export const BROADCAST_LIMITS = { minTargets: 2, maxTargets: 20 } as const

/** Short enough that `<client_msg_id>:<index>` fits the 64 characters of a client_msg_id. */
const BROADCAST_CLIENT_MSG_ID = /^[\x21-\x7e]{1,60}$/

export interface BroadcastTargetJson {
  channel_id: string
  delta_id: string
  seq: string
  message_id: string
  timestamp: string
}

export interface BroadcastResponseData {
  status: 'success'
  /** true when this was a retry of a broadcast already committed: nothing new was written. */
  duplicate: boolean
  client_msg_id?: string
  messages: BroadcastTargetJson[]
}

function targetsOf(data: Data): string[] {
  const v = data['channel_ids']
  const { minTargets: min, maxTargets: max } = BROADCAST_LIMITS
  if (!Array.isArray(v) || v.length < min || v.length > max) throw new ChatError('INVALID_FIELD', `channel_ids must list ${min} to ${max} chats or channels`, { field: 'channel_ids' })
  v.forEach((id: unknown, i) => {
    if (!isValidId(id)) throw new ChatError('INVALID_FIELD', `channel_ids[${i}] must be an id`, { field: `channel_ids[${i}]` })
  })
  const ids = v as string[]
  if (new Set(ids).size !== ids.length) throw new ChatError('INVALID_FIELD', 'channel_ids must not repeat', { field: 'channel_ids' })
  return ids
}

/** The client_msg_id of the broadcast's message to the target at `index` in channel_ids. */
export const broadcastClientMsgId = (clientMsgId: string, index: number): string => `${clientMsgId}:${index}`

function toTarget(d: DeltaRecord): BroadcastTargetJson {
  const id = d.deltaId.toString()
  return { channel_id: d.channelId, delta_id: id, seq: d.seq.toString(), message_id: id, timestamp: d.createdAt.toISOString() }
}

/**
 * The earlier commit of this broadcast, when it is a retry. A retry must name the same
 * targets in the same order; anything else reusing the client_msg_id is refused.
 */
async function priorBroadcast(core: Core, caller: Caller, targets: readonly string[], clientMsgId: string): Promise<BroadcastTargetJson[] | null> {
  const keys = targets.map((_, i) => broadcastClientMsgId(clientMsgId, i))
  const rows = await core.store.db.prisma.delta.findMany({ where: { userId: caller.userId, clientMsgId: { in: keys } }, select: { id: true, channelId: true, seq: true, type: true, clientMsgId: true, createdAt: true } })
  if (rows.length === 0) return null
  const byKey = new Map(rows.map((r) => [r.clientMsgId, r]))
  return keys.map((k, i) => {
    const r = byKey.get(k)
    if (r === undefined || r.channelId !== targets[i] || r.type !== 'message') {
      throw new ChatError('INVALID_FIELD', 'client_msg_id was used for another message or broadcast; a retry names the same channel_ids in the same order', { field: 'client_msg_id' })
    }
    const id = r.id.toString()
    return { channel_id: r.channelId, delta_id: id, seq: r.seq.toString(), message_id: id, timestamp: r.createdAt.toISOString() }
  })
}

/**
 * All the messages of a broadcast in one append transaction (one commit, published after
 * it). A retry that raced the first attempt finds its keys under the lock and appends nothing.
 */
function appendAll(userId: string, inputs: readonly AppendInput[]): ChangeWork<{ duplicate: boolean }> {
  return async (tx) => {
    const keys = inputs.flatMap((i) => (i.clientMsgId === undefined ? [] : [i.clientMsgId]))
    if (keys.length > 0) {
      const found = await tx.all(`SELECT delta_id FROM deltas WHERE user_id = ? AND client_msg_id IN (${keys.map(() => '?').join(', ')})`, [userId, ...keys])
      if (found.length > 0) return { value: { result: { duplicate: true }, access: [], inbox: [] }, deltas: [] }
    }
    return { value: { result: { duplicate: false }, access: [], inbox: [] }, deltas: [...inputs] }
  }
}

export async function doBroadcastMessage(core: Core, caller: Caller, data: Data): Promise<BroadcastResponseData> {
  const targets = targetsOf(data)
  if (data['reply_to'] !== undefined) throw new ChatError('INVALID_FIELD', 'a broadcast cannot be a reply (a reply belongs to one chat)', { field: 'reply_to' })
  if (data['user_id'] !== undefined || data['channel_id'] !== undefined || data['channel-id'] !== undefined) {
    throw new ChatError('INVALID_FIELD', 'a broadcast names its targets in channel_ids only', { field: 'channel_ids' })
  }
  const clientMsgId = data['client_msg_id']
  if (clientMsgId !== undefined && (typeof clientMsgId !== 'string' || !BROADCAST_CLIENT_MSG_ID.test(clientMsgId))) {
    throw new ChatError('INVALID_FIELD', 'client_msg_id of a broadcast must be 1 to 60 printable ASCII characters', { field: 'client_msg_id' })
  }
  // A retry answers the first commit, as a retried POST_MESSAGE does (exactly-once).
  if (clientMsgId !== undefined) {
    const prior = await priorBroadcast(core, caller, targets, clientMsgId)
    if (prior !== null) return { status: 'success', duplicate: true, client_msg_id: clientMsgId, messages: prior }
  }
  const inputs: AppendInput[] = []
  for (const [i, channelId] of targets.entries()) {
    try {
      inputs.push(await checkPostTo(core, caller, channelId, data, clientMsgId === undefined ? undefined : broadcastClientMsgId(clientMsgId, i)))
    } catch (err) {
      if (err instanceof ChatError) throw new ChatError(err.code, `${targets[i]}: ${err.message}`, { ...(err.details ?? {}), channel_id: channelId })
      throw err
    }
  }
  const { result, deltas } = await core.sequencer.change(appendAll(caller.userId, inputs))
  if (result.duplicate && clientMsgId !== undefined) {
    return { status: 'success', duplicate: true, client_msg_id: clientMsgId, messages: (await priorBroadcast(core, caller, targets, clientMsgId))! }
  }
  const out: BroadcastResponseData = { status: 'success', duplicate: false, messages: deltas.map(toTarget) }
  if (clientMsgId !== undefined) out.client_msg_id = clientMsgId
  return out
}
