import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { PostMessageResponseData } from '../../../clients/sdk/src/protocol.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import type { AppendInput } from '../store/types.ts'
import { requireId, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'
import { createChat } from '../store/changes.ts'
import { draftMessage } from './message-input.ts'
import { has, PERMISSIONS } from '../../../clients/sdk/src/permissions.ts'

const CLIENT_MSG_ID = /^[\x21-\x7e]{1,64}$/

/**
 * Validates a POST_MESSAGE (any message kind: docs/protocol.md, "Messages") and checks the
 * caller may post there; writes nothing (except opening a 1:1 chat for a first message).
 */
export async function checkPostMessage(core: Core, caller: Caller, data: Data): Promise<AppendInput> {
  // A first message to a user (user_id instead of channel_id) opens their 1:1 chat.
  const toUser = data['channel_id'] === undefined && data['channel-id'] === undefined && data['user_id'] !== undefined ? requireId(data, 'user_id') : undefined
  if (toUser === undefined) requireId(data, 'channel_id', 'channel-id')
  if (data['content'] !== undefined && typeof data['content'] !== 'string') throw new ChatError('INVALID_FIELD', 'content must be a string', { field: 'content' })
  const clientMsgId = data['client_msg_id']
  if (clientMsgId !== undefined && (typeof clientMsgId !== 'string' || !CLIENT_MSG_ID.test(clientMsgId))) {
    throw new ChatError('INVALID_FIELD', 'client_msg_id must be 1 to 64 printable ASCII characters', { field: 'client_msg_id' })
  }
  let channelId: string
  if (toUser !== undefined) {
    if (toUser === caller.userId) throw new ChatError('INVALID_FIELD', 'user_id must be another user', { field: 'user_id' })
    channelId = (await core.sequencer.change(createChat(caller.userId, [toUser]))).result.chatId
  } else channelId = requireId(data, 'channel_id', 'channel-id')
  return checkPostTo(core, caller, channelId, data, typeof clientMsgId === 'string' ? clientMsgId : undefined)
}

/** The checks of a post into one channel (POST_MESSAGE, and each target of a broadcast). */
export async function checkPostTo(core: Core, caller: Caller, channelId: string, data: Data, clientMsgId: string | undefined): Promise<AppendInput> {
  // Fast path: a server channel where the cached bits allow reading and posting. Anything
  // else (chats, refusals) takes the exact check, which also names the reason.
  const cached = await core.store.directory.findChannel(channelId)
  const fastBits = cached !== null && cached.serverId !== null && cached.kind !== 'server' && !cached.closed
    ? await core.policy.channelBits(caller.userId, cached.serverId, cached.id)
    : 0
  const { channel, bits } = cached !== null && has(fastBits, PERMISSIONS.READ | PERMISSIONS.POST)
    ? { channel: cached, bits: fastBits }
    : await core.store.directory.writable(caller.userId, channelId)
  const draft = await draftMessage(core, caller, channel, bits, data)
  const meta = Object.keys(draft.meta).length > 0 ? JSON.stringify(draft.meta) : undefined
  return {
    channelId, userId: caller.userId, type: 'message', content: draft.content, clientMsgId, meta,
    attachments: draft.attachments === null ? undefined : JSON.stringify(draft.attachments), message: draft.fields,
  }
}

/** Appends a checked post through the sequencer; resolves after the commit. */
export async function doPostMessage(core: Core, input: AppendInput): Promise<PostMessageResponseData> {
  const { delta, duplicate } = await core.sequencer.append(input)
  const json = toDeltaJson(delta)
  const out: PostMessageResponseData = {
    status: 'success',
    duplicate,
    delta: json,
    delta_id: json.delta_id,
    seq: json.seq,
    channel_id: json.channel_id,
    timestamp: json.timestamp,
  }
  if (json.client_msg_id !== undefined) out.client_msg_id = json.client_msg_id
  return out
}
