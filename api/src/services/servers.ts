import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { optionalBoolean, requireString, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'

export async function doCreateServer(core: Core, caller: Caller, data: Data): Promise<{ server_id: string; channel_id: string }> {
  const name = requireString(data, 'name', { min: 1, max: 100 }).trim()
  if (name.length === 0) throw new ChatError('INVALID_FIELD', 'name must not be blank', { field: 'name' })
  const isPublic = optionalBoolean(data, 'is_public') ?? true
  const { server, generalChannelId } = await core.store.directory.createServer(caller.userId, name, isPublic)
  return { server_id: server.id, channel_id: generalChannelId }
}

export async function doJoinServer(core: Core, caller: Caller, serverId: string): Promise<{ server_id: string; role: string; joined: boolean }> {
  const { role, joined } = await core.store.directory.joinServer(serverId, caller.userId)
  return { server_id: serverId, role, joined }
}

const MANAGE_CHANNELS = new Set(['owner', 'admin'])

export async function doCreateChannel(core: Core, caller: Caller, serverId: string, data: Data): Promise<{ channel_id: string }> {
  const name = requireString(data, 'name', { min: 1, max: 100 }).trim()
  if (name.length === 0) throw new ChatError('INVALID_FIELD', 'name must not be blank', { field: 'name' })
  const type = data['type'] ?? 'text'
  if (type !== 'text' && type !== 'voice') throw new ChatError('INVALID_FIELD', 'type must be "text" or "voice"', { field: 'type' })
  const server = await core.store.directory.findServer(serverId)
  const role = server === null ? null : await core.store.directory.serverRole(serverId, caller.userId)
  if (server === null || (role === null && !server.isPublic)) throw new ChatError('SERVER_NOT_FOUND')
  if (role === null) throw new ChatError('NOT_A_MEMBER')
  if (!MANAGE_CHANNELS.has(role)) throw new ChatError('FORBIDDEN', 'only the owner and admins create channels')
  const channel = await core.store.directory.createChannel(serverId, name, type)
  return { channel_id: channel.id }
}

export async function doListServerChannels(core: Core, caller: Caller, serverId: string): Promise<{ server_id: string; channels: { channel_id: string; name: string; type: string }[] }> {
  if ((await core.store.directory.serverRole(serverId, caller.userId)) === null) throw new ChatError('SERVER_NOT_FOUND')
  const channels = await core.store.directory.serverChannels(serverId)
  return { server_id: serverId, channels: channels.map((c) => ({ channel_id: c.id, name: c.name, type: c.kind })) }
}

export async function doCreateChat(core: Core, caller: Caller, data: Data): Promise<{ chat_id: string; type: string; created: boolean }> {
  const ids = data['user_ids']
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 256 || !ids.every((id) => typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id))) {
    throw new ChatError('INVALID_FIELD', 'user_ids must be a list of 1 to 256 user ids', { field: 'user_ids' })
  }
  const name = data['name'] === undefined ? undefined : requireString(data, 'name', { min: 1, max: 100 })
  const { chat, created } = await core.store.directory.createChat(caller.userId, ids as string[], name)
  return { chat_id: chat.id, type: chat.kind, created }
}
