// Servers, their channels, members, roles, bans and invitations (docs/protocol.md, "Servers").
// Reads go to the directory; every change runs through the sequencer (store/changes.ts), so
// it is recorded as a delta in the server's log and told to broker nodes and inboxes.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { ALL_PERMISSIONS, channelPermissions, has, isRole, PERMISSIONS, type Role } from '../../../clients/sdk/src/permissions.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'
import * as changes from '../store/changes.ts'
import { optionalBoolean, requireId, requireString, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'

const PAGE_MAX = 1000

function name(data: Data, field = 'name'): string {
  const v = requireString(data, field, { min: 1, max: 100 }).trim()
  if (v.length === 0) throw new ChatError('INVALID_FIELD', `${field} must not be blank`, { field })
  return v
}

function optionalName(data: Data, field = 'name'): string | undefined {
  return data[field] === undefined ? undefined : name(data, field)
}

function nullableText(data: Data, field: string, max: number): string | null | undefined {
  const v = data[field]
  if (v === undefined || v === null) return v
  return requireString(data, field, { max })
}

function nullableId(data: Data, field: string): string | null | undefined {
  const v = data[field]
  if (v === undefined || v === null) return v
  return requireId(data, field)
}

function integer(data: Data, field: string, min: number, max: number): number | undefined {
  const v = data[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ChatError('INVALID_FIELD', `${field} must be an integer from ${min} to ${max}`, { field })
  return v
}

export function idList(data: Data, field: string, max: number): string[] {
  const ids = data[field]
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > max || !ids.every(isValidId)) {
    throw new ChatError('INVALID_FIELD', `${field} must be a list of 1 to ${max} ids`, { field })
  }
  return ids as string[]
}

/** Paging by id: `after` (exclusive) and `limit`, from a query string. */
export function page(query: Record<string, unknown>, max = PAGE_MAX): { after: string | undefined; limit: number } {
  const after = query['after']
  if (after !== undefined && !isValidId(after)) throw new ChatError('INVALID_FIELD', 'after must be an id', { field: 'after' })
  const raw = query['limit']
  const limit = raw === undefined ? 100 : Number(raw)
  if (!Number.isInteger(limit) || limit < 1) throw new ChatError('INVALID_FIELD', 'limit must be a positive integer', { field: 'limit' })
  return { after: after as string | undefined, limit: Math.min(limit, max) }
}

// ---- servers

export async function doCreateServer(core: Core, caller: Caller, data: Data): Promise<{ server_id: string; channel_id: string }> {
  const description = nullableText(data, 'description', 2000) ?? undefined
  const work = changes.createServer(caller.userId, { name: name(data), isPublic: optionalBoolean(data, 'is_public') ?? true, description })
  const { result } = await core.sequencer.change(work)
  return { server_id: result.serverId, channel_id: result.channelId }
}

export async function doListMyServers(core: Core, caller: Caller): Promise<{ servers: object[] }> {
  const rows = await core.store.db.prisma.serverMember.findMany({ where: { userId: caller.userId }, select: { serverId: true, role: true } })
  const servers = await core.store.db.prisma.server.findMany({ where: { id: { in: rows.map((r) => r.serverId) }, deletedAt: null }, orderBy: { id: 'asc' } })
  const roles = new Map(rows.map((r) => [r.serverId, r.role]))
  return { servers: servers.map((s) => ({ server_id: s.id, name: s.name, description: s.description, is_public: s.isPublic, icon_file_id: s.iconFileId, member_count: s.memberCount, owner_id: s.ownerId, role: roles.get(s.id) })) }
}

export async function doDiscoverServers(core: Core, query: Record<string, unknown>): Promise<{ servers: object[]; next_after: string | null }> {
  const { after, limit } = page(query, 100)
  const q = query['q']
  if (q !== undefined && (typeof q !== 'string' || q.length > 100)) throw new ChatError('INVALID_FIELD', 'q must be a string of at most 100 characters', { field: 'q' })
  const servers = await core.store.db.prisma.server.findMany({
    where: { isPublic: true, deletedAt: null, ...(after ? { id: { gt: after } } : {}), ...(q ? { name: { contains: q } } : {}) },
    orderBy: { id: 'asc' },
    take: limit,
  })
  return {
    servers: servers.map((s) => ({ server_id: s.id, name: s.name, description: s.description, icon_file_id: s.iconFileId, member_count: s.memberCount })),
    next_after: servers.length === limit ? servers.at(-1)!.id : null,
  }
}

/** A server the caller belongs to, or a public one; SERVER_NOT_FOUND otherwise. */
async function visible(core: Core, caller: Caller, serverId: string): Promise<{ role: Role | null }> {
  const server = await core.store.directory.findServer(serverId)
  const member = server === null ? null : await core.store.directory.member(serverId, caller.userId)
  if (server === null || (member === null && !server.isPublic)) throw new ChatError('SERVER_NOT_FOUND')
  return { role: member?.role ?? null }
}

export async function doGetServer(core: Core, caller: Caller, serverId: string): Promise<object> {
  const { role } = await visible(core, caller, serverId)
  const s = (await core.store.db.prisma.server.findUnique({ where: { id: serverId } }))!
  return { server_id: s.id, name: s.name, description: s.description, is_public: s.isPublic, icon_file_id: s.iconFileId, member_count: s.memberCount, owner_id: s.ownerId, role, permissions: role === null ? 0 : channelPermissions(role, caller.userId, []) }
}

export async function doUpdateServer(core: Core, caller: Caller, serverId: string, data: Data): Promise<{ server_id: string }> {
  await core.sequencer.change(changes.updateServer(serverId, caller.userId, {
    name: optionalName(data), description: nullableText(data, 'description', 2000), isPublic: optionalBoolean(data, 'is_public'), iconFileId: nullableId(data, 'icon_file_id'),
  }))
  return { server_id: serverId }
}

export async function doDeleteServer(core: Core, caller: Caller, serverId: string): Promise<{ server_id: string; deleted: true }> {
  await core.sequencer.change(changes.deleteServer(serverId, caller.userId))
  return { server_id: serverId, deleted: true }
}

export async function doJoinServer(core: Core, caller: Caller, serverId: string): Promise<{ server_id: string; role: string; joined: boolean }> {
  const { result } = await core.sequencer.change(changes.joinServer(serverId, caller.userId))
  return { server_id: serverId, role: result.role, joined: result.joined }
}

export async function doLeaveServer(core: Core, caller: Caller, serverId: string): Promise<{ server_id: string; left: true }> {
  await core.sequencer.change(changes.leaveServer(serverId, caller.userId))
  return { server_id: serverId, left: true }
}

// ---- members

export async function doListMembers(core: Core, caller: Caller, serverId: string, query: Record<string, unknown>): Promise<{ members: object[]; next_after: string | null }> {
  const { role } = await visible(core, caller, serverId)
  if (role === null) throw new ChatError('NOT_A_MEMBER')
  const { after, limit } = page(query)
  const rows = await core.store.db.prisma.serverMember.findMany({
    where: { serverId, ...(after ? { userId: { gt: after } } : {}) },
    orderBy: { userId: 'asc' },
    take: limit,
  })
  const users = await core.store.db.prisma.user.findMany({ where: { id: { in: rows.map((r) => r.userId) } }, select: { id: true, username: true, displayName: true } })
  const byId = new Map(users.map((u) => [u.id, u]))
  return {
    members: rows.map((r) => ({ user_id: r.userId, username: byId.get(r.userId)?.username ?? null, display_name: byId.get(r.userId)?.displayName ?? 'deleted user', role: r.role, muted_until: r.mutedUntil?.toISOString() ?? null, joined_at: r.joinedAt.toISOString() })),
    next_after: rows.length === limit ? rows.at(-1)!.userId : null,
  }
}

export async function doAddMembers(core: Core, caller: Caller, serverId: string, data: Data): Promise<{ added: number }> {
  const { result } = await core.sequencer.change(changes.addServerMembers(serverId, caller.userId, idList(data, 'user_ids', 2000)))
  return { added: result.added }
}

function reason(data: Data): string | undefined {
  return data['reason'] === undefined ? undefined : requireString(data, 'reason', { max: 512 })
}

export async function doKick(core: Core, caller: Caller, serverId: string, userId: string, data: Data): Promise<{ server_id: string; user_id: string; kicked: true }> {
  await core.sequencer.change(changes.kickMember(serverId, caller.userId, userId, reason(data)))
  return { server_id: serverId, user_id: userId, kicked: true }
}

export async function doBan(core: Core, caller: Caller, serverId: string, data: Data): Promise<{ server_id: string; user_id: string; banned: true }> {
  const userId = requireId(data, 'user_id')
  await core.sequencer.change(changes.banMember(serverId, caller.userId, userId, reason(data)))
  return { server_id: serverId, user_id: userId, banned: true }
}

export async function doUnban(core: Core, caller: Caller, serverId: string, userId: string): Promise<{ server_id: string; user_id: string; banned: false }> {
  await core.sequencer.change(changes.unbanMember(serverId, caller.userId, userId))
  return { server_id: serverId, user_id: userId, banned: false }
}

export async function doListBans(core: Core, caller: Caller, serverId: string): Promise<{ bans: object[] }> {
  const { role } = await visible(core, caller, serverId)
  if (role === null || !has(channelPermissions(role, caller.userId, []), PERMISSIONS.BAN)) throw new ChatError('FORBIDDEN', 'your role may not see bans')
  const rows = await core.store.db.prisma.serverBan.findMany({ where: { serverId }, orderBy: { createdAt: 'asc' }, take: PAGE_MAX })
  return { bans: rows.map((b) => ({ user_id: b.userId, reason: b.reason, banned_by: b.bannedBy, created_at: b.createdAt.toISOString() })) }
}

export async function doMute(core: Core, caller: Caller, serverId: string, userId: string, data: Data): Promise<{ server_id: string; user_id: string; muted_until: string | null }> {
  const seconds = integer(data, 'seconds', 0, 366 * 24 * 3600)
  if (seconds === undefined) throw new ChatError('INVALID_FIELD', 'seconds is required (0 lifts the mute)', { field: 'seconds' })
  const { result } = await core.sequencer.change(changes.muteMember(serverId, caller.userId, userId, seconds))
  return { server_id: serverId, user_id: userId, muted_until: result.until }
}

export async function doSetRole(core: Core, caller: Caller, serverId: string, userId: string, data: Data): Promise<{ server_id: string; user_id: string; role: Role }> {
  const role = data['role']
  if (!isRole(role)) throw new ChatError('INVALID_FIELD', 'role must be admin, moderator or member', { field: 'role' })
  await core.sequencer.change(changes.setMemberRole(serverId, caller.userId, userId, role))
  return { server_id: serverId, user_id: userId, role }
}

export async function doTransfer(core: Core, caller: Caller, serverId: string, data: Data): Promise<{ server_id: string; owner_id: string }> {
  const userId = requireId(data, 'user_id')
  await core.sequencer.change(changes.transferOwnership(serverId, caller.userId, userId))
  return { server_id: serverId, owner_id: userId }
}

// ---- channels

export async function doCreateChannel(core: Core, caller: Caller, serverId: string, data: Data): Promise<{ channel_id: string }> {
  const type = data['type'] ?? 'text'
  if (type !== 'text' && type !== 'voice') throw new ChatError('INVALID_FIELD', 'type must be "text" or "voice"', { field: 'type' })
  const { result } = await core.sequencer.change(changes.createChannel(serverId, caller.userId, { name: name(data), kind: type, isPrivate: optionalBoolean(data, 'private') ?? false }))
  return { channel_id: result.channelId }
}

/** The channels of a server the caller may read, in display order, with its permissions in each. */
export async function doListServerChannels(core: Core, caller: Caller, serverId: string): Promise<{ server_id: string; channels: object[] }> {
  const { role } = await visible(core, caller, serverId)
  if (role === null) throw new ChatError('NOT_A_MEMBER')
  const overrides = await core.store.directory.serverOverrides(serverId)
  const channels = await core.store.directory.serverChannels(serverId)
  const out = []
  for (const c of channels) {
    const list = overrides.get(c.id) ?? []
    const bits = channelPermissions(role, caller.userId, list)
    if (!has(bits, PERMISSIONS.READ)) continue
    const isPrivate = list.some((o) => o.targetType === 'role' && o.target === 'member' && (o.deny & PERMISSIONS.READ) !== 0)
    out.push({ channel_id: c.id, name: c.name, type: c.kind, position: c.position, private: isPrivate, permissions: bits })
  }
  return { server_id: serverId, channels: out }
}

export async function doRenameChannel(core: Core, caller: Caller, serverId: string, channelId: string, data: Data): Promise<{ channel_id: string }> {
  await core.sequencer.change(changes.renameChannel(serverId, caller.userId, channelId, name(data)))
  core.store.directory.forgetChannel(channelId)
  return { channel_id: channelId }
}

export async function doDeleteChannel(core: Core, caller: Caller, serverId: string, channelId: string): Promise<{ channel_id: string; deleted: true }> {
  await core.sequencer.change(changes.deleteChannel(serverId, caller.userId, channelId))
  core.store.directory.forgetChannel(channelId)
  return { channel_id: channelId, deleted: true }
}

export async function doReorderChannels(core: Core, caller: Caller, serverId: string, data: Data): Promise<{ channel_ids: string[] }> {
  const { result } = await core.sequencer.change(changes.reorderChannels(serverId, caller.userId, idList(data, 'channel_ids', 500)))
  return { channel_ids: result.order }
}

export async function doSetOverride(core: Core, caller: Caller, serverId: string, channelId: string, data: Data): Promise<{ channel_id: string }> {
  const targetType = data['target_type']
  if (targetType !== 'role' && targetType !== 'user') throw new ChatError('INVALID_FIELD', 'target_type must be "role" or "user"', { field: 'target_type' })
  const target = targetType === 'role' ? requireString(data, 'target', { max: 16 }) : requireId(data, 'target')
  const bits = (field: string): number => {
    const v = integer(data, field, 0, ALL_PERMISSIONS) ?? 0
    if ((v & ~ALL_PERMISSIONS) !== 0) throw new ChatError('INVALID_FIELD', `${field} has unknown permission bits`, { field })
    return v
  }
  await core.sequencer.change(changes.setChannelOverride(serverId, caller.userId, channelId, { targetType, target, allow: bits('allow'), deny: bits('deny') }))
  return { channel_id: channelId }
}

// ---- invitations

export async function doCreateInvite(core: Core, caller: Caller, target: changes.InviteTarget, data: Data): Promise<{ code: string; expires_at: string | null; max_uses: number | null }> {
  const expiresInS = integer(data, 'expires_in_s', 60, 365 * 24 * 3600)
  const maxUses = integer(data, 'max_uses', 1, 1_000_000)
  const { result } = await core.sequencer.change(changes.createInvite(caller.userId, target, { expiresInS, maxUses }))
  return { code: result.code, expires_at: result.expiresAt, max_uses: result.maxUses }
}

const INVITE_CODE = /^[A-Za-z0-9]{6,32}$/

export function inviteCode(value: unknown): string {
  if (typeof value !== 'string' || !INVITE_CODE.test(value)) throw new ChatError('INVALID_FIELD', 'not an invitation code', { field: 'code' })
  return value
}

/** What an invitation leads to, for the page that shows it before accepting. */
export async function doPreviewInvite(core: Core, code: string): Promise<object> {
  const invite = await core.store.db.prisma.invite.findUnique({ where: { code } })
  if (invite === null || invite.revokedAt !== null) throw new ChatError('INVITE_NOT_FOUND')
  if (invite.expiresAt !== null && invite.expiresAt.getTime() <= Date.now()) throw new ChatError('INVITE_EXPIRED')
  if (invite.maxUses !== null && invite.uses >= invite.maxUses) throw new ChatError('INVITE_USED_UP')
  if (invite.serverId !== null) {
    const s = await core.store.db.prisma.server.findFirst({ where: { id: invite.serverId, deletedAt: null } })
    if (s === null) throw new ChatError('INVITE_NOT_FOUND')
    return { code, server_id: s.id, name: s.name, icon_file_id: s.iconFileId, member_count: s.memberCount, expires_at: invite.expiresAt?.toISOString() ?? null }
  }
  const chat = await core.store.db.prisma.channel.findUnique({ where: { id: invite.channelId! } })
  if (chat === null || chat.closedAt !== null) throw new ChatError('INVITE_NOT_FOUND')
  return { code, chat_id: chat.id, name: chat.name, icon_file_id: chat.iconFileId, expires_at: invite.expiresAt?.toISOString() ?? null }
}

export async function doAcceptInvite(core: Core, caller: Caller, code: string): Promise<{ server_id?: string; chat_id?: string; joined: boolean }> {
  const { result } = await core.sequencer.change(changes.acceptInvite(caller.userId, code))
  return { ...(result.serverId ? { server_id: result.serverId } : {}), ...(result.chatId ? { chat_id: result.chatId } : {}), joined: result.joined }
}

export async function doRevokeInvite(core: Core, caller: Caller, code: string): Promise<{ code: string; revoked: true }> {
  await core.sequencer.change(changes.revokeInvite(caller.userId, code))
  return { code, revoked: true }
}
