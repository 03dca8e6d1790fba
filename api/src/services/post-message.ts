import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { PostMessageResponseData } from '../../../clients/sdk/src/protocol.ts'
import { toDeltaJson } from '../publish/delta-json.ts'
import type { AppendInput } from '../store/types.ts'
import { requireId, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'
import { createChat } from '../store/changes.ts'
import { has, PERMISSIONS } from '../../../clients/sdk/src/permissions.ts'

const CLIENT_MSG_ID = /^[\x21-\x7e]{1,64}$/

/** Validates a POST_MESSAGE and checks the caller may post there; writes nothing. */
export async function checkPostMessage(core: Core, caller: Caller, data: Data): Promise<AppendInput> {
  // A first message to a user (user_id instead of channel_id) opens their 1:1 chat.
  const toUser = data['channel_id'] === undefined && data['channel-id'] === undefined && data['user_id'] !== undefined ? requireId(data, 'user_id') : undefined
  if (toUser === undefined) requireId(data, 'channel_id', 'channel-id')
  const content = data['content']
  if (typeof content !== 'string') throw new ChatError('INVALID_FIELD', 'content must be a string', { field: 'content' })
  if (content.trim().length === 0) throw new ChatError('INVALID_FIELD', 'content must not be empty', { field: 'content' })
  const bytes = Buffer.byteLength(content, 'utf8')
  if (bytes > core.config.maxContentBytes) {
    throw new ChatError('CONTENT_TOO_LARGE', `content is ${bytes} bytes; the limit is ${core.config.maxContentBytes}`, { limit: core.config.maxContentBytes })
  }
  const clientMsgId = data['client_msg_id']
  if (clientMsgId !== undefined && (typeof clientMsgId !== 'string' || !CLIENT_MSG_ID.test(clientMsgId))) {
    throw new ChatError('INVALID_FIELD', 'client_msg_id must be 1 to 64 printable ASCII characters', { field: 'client_msg_id' })
  }
  let channelId: string
  if (toUser !== undefined) {
    if (toUser === caller.userId) throw new ChatError('INVALID_FIELD', 'user_id must be another user', { field: 'user_id' })
    channelId = (await core.sequencer.change(createChat(caller.userId, [toUser]))).result.chatId
  } else channelId = requireId(data, 'channel_id', 'channel-id')
  // Fast path: a server channel where the cached bits allow reading and posting. Anything
  // else (chats, refusals) takes the exact check, which also names the reason.
  const channel = await core.store.directory.findChannel(channelId)
  const fast = channel !== null && channel.serverId !== null && channel.kind !== 'server' && !channel.closed &&
    has(await core.policy.channelBits(caller.userId, channel.serverId, channel.id), PERMISSIONS.READ | PERMISSIONS.POST)
  if (!fast) await core.store.directory.writableChannel(caller.userId, channelId)
  return { channelId, userId: caller.userId, type: 'message', content, clientMsgId }
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
