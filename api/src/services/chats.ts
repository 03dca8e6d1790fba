// 1:1 and group chats (docs/protocol.md, "Chats"). A chat is a channel of no server; its
// changes are deltas in its own log on chime/v1/chats/{chatId}.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import * as changes from '../store/changes.ts'
import { optionalBoolean, requireId, requireString, type Data } from '../requests/fields.ts'
import { CHAT_TTL, setChatTimer } from '../store/secret-chats.ts'
import type { Caller, Core } from './context.ts'
import { idList } from './servers.ts'

/** A chat's message timer from a request: whole seconds from 5 s to 7 days (null only where allowed). */
function ttlField(data: Data, allowNull: boolean): number | null {
  const v = data['message_ttl_seconds']
  if (v === null && allowNull) return null
  if (typeof v !== 'number' || !Number.isInteger(v) || v < CHAT_TTL.min || v > CHAT_TTL.max) {
    throw new ChatError('INVALID_FIELD', `message_ttl_seconds must be whole seconds from ${CHAT_TTL.min} to ${CHAT_TTL.max}${allowNull ? ', or null' : ''}`, { field: 'message_ttl_seconds' })
  }
  return v
}

export async function doCreateChat(core: Core, caller: Caller, data: Data): Promise<{ chat_id: string; type: string; created: boolean; secret: boolean; message_ttl_seconds: number | null }> {
  const ids = idList(data, 'user_ids', 256)
  const name = data['name'] === undefined ? undefined : requireString(data, 'name', { min: 1, max: 100 })
  const secret = optionalBoolean(data, 'secret') ?? false
  if (!secret && data['message_ttl_seconds'] !== undefined) throw new ChatError('INVALID_FIELD', 'message_ttl_seconds goes with secret: true', { field: 'secret' })
  const ttl = secret ? (data['message_ttl_seconds'] === undefined ? CHAT_TTL.default : ttlField(data, false)!) : undefined
  const { result } = await core.sequencer.change(changes.createChat(caller.userId, ids, name, ttl === undefined ? undefined : { ttlSeconds: ttl }))
  return { chat_id: result.chatId, type: result.kind, created: result.created, secret: result.ttlSeconds !== null, message_ttl_seconds: result.ttlSeconds }
}

/**
 * Sets a chat's message timer (`message_ttl_seconds`, null turns it off): the group admin,
 * or either member of a 1:1 chat. Messages sent before keep their own expiry.
 */
export async function doSetChatTimer(core: Core, caller: Caller, chatId: string, data: Data): Promise<{ chat_id: string; message_ttl_seconds: number | null; changed: boolean }> {
  if (!('message_ttl_seconds' in data)) throw new ChatError('INVALID_FIELD', 'message_ttl_seconds is required (null turns the timer off)', { field: 'message_ttl_seconds' })
  const ttl = ttlField(data, true)
  const { result } = await core.sequencer.change(setChatTimer(chatId, caller.userId, ttl))
  core.store.directory.forgetChannel(chatId)
  return { chat_id: chatId, message_ttl_seconds: result.ttlSeconds, changed: result.changed }
}

/** A chat the caller is in; CHANNEL_NOT_FOUND otherwise (chats never leak their existence). */
async function memberChat(core: Core, caller: Caller, chatId: string): Promise<void> {
  const channel = await core.store.directory.findChannel(chatId)
  if (channel === null || channel.serverId !== null || !(await core.store.directory.canRead(caller.userId, channel))) throw new ChatError('CHANNEL_NOT_FOUND')
}

export async function doListChats(core: Core, caller: Caller): Promise<{ chats: object[] }> {
  const mine = await core.store.db.prisma.chatMember.findMany({ where: { userId: caller.userId }, select: { channelId: true, role: true } })
  const chats = await core.store.db.prisma.channel.findMany({ where: { id: { in: mine.map((m) => m.channelId) } }, orderBy: { id: 'asc' } })
  const roles = new Map(mine.map((m) => [m.channelId, m.role]))
  return { chats: chats.map((c) => ({ chat_id: c.id, type: c.kind, name: c.name, icon_file_id: c.iconFileId, ended: c.closedAt !== null, role: roles.get(c.id), last_seq: c.lastSeq.toString(), secret: c.messageTtlSeconds !== null, message_ttl_seconds: c.messageTtlSeconds })) }
}

export async function doGetChat(core: Core, caller: Caller, chatId: string): Promise<object> {
  await memberChat(core, caller, chatId)
  const c = (await core.store.db.prisma.channel.findUnique({ where: { id: chatId } }))!
  const members = await core.store.db.prisma.chatMember.findMany({ where: { channelId: chatId }, orderBy: { joinedAt: 'asc' } })
  const users = await core.store.db.prisma.user.findMany({ where: { id: { in: members.map((m) => m.userId) } }, select: { id: true, username: true, displayName: true, deletedAt: true } })
  const byId = new Map(users.map((u) => [u.id, u]))
  return {
    chat_id: c.id, type: c.kind, name: c.name, icon_file_id: c.iconFileId, ended: c.closedAt !== null, last_seq: c.lastSeq.toString(),
    secret: c.messageTtlSeconds !== null, message_ttl_seconds: c.messageTtlSeconds,
    members: members.map((m) => {
      const u = byId.get(m.userId)
      return { user_id: m.userId, username: u?.deletedAt ? null : (u?.username ?? null), display_name: !u || u.deletedAt ? 'deleted user' : u.displayName, role: m.role }
    }),
  }
}

export async function doUpdateChat(core: Core, caller: Caller, chatId: string, data: Data): Promise<{ chat_id: string }> {
  const name = data['name'] === undefined ? undefined : requireString(data, 'name', { min: 1, max: 100 })
  const icon = data['icon_file_id'] === undefined || data['icon_file_id'] === null ? (data['icon_file_id'] as null | undefined) : requireId(data, 'icon_file_id')
  await core.sequencer.change(changes.updateChat(chatId, caller.userId, { name, iconFileId: icon }))
  core.store.directory.forgetChannel(chatId)
  return { chat_id: chatId }
}

export async function doAddChatMembers(core: Core, caller: Caller, chatId: string, data: Data): Promise<{ chat_id: string; added: string[] }> {
  const { result } = await core.sequencer.change(changes.addChatMembers(chatId, caller.userId, idList(data, 'user_ids', 256)))
  return { chat_id: chatId, added: result.added }
}

export async function doRemoveChatMember(core: Core, caller: Caller, chatId: string, userId: string): Promise<{ chat_id: string; user_id: string; removed: true }> {
  await core.sequencer.change(changes.removeChatMember(chatId, caller.userId, userId))
  return { chat_id: chatId, user_id: userId, removed: true }
}

export async function doLeaveChat(core: Core, caller: Caller, chatId: string): Promise<{ chat_id: string; left: true; new_admin: string | null; ended: boolean }> {
  const { result } = await core.sequencer.change(changes.leaveChat(chatId, caller.userId))
  if (result.ended) core.store.directory.forgetChannel(chatId)
  return { chat_id: chatId, left: true, new_admin: result.newAdmin, ended: result.ended }
}

export async function doEndChat(core: Core, caller: Caller, chatId: string): Promise<{ chat_id: string; ended: true }> {
  await core.sequencer.change(changes.endChat(chatId, caller.userId))
  core.store.directory.forgetChannel(chatId)
  return { chat_id: chatId, ended: true }
}
