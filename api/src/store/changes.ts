// Changes of who-may-see-what, as work inside an append transaction (AppendEngine.transact):
// each checks the caller's rights against the rows as they are under the sequencer lock,
// writes its rows with portable SQL, and returns the deltas that record it (in the server's
// own log, whose channel id is the server id, or in the chat), the access events broker
// nodes must apply, and the inbox events of the users it concerns. Nothing here publishes;
// the sequencer does that after the commit (docs/architecture.md, guarantee 9).
import { randomBytes } from 'node:crypto'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { DeltaType, MembershipEventData } from '../../../clients/sdk/src/protocol.ts'
import { channelPermissions, has, isRole, PERMISSIONS, ROLE_RANK, type Override, type Role } from '../../../clients/sdk/src/permissions.ts'
import type { AccessEvent } from '../../../broker/src/access-events.ts'
import { newId } from '../ids.ts'
import { dbDate, type Tx, type TxOutcome } from './append-engine.ts'
import type { AppendInput } from './types.ts'

export interface InboxEvent {
  userId: string
  data: MembershipEventData
  /** Index into the change's deltas whose delta_id the event carries. */
  deltaIndex?: number
}

export interface Change<T> {
  result: T
  access: AccessEvent[]
  inbox: InboxEvent[]
}

export type ChangeWork<T> = (tx: Tx) => Promise<TxOutcome<Change<T>>>

const P = PERMISSIONS

function record(channelId: string, userId: string, type: DeltaType, content: Record<string, unknown>): AppendInput {
  return { channelId, userId, type, content: JSON.stringify(content) }
}

function outcome<T>(result: T, deltas: AppendInput[], access: AccessEvent[] = [], inbox: InboxEvent[] = []): TxOutcome<Change<T>> {
  return { value: { result, access, inbox }, deltas }
}

// ---- reads under the lock

interface ServerRow {
  id: string
  name: string
  ownerId: string
  isPublic: boolean
}

async function liveServer(tx: Tx, serverId: string): Promise<ServerRow | null> {
  const [r] = await tx.all('SELECT id, name, owner_id, is_public FROM servers WHERE id = ? AND deleted_at IS NULL', [serverId])
  return r === undefined ? null : { id: String(r['id']), name: String(r['name']), ownerId: String(r['owner_id']), isPublic: Number(r['is_public']) === 1 }
}

interface MemberRow {
  role: Role
  mutedUntil: Date | null
}

async function memberOf(tx: Tx, serverId: string, userId: string): Promise<MemberRow | null> {
  const [r] = await tx.all('SELECT role, muted_until FROM server_users WHERE server_id = ? AND user_id = ?', [serverId, userId])
  if (r === undefined) return null
  const role = String(r['role'])
  if (!isRole(role)) throw new Error(`server_users.role ${role} is not a role`)
  return { role, mutedUntil: dbDate(r['muted_until']) }
}

/** The server, if the caller may see it: a member's, or a public one. Otherwise SERVER_NOT_FOUND. */
async function visibleServer(tx: Tx, serverId: string, userId: string): Promise<{ server: ServerRow; member: MemberRow | null }> {
  const server = await liveServer(tx, serverId)
  const member = server === null ? null : await memberOf(tx, serverId, userId)
  if (server === null || (member === null && !server.isPublic)) throw new ChatError('SERVER_NOT_FOUND')
  return { server, member }
}

/** The caller's membership, with a server-wide permission required. */
async function actorWith(tx: Tx, serverId: string, userId: string, permission: number, what: string): Promise<{ server: ServerRow; member: MemberRow }> {
  const { server, member } = await visibleServer(tx, serverId, userId)
  if (member === null) throw new ChatError('NOT_A_MEMBER')
  if (!has(channelPermissions(member.role, userId, []), permission)) throw new ChatError('FORBIDDEN', `your role may not ${what}`)
  return { server, member }
}

/** The target must rank below the actor (owners act on everyone but themselves). */
function outranks(actor: MemberRow, target: MemberRow, what: string): void {
  if (ROLE_RANK[actor.role] <= ROLE_RANK[target.role]) throw new ChatError('FORBIDDEN', `you may not ${what} a member of equal or higher rank`)
}

async function userExists(tx: Tx, userId: string): Promise<boolean> {
  return (await tx.all('SELECT id FROM users WHERE id = ? AND deleted_at IS NULL', [userId])).length > 0
}

async function blockedBy(tx: Tx, blockerId: string, blockedId: string): Promise<boolean> {
  return (await tx.all('SELECT user_id FROM blocks WHERE user_id = ? AND blocked_id = ?', [blockerId, blockedId])).length > 0
}

// ---- servers

export function createServer(ownerId: string, input: { name: string; isPublic: boolean; description?: string | undefined }): ChangeWork<{ serverId: string; channelId: string }> {
  return async (tx) => {
    const serverId = newId()
    const channelId = newId()
    const now = new Date()
    await tx.run('INSERT INTO servers (id, name, owner_id, description, is_public, member_count, created_at) VALUES (?, ?, ?, ?, ?, 1, ?)', [serverId, input.name, ownerId, input.description ?? null, input.isPublic, now])
    await tx.run('INSERT INTO server_users (server_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)', [serverId, ownerId, 'owner', now])
    await tx.run('INSERT INTO channels (id, server_id, kind, name, position, created_at) VALUES (?, ?, ?, ?, 0, ?)', [serverId, serverId, 'server', input.name, now])
    await tx.run('INSERT INTO channels (id, server_id, kind, name, position, created_at) VALUES (?, ?, ?, ?, 1, ?)', [channelId, serverId, 'text', 'general', now])
    return outcome(
      { serverId, channelId },
      [record(serverId, ownerId, 'server_created', { name: input.name, is_public: input.isPublic, general_channel_id: channelId })],
      [],
      [{ userId: ownerId, data: { change: 'joined', server_id: serverId, role: 'owner' }, deltaIndex: 0 }],
    )
  }
}

export function updateServer(serverId: string, actorId: string, patch: { name?: string | undefined; description?: string | null | undefined; isPublic?: boolean | undefined; iconFileId?: string | null | undefined }): ChangeWork<{ serverId: string }> {
  return async (tx) => {
    await actorWith(tx, serverId, actorId, P.MANAGE_SERVER, 'manage the server')
    const sets: string[] = []
    const params: (string | boolean | null)[] = []
    const changed: Record<string, unknown> = {}
    if (patch.name !== undefined) (sets.push('name = ?'), params.push(patch.name), (changed['name'] = patch.name))
    if (patch.description !== undefined) (sets.push('description = ?'), params.push(patch.description), (changed['description'] = patch.description))
    if (patch.isPublic !== undefined) (sets.push('is_public = ?'), params.push(patch.isPublic), (changed['is_public'] = patch.isPublic))
    if (patch.iconFileId !== undefined) (sets.push('icon_file_id = ?'), params.push(patch.iconFileId), (changed['icon_file_id'] = patch.iconFileId))
    if (sets.length === 0) throw new ChatError('INVALID_FIELD', 'nothing to change: give name, description, is_public or icon_file_id')
    await tx.run(`UPDATE servers SET ${sets.join(', ')} WHERE id = ?`, [...params, serverId])
    if (patch.name !== undefined) await tx.run('UPDATE channels SET name = ? WHERE id = ?', [patch.name, serverId])
    return outcome({ serverId }, [record(serverId, actorId, 'server_updated', changed)])
  }
}

/** Deletes a server: members lose access at once; the rows of its log stay. Owner only. */
export function deleteServer(serverId: string, actorId: string): ChangeWork<{ serverId: string }> {
  return async (tx) => {
    const { member } = await visibleServer(tx, serverId, actorId)
    if (member?.role !== 'owner') throw new ChatError('FORBIDDEN', 'only the owner deletes a server')
    const now = new Date()
    await tx.run('UPDATE servers SET deleted_at = ?, member_count = 0 WHERE id = ?', [now, serverId])
    await tx.run('UPDATE channels SET closed_at = ? WHERE server_id = ? AND closed_at IS NULL', [now, serverId])
    await tx.run('DELETE FROM server_users WHERE server_id = ?', [serverId])
    await tx.run('UPDATE invites SET revoked_at = ? WHERE server_id = ? AND revoked_at IS NULL', [now, serverId])
    return outcome({ serverId }, [record(serverId, actorId, 'server_deleted', {})], [{ type: 'server-permissions', serverId }])
  }
}

async function addMember(tx: Tx, server: ServerRow, userId: string, role: Role): Promise<void> {
  await tx.run('INSERT INTO server_users (server_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)', [server.id, userId, role, new Date()])
  await tx.run('UPDATE servers SET member_count = member_count + 1 WHERE id = ?', [server.id])
}

async function removeMember(tx: Tx, serverId: string, userId: string): Promise<void> {
  if ((await tx.run('DELETE FROM server_users WHERE server_id = ? AND user_id = ?', [serverId, userId])) > 0) {
    await tx.run('UPDATE servers SET member_count = member_count - 1 WHERE id = ?', [serverId])
  }
}

async function refuseBanned(tx: Tx, serverId: string, userId: string): Promise<void> {
  if ((await tx.all('SELECT user_id FROM server_bans WHERE server_id = ? AND user_id = ?', [serverId, userId])).length > 0) throw new ChatError('BANNED')
}

/** Joins a public server (or any server through an invitation); joining again is a no-op. */
export function joinServer(serverId: string, userId: string, via?: { invite: string }): ChangeWork<{ serverId: string; role: Role; joined: boolean }> {
  return async (tx) => {
    const server = await liveServer(tx, serverId)
    if (server === null) throw new ChatError('SERVER_NOT_FOUND')
    const member = await memberOf(tx, serverId, userId)
    if (member !== null) return outcome({ serverId, role: member.role, joined: false }, [])
    if (!server.isPublic && via === undefined) throw new ChatError('SERVER_NOT_FOUND')
    await refuseBanned(tx, serverId, userId)
    await addMember(tx, server, userId, 'member')
    return outcome(
      { serverId, role: 'member' as Role, joined: true },
      [record(serverId, userId, 'member_joined', { user_id: userId, ...(via ? { invite: via.invite } : {}) })],
      [{ type: 'membership', userId, serverId }],
      [{ userId, data: { change: 'joined', server_id: serverId, role: 'member' }, deltaIndex: 0 }],
    )
  }
}

/** Adds many users at once (administrative import); existing members and banned users are skipped. */
export function addServerMembers(serverId: string, actorId: string, userIds: readonly string[]): ChangeWork<{ added: number }> {
  return async (tx) => {
    const { server } = await actorWith(tx, serverId, actorId, P.MANAGE_MEMBERS, 'add members')
    const wanted = [...new Set(userIds)]
    const marks = wanted.map(() => '?').join(', ')
    const existing = new Set((await tx.all(`SELECT user_id FROM server_users WHERE server_id = ? AND user_id IN (${marks})`, [serverId, ...wanted])).map((r) => String(r['user_id'])))
    const banned = new Set((await tx.all(`SELECT user_id FROM server_bans WHERE server_id = ? AND user_id IN (${marks})`, [serverId, ...wanted])).map((r) => String(r['user_id'])))
    const known = new Set((await tx.all(`SELECT id FROM users WHERE deleted_at IS NULL AND id IN (${marks})`, wanted)).map((r) => String(r['id'])))
    const fresh = wanted.filter((u) => known.has(u) && !existing.has(u) && !banned.has(u))
    if (fresh.length > 0) {
      const now = new Date()
      await tx.run(`INSERT INTO server_users (server_id, user_id, role, joined_at) VALUES ${fresh.map(() => '(?, ?, ?, ?)').join(', ')}`, fresh.flatMap((u) => [serverId, u, 'member', now]))
      await tx.run('UPDATE servers SET member_count = member_count + ? WHERE id = ?', [fresh.length, server.id])
    }
    return outcome(
      { added: fresh.length },
      fresh.length === 0 ? [] : [record(serverId, actorId, 'member_joined', { user_ids: fresh, by: actorId })],
      // Every node drops what it cached of these users in this server (a refusal from before
      // they were added) and of the server's size (the QoS of its deltas).
      fresh.map((u) => ({ type: 'membership' as const, userId: u, serverId })),
      fresh.length <= 1000 ? fresh.map((u) => ({ userId: u, data: { change: 'joined' as const, server_id: serverId, role: 'member', by: actorId }, deltaIndex: 0 })) : [],
    )
  }
}

export function leaveServer(serverId: string, userId: string): ChangeWork<{ serverId: string }> {
  return async (tx) => {
    const { member } = await visibleServer(tx, serverId, userId)
    if (member === null) throw new ChatError('NOT_A_MEMBER')
    if (member.role === 'owner') throw new ChatError('OWNER_CANNOT_LEAVE')
    await removeMember(tx, serverId, userId)
    return outcome({ serverId }, [record(serverId, userId, 'member_left', { user_id: userId })], [{ type: 'membership', userId, serverId }], [{ userId, data: { change: 'left', server_id: serverId }, deltaIndex: 0 }])
  }
}

async function targetMember(tx: Tx, serverId: string, targetId: string): Promise<MemberRow> {
  const target = await memberOf(tx, serverId, targetId)
  if (target === null) throw new ChatError('USER_NOT_FOUND', 'that user is not a member of the server')
  return target
}

export function kickMember(serverId: string, actorId: string, targetId: string, reason?: string): ChangeWork<{ serverId: string; userId: string }> {
  return async (tx) => {
    if (actorId === targetId) throw new ChatError('FORBIDDEN', 'leave the server instead of kicking yourself')
    const { member: actor } = await actorWith(tx, serverId, actorId, P.MANAGE_MEMBERS, 'kick members')
    outranks(actor, await targetMember(tx, serverId, targetId), 'kick')
    await removeMember(tx, serverId, targetId)
    return outcome(
      { serverId, userId: targetId },
      [record(serverId, actorId, 'member_kicked', { user_id: targetId, by: actorId, ...(reason ? { reason } : {}) })],
      [{ type: 'membership', userId: targetId, serverId }],
      [{ userId: targetId, data: { change: 'kicked', server_id: serverId, by: actorId, ...(reason ? { reason } : {}) }, deltaIndex: 0 }],
    )
  }
}

export function banMember(serverId: string, actorId: string, targetId: string, reason?: string): ChangeWork<{ serverId: string; userId: string }> {
  return async (tx) => {
    if (actorId === targetId) throw new ChatError('FORBIDDEN', 'you may not ban yourself')
    const { member: actor } = await actorWith(tx, serverId, actorId, P.BAN, 'ban members')
    const target = await memberOf(tx, serverId, targetId)
    if (target !== null) outranks(actor, target, 'ban')
    else if (!(await userExists(tx, targetId))) throw new ChatError('USER_NOT_FOUND')
    await tx.run('DELETE FROM server_bans WHERE server_id = ? AND user_id = ?', [serverId, targetId])
    await tx.run('INSERT INTO server_bans (server_id, user_id, reason, banned_by, created_at) VALUES (?, ?, ?, ?, ?)', [serverId, targetId, reason ?? null, actorId, new Date()])
    await removeMember(tx, serverId, targetId)
    return outcome(
      { serverId, userId: targetId },
      [record(serverId, actorId, 'member_banned', { user_id: targetId, by: actorId, ...(reason ? { reason } : {}) })],
      [{ type: 'membership', userId: targetId, serverId }],
      [{ userId: targetId, data: { change: 'banned', server_id: serverId, by: actorId, ...(reason ? { reason } : {}) }, deltaIndex: 0 }],
    )
  }
}

export function unbanMember(serverId: string, actorId: string, targetId: string): ChangeWork<{ serverId: string; userId: string }> {
  return async (tx) => {
    await actorWith(tx, serverId, actorId, P.BAN, 'unban members')
    if ((await tx.run('DELETE FROM server_bans WHERE server_id = ? AND user_id = ?', [serverId, targetId])) === 0) throw new ChatError('USER_NOT_FOUND', 'that user is not banned')
    return outcome({ serverId, userId: targetId }, [record(serverId, actorId, 'member_unbanned', { user_id: targetId, by: actorId })], [], [{ userId: targetId, data: { change: 'unbanned', server_id: serverId, by: actorId }, deltaIndex: 0 }])
  }
}

/** Mutes a member for `seconds` (0 lifts the mute): no posts and no typing until then. */
export function muteMember(serverId: string, actorId: string, targetId: string, seconds: number): ChangeWork<{ serverId: string; userId: string; until: string | null }> {
  return async (tx) => {
    if (actorId === targetId) throw new ChatError('FORBIDDEN', 'you may not mute yourself')
    const { member: actor } = await actorWith(tx, serverId, actorId, P.MANAGE_MEMBERS, 'mute members')
    outranks(actor, await targetMember(tx, serverId, targetId), 'mute')
    const until = seconds === 0 ? null : new Date(Date.now() + seconds * 1000)
    await tx.run('UPDATE server_users SET muted_until = ? WHERE server_id = ? AND user_id = ?', [until, serverId, targetId])
    const untilIso = until?.toISOString() ?? null
    return outcome(
      { serverId, userId: targetId, until: untilIso },
      [record(serverId, actorId, 'member_muted', { user_id: targetId, by: actorId, until: untilIso })],
      [{ type: 'membership', userId: targetId, serverId }],
      [{ userId: targetId, data: { change: 'muted', server_id: serverId, by: actorId, until: untilIso }, deltaIndex: 0 }],
    )
  }
}

/** Sets a member's role (admin, moderator, member). Ownership moves only by transfer. */
export function setMemberRole(serverId: string, actorId: string, targetId: string, role: Role): ChangeWork<{ serverId: string; userId: string; role: Role }> {
  return async (tx) => {
    if (role === 'owner') throw new ChatError('INVALID_FIELD', 'ownership moves only by transfer', { field: 'role' })
    if (actorId === targetId) throw new ChatError('FORBIDDEN', 'you may not change your own role')
    const { member: actor } = await actorWith(tx, serverId, actorId, P.MANAGE_ROLES, 'change roles')
    const target = await targetMember(tx, serverId, targetId)
    outranks(actor, target, 'change the role of')
    if (ROLE_RANK[role] >= ROLE_RANK[actor.role]) throw new ChatError('FORBIDDEN', 'you may only give roles below your own')
    await tx.run('UPDATE server_users SET role = ? WHERE server_id = ? AND user_id = ?', [role, serverId, targetId])
    return outcome(
      { serverId, userId: targetId, role },
      [record(serverId, actorId, 'member_role', { user_id: targetId, role, by: actorId })],
      [{ type: 'membership', userId: targetId, serverId }],
      [{ userId: targetId, data: { change: 'role', server_id: serverId, role, by: actorId }, deltaIndex: 0 }],
    )
  }
}

export function transferOwnership(serverId: string, ownerId: string, newOwnerId: string): ChangeWork<{ serverId: string; ownerId: string }> {
  return async (tx) => {
    const { member } = await visibleServer(tx, serverId, ownerId)
    if (member?.role !== 'owner') throw new ChatError('FORBIDDEN', 'only the owner transfers ownership')
    if (newOwnerId === ownerId) throw new ChatError('INVALID_FIELD', 'you already own the server', { field: 'user_id' })
    await targetMember(tx, serverId, newOwnerId)
    await tx.run('UPDATE server_users SET role = ? WHERE server_id = ? AND user_id = ?', ['owner', serverId, newOwnerId])
    await tx.run('UPDATE server_users SET role = ? WHERE server_id = ? AND user_id = ?', ['admin', serverId, ownerId])
    await tx.run('UPDATE servers SET owner_id = ? WHERE id = ?', [newOwnerId, serverId])
    return outcome(
      { serverId, ownerId: newOwnerId },
      [record(serverId, ownerId, 'owner_transferred', { from: ownerId, to: newOwnerId })],
      [{ type: 'membership', userId: newOwnerId, serverId }, { type: 'membership', userId: ownerId, serverId }],
      [
        { userId: newOwnerId, data: { change: 'role', server_id: serverId, role: 'owner', by: ownerId }, deltaIndex: 0 },
        { userId: ownerId, data: { change: 'role', server_id: serverId, role: 'admin', by: ownerId }, deltaIndex: 0 },
      ],
    )
  }
}

// ---- channels of a server

async function serverChannel(tx: Tx, serverId: string, channelId: string): Promise<{ id: string; name: string; kind: string }> {
  const [r] = await tx.all("SELECT id, name, kind FROM channels WHERE id = ? AND server_id = ? AND kind IN ('text', 'voice') AND closed_at IS NULL", [channelId, serverId])
  if (r === undefined) throw new ChatError('CHANNEL_NOT_FOUND')
  return { id: String(r['id']), name: String(r['name']), kind: String(r['kind']) }
}

/** Roles that lose READ on a private channel; owners and admins always see every channel. */
const PRIVATE_TO: Role[] = ['moderator', 'member']

export function createChannel(serverId: string, actorId: string, input: { name: string; kind: 'text' | 'voice'; isPrivate: boolean }): ChangeWork<{ channelId: string }> {
  return async (tx) => {
    await actorWith(tx, serverId, actorId, P.MANAGE_CHANNELS, 'manage channels')
    const channelId = newId()
    const [top] = await tx.all('SELECT MAX(position) AS top FROM channels WHERE server_id = ?', [serverId])
    const position = Number(top?.['top'] ?? 0) + 1
    await tx.run('INSERT INTO channels (id, server_id, kind, name, position, created_at) VALUES (?, ?, ?, ?, ?, ?)', [channelId, serverId, input.kind, input.name, position, new Date()])
    if (input.isPrivate) {
      for (const role of PRIVATE_TO) await tx.run('INSERT INTO channel_overrides (channel_id, server_id, target_type, target, allow, deny) VALUES (?, ?, ?, ?, 0, ?)', [channelId, serverId, 'role', role, P.READ])
    }
    return outcome(
      { channelId },
      [record(serverId, actorId, 'channel_created', { channel_id: channelId, name: input.name, type: input.kind, position, private: input.isPrivate })],
      // Before anything is published in a private channel, every node hides it from server-wide grants.
      input.isPrivate ? [{ type: 'server-permissions', serverId, channelId }] : [],
    )
  }
}

export function renameChannel(serverId: string, actorId: string, channelId: string, name: string): ChangeWork<{ channelId: string }> {
  return async (tx) => {
    await actorWith(tx, serverId, actorId, P.MANAGE_CHANNELS, 'manage channels')
    await serverChannel(tx, serverId, channelId)
    await tx.run('UPDATE channels SET name = ? WHERE id = ?', [name, channelId])
    return outcome({ channelId }, [record(serverId, actorId, 'channel_updated', { channel_id: channelId, name })])
  }
}

/** Deletes a channel: nobody reads or posts in it any more; its log rows stay. */
export function deleteChannel(serverId: string, actorId: string, channelId: string): ChangeWork<{ channelId: string }> {
  return async (tx) => {
    await actorWith(tx, serverId, actorId, P.MANAGE_CHANNELS, 'manage channels')
    await serverChannel(tx, serverId, channelId)
    await tx.run('UPDATE channels SET closed_at = ? WHERE id = ?', [new Date(), channelId])
    return outcome({ channelId }, [record(serverId, actorId, 'channel_deleted', { channel_id: channelId })], [{ type: 'server-permissions', serverId, channelId }])
  }
}

export function reorderChannels(serverId: string, actorId: string, order: readonly string[]): ChangeWork<{ order: string[] }> {
  return async (tx) => {
    await actorWith(tx, serverId, actorId, P.MANAGE_CHANNELS, 'manage channels')
    const current = (await tx.all("SELECT id FROM channels WHERE server_id = ? AND kind IN ('text', 'voice') AND closed_at IS NULL", [serverId])).map((r) => String(r['id']))
    if (new Set(order).size !== order.length || order.length !== current.length || !order.every((id) => current.includes(id))) {
      throw new ChatError('INVALID_FIELD', 'channel_ids must list every channel of the server exactly once', { field: 'channel_ids' })
    }
    for (const [i, id] of order.entries()) await tx.run('UPDATE channels SET position = ? WHERE id = ?', [i + 1, id])
    return outcome({ order: [...order] }, [record(serverId, actorId, 'channels_reordered', { channel_ids: order })])
  }
}

/** Sets (or with allow = deny = 0 removes) a channel's override for a role or a user. */
export function setChannelOverride(serverId: string, actorId: string, channelId: string, o: Override): ChangeWork<{ channelId: string }> {
  return async (tx) => {
    await actorWith(tx, serverId, actorId, P.MANAGE_ROLES, 'change channel permissions')
    await serverChannel(tx, serverId, channelId)
    if (o.targetType === 'role' && (o.target === 'owner' || o.target === 'admin')) throw new ChatError('INVALID_FIELD', 'owners and admins see every channel; override moderator or member', { field: 'target' })
    if (o.targetType === 'role' && !isRole(o.target)) throw new ChatError('INVALID_FIELD', 'target must be a role', { field: 'target' })
    if (o.targetType === 'user' && (await memberOf(tx, serverId, o.target)) === null) throw new ChatError('USER_NOT_FOUND', 'that user is not a member of the server')
    await tx.run('DELETE FROM channel_overrides WHERE channel_id = ? AND target_type = ? AND target = ?', [channelId, o.targetType, o.target])
    if (o.allow !== 0 || o.deny !== 0) {
      await tx.run('INSERT INTO channel_overrides (channel_id, server_id, target_type, target, allow, deny) VALUES (?, ?, ?, ?, ?, ?)', [channelId, serverId, o.targetType, o.target, o.allow, o.deny])
    }
    return outcome(
      { channelId },
      [record(serverId, actorId, 'channel_permissions', { channel_id: channelId, target_type: o.targetType, target: o.target, allow: o.allow, deny: o.deny })],
      [{ type: 'server-permissions', serverId, channelId }],
    )
  }
}

// ---- invitations

const INVITE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'

function inviteCode(): string {
  const bytes = randomBytes(12)
  let code = ''
  for (const b of bytes) code += INVITE_ALPHABET[b % INVITE_ALPHABET.length]
  return code
}

export interface InviteTarget {
  serverId?: string
  chatId?: string
}

export function createInvite(actorId: string, target: InviteTarget, opts: { expiresInS?: number | undefined; maxUses?: number | undefined }): ChangeWork<{ code: string; expiresAt: string | null; maxUses: number | null }> {
  return async (tx) => {
    if (target.serverId !== undefined) await actorWith(tx, target.serverId, actorId, P.INVITE, 'invite')
    else await groupAdmin(tx, target.chatId!, actorId)
    const code = inviteCode()
    const expiresAt = opts.expiresInS === undefined ? null : new Date(Date.now() + opts.expiresInS * 1000)
    await tx.run('INSERT INTO invites (code, server_id, channel_id, created_by, created_at, expires_at, max_uses, uses) VALUES (?, ?, ?, ?, ?, ?, ?, 0)', [code, target.serverId ?? null, target.chatId ?? null, actorId, new Date(), expiresAt, opts.maxUses ?? null])
    return outcome({ code, expiresAt: expiresAt?.toISOString() ?? null, maxUses: opts.maxUses ?? null }, [])
  }
}

export function revokeInvite(actorId: string, code: string): ChangeWork<{ code: string }> {
  return async (tx) => {
    const [r] = await tx.all('SELECT server_id, channel_id, created_by FROM invites WHERE code = ? AND revoked_at IS NULL', [code])
    if (r === undefined) throw new ChatError('INVITE_NOT_FOUND')
    if (String(r['created_by']) !== actorId) {
      if (r['server_id'] !== null) await actorWith(tx, String(r['server_id']), actorId, P.MANAGE_SERVER, 'revoke invitations of others')
      else await groupAdmin(tx, String(r['channel_id']), actorId)
    }
    await tx.run('UPDATE invites SET revoked_at = ? WHERE code = ?', [new Date(), code])
    return outcome({ code }, [])
  }
}

/** Accepts an invitation: joins its server or group. Already a member: nothing is used up. */
export function acceptInvite(userId: string, code: string): ChangeWork<{ serverId?: string; chatId?: string; joined: boolean }> {
  return async (tx) => {
    const [r] = await tx.all('SELECT server_id, channel_id, created_by, expires_at, max_uses, uses FROM invites WHERE code = ? AND revoked_at IS NULL', [code])
    if (r === undefined) throw new ChatError('INVITE_NOT_FOUND')
    const expires = dbDate(r['expires_at'])
    if (expires !== null && expires.getTime() <= Date.now()) throw new ChatError('INVITE_EXPIRED')
    const maxUses = r['max_uses'] === null ? null : Number(r['max_uses'])
    if (maxUses !== null && Number(r['uses']) >= maxUses) throw new ChatError('INVITE_USED_UP')
    let joined: TxOutcome<Change<{ serverId?: string; chatId?: string; joined: boolean }>>
    if (r['server_id'] !== null) {
      const out = await joinServer(String(r['server_id']), userId, { invite: code })(tx)
      joined = { ...out, value: { ...out.value, result: { serverId: out.value.result.serverId, joined: out.value.result.joined } } }
    } else {
      const chatId = String(r['channel_id'])
      const chat = await liveChat(tx, chatId)
      if (chat === null) throw new ChatError('INVITE_NOT_FOUND')
      if ((await chatRole(tx, chatId, userId)) !== null) joined = outcome({ chatId, joined: false }, [])
      else {
        if (await blockedBy(tx, String(r['created_by']), userId)) throw new ChatError('BLOCKED')
        await tx.run('INSERT INTO chat_members (channel_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)', [chatId, userId, 'member', new Date()])
        joined = outcome({ chatId, joined: true }, [record(chatId, userId, 'chat_member_added', { user_ids: [userId], invite: code })], [], [{ userId, data: { change: 'added', chat_id: chatId }, deltaIndex: 0 }])
      }
    }
    if (joined.value.result.joined) await tx.run('UPDATE invites SET uses = uses + 1 WHERE code = ?', [code])
    return joined
  }
}

// ---- chats

async function liveChat(tx: Tx, chatId: string): Promise<{ id: string; kind: 'dm' | 'group'; closed: boolean } | null> {
  const [r] = await tx.all("SELECT id, kind, closed_at FROM channels WHERE id = ? AND server_id IS NULL AND kind IN ('dm', 'group')", [chatId])
  if (r === undefined) return null
  return { id: String(r['id']), kind: String(r['kind']) as 'dm' | 'group', closed: r['closed_at'] !== null }
}

async function chatRole(tx: Tx, chatId: string, userId: string): Promise<string | null> {
  const [r] = await tx.all('SELECT role FROM chat_members WHERE channel_id = ? AND user_id = ?', [chatId, userId])
  return r === undefined ? null : String(r['role'])
}

/** A group the caller administers; a chat it cannot see is CHANNEL_NOT_FOUND. */
async function groupAdmin(tx: Tx, chatId: string, userId: string): Promise<void> {
  const chat = await liveChat(tx, chatId)
  const role = chat === null ? null : await chatRole(tx, chatId, userId)
  if (chat === null || role === null) throw new ChatError('CHANNEL_NOT_FOUND')
  if (chat.kind !== 'group') throw new ChatError('INVALID_FIELD', 'a 1:1 chat has no members to manage', { field: 'chat_id' })
  if (chat.closed) throw new ChatError('CHANNEL_CLOSED')
  if (role !== 'admin') throw new ChatError('FORBIDDEN', 'only the group admin may do that')
}

export const dmKey = (a: string, b: string): string => (a < b ? `${a}:${b}` : `${b}:${a}`)

/**
 * A 1:1 chat with one other user (one per pair: the existing one is returned) or a group
 * with the creator as admin. Users who blocked the creator cannot be put in a chat with it.
 * With `secret.ttlSeconds` the chat is secret: every message expires that many seconds after
 * it is sent. A secret 1:1 chat is a chat of kind dm of its own, without a dm_key, beside the
 * pair's normal one; a pair has at most one open secret 1:1 chat (the existing one is
 * returned, with its own timer).
 */
export function createChat(creatorId: string, userIds: readonly string[], name?: string, secret?: { ttlSeconds: number }): ChangeWork<{ chatId: string; kind: 'dm' | 'group'; created: boolean; ttlSeconds: number | null }> {
  return async (tx) => {
    const ttl = secret?.ttlSeconds ?? null
    const others = [...new Set(userIds)].filter((id) => id !== creatorId)
    if (others.length === 0) throw new ChatError('INVALID_FIELD', 'user_ids must name at least one other user', { field: 'user_ids' })
    const marks = others.map(() => '?').join(', ')
    const found = await tx.all(`SELECT id FROM users WHERE deleted_at IS NULL AND id IN (${marks})`, others)
    if (found.length !== others.length) throw new ChatError('USER_NOT_FOUND')
    if ((await tx.all(`SELECT user_id FROM blocks WHERE blocked_id = ? AND user_id IN (${marks})`, [creatorId, ...others])).length > 0) throw new ChatError('BLOCKED')
    const now = new Date()
    if (others.length === 1 && name === undefined) {
      const key = dmKey(creatorId, others[0]!)
      const [existing] = ttl === null
        ? await tx.all('SELECT id, message_ttl_seconds FROM channels WHERE dm_key = ?', [key])
        : await tx.all(
          `SELECT c.id, c.message_ttl_seconds FROM channels c
           JOIN chat_members a ON a.channel_id = c.id AND a.user_id = ? JOIN chat_members b ON b.channel_id = c.id AND b.user_id = ?
           WHERE c.server_id IS NULL AND c.kind = 'dm' AND c.dm_key IS NULL AND c.closed_at IS NULL ORDER BY c.id LIMIT 1`,
          [creatorId, others[0]!],
        )
      if (existing !== undefined) {
        const had = existing['message_ttl_seconds'] === null ? null : Number(existing['message_ttl_seconds'])
        return outcome({ chatId: String(existing['id']), kind: 'dm' as const, created: false, ttlSeconds: had }, [])
      }
      const chatId = newId()
      await tx.run('INSERT INTO channels (id, server_id, kind, name, dm_key, message_ttl_seconds, created_at) VALUES (?, NULL, ?, ?, ?, ?, ?)', [chatId, 'dm', 'direct', ttl === null ? key : null, ttl, now])
      for (const u of [creatorId, others[0]!]) await tx.run('INSERT INTO chat_members (channel_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)', [chatId, u, 'member', now])
      return outcome(
        { chatId, kind: 'dm' as const, created: true, ttlSeconds: ttl },
        [record(chatId, creatorId, 'chat_created', { type: 'dm', member_ids: [creatorId, others[0]!], ...(ttl === null ? {} : { secret: true, message_ttl_seconds: ttl }) })],
        [],
        [creatorId, others[0]!].map((u) => ({ userId: u, data: { change: 'added' as const, chat_id: chatId, by: creatorId }, deltaIndex: 0 })),
      )
    }
    const chatId = newId()
    const title = name ?? 'group'
    await tx.run('INSERT INTO channels (id, server_id, kind, name, message_ttl_seconds, created_at) VALUES (?, NULL, ?, ?, ?, ?)', [chatId, 'group', title, ttl, now])
    await tx.run('INSERT INTO chat_members (channel_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)', [chatId, creatorId, 'admin', now])
    for (const u of others) await tx.run('INSERT INTO chat_members (channel_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)', [chatId, u, 'member', now])
    const members = [creatorId, ...others]
    return outcome(
      { chatId, kind: 'group' as const, created: true, ttlSeconds: ttl },
      [record(chatId, creatorId, 'chat_created', { type: 'group', name: title, admin_id: creatorId, member_ids: members, ...(ttl === null ? {} : { secret: true, message_ttl_seconds: ttl }) })],
      [],
      members.map((u) => ({ userId: u, data: { change: 'added' as const, chat_id: chatId, by: creatorId, role: u === creatorId ? 'admin' : 'member' }, deltaIndex: 0 })),
    )
  }
}

export function addChatMembers(chatId: string, actorId: string, userIds: readonly string[]): ChangeWork<{ added: string[] }> {
  return async (tx) => {
    await groupAdmin(tx, chatId, actorId)
    const wanted = [...new Set(userIds)]
    const marks = wanted.map(() => '?').join(', ')
    if ((await tx.all(`SELECT id FROM users WHERE deleted_at IS NULL AND id IN (${marks})`, wanted)).length !== wanted.length) throw new ChatError('USER_NOT_FOUND')
    if ((await tx.all(`SELECT user_id FROM blocks WHERE blocked_id = ? AND user_id IN (${marks})`, [actorId, ...wanted])).length > 0) throw new ChatError('BLOCKED')
    const present = new Set((await tx.all(`SELECT user_id FROM chat_members WHERE channel_id = ? AND user_id IN (${marks})`, [chatId, ...wanted])).map((r) => String(r['user_id'])))
    const fresh = wanted.filter((u) => !present.has(u))
    if (fresh.length === 0) throw new ChatError('ALREADY_MEMBER')
    const now = new Date()
    for (const u of fresh) await tx.run('INSERT INTO chat_members (channel_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)', [chatId, u, 'member', now])
    return outcome(
      { added: fresh },
      [record(chatId, actorId, 'chat_member_added', { user_ids: fresh, by: actorId })],
      [],
      fresh.map((u) => ({ userId: u, data: { change: 'added' as const, chat_id: chatId, by: actorId }, deltaIndex: 0 })),
    )
  }
}

export function removeChatMember(chatId: string, actorId: string, targetId: string): ChangeWork<{ chatId: string; userId: string }> {
  return async (tx) => {
    if (targetId === actorId) throw new ChatError('FORBIDDEN', 'leave the group instead of removing yourself')
    await groupAdmin(tx, chatId, actorId)
    if ((await tx.run('DELETE FROM chat_members WHERE channel_id = ? AND user_id = ?', [chatId, targetId])) === 0) throw new ChatError('USER_NOT_FOUND', 'that user is not in the group')
    return outcome(
      { chatId, userId: targetId },
      [record(chatId, actorId, 'chat_member_removed', { user_id: targetId, by: actorId })],
      [{ type: 'membership', userId: targetId, chatId }],
      [{ userId: targetId, data: { change: 'removed', chat_id: chatId, by: actorId }, deltaIndex: 0 }],
    )
  }
}

/** Leaves a group. An admin who leaves hands the role to the longest-standing member; the last one out ends the group. */
export function leaveChat(chatId: string, userId: string): ChangeWork<{ chatId: string; newAdmin: string | null; ended: boolean }> {
  return async (tx) => {
    const chat = await liveChat(tx, chatId)
    const role = chat === null ? null : await chatRole(tx, chatId, userId)
    if (chat === null || role === null) throw new ChatError('CHANNEL_NOT_FOUND')
    if (chat.kind !== 'group') throw new ChatError('INVALID_FIELD', 'a 1:1 chat cannot be left', { field: 'chat_id' })
    await tx.run('DELETE FROM chat_members WHERE channel_id = ? AND user_id = ?', [chatId, userId])
    const deltas = [record(chatId, userId, 'chat_member_left', { user_id: userId })]
    const inbox: InboxEvent[] = [{ userId, data: { change: 'left', chat_id: chatId }, deltaIndex: 0 }]
    let newAdmin: string | null = null
    let ended = false
    const [next] = await tx.all('SELECT user_id FROM chat_members WHERE channel_id = ? ORDER BY joined_at, user_id LIMIT 1', [chatId])
    if (next === undefined) {
      ended = !chat.closed
      if (ended) {
        await tx.run('UPDATE channels SET closed_at = ? WHERE id = ?', [new Date(), chatId])
        deltas.push(record(chatId, userId, 'chat_ended', { reason: 'empty' }))
      }
    } else if (role === 'admin' && (await tx.all("SELECT user_id FROM chat_members WHERE channel_id = ? AND role = 'admin'", [chatId])).length === 0) {
      newAdmin = String(next['user_id'])
      await tx.run('UPDATE chat_members SET role = ? WHERE channel_id = ? AND user_id = ?', ['admin', chatId, newAdmin])
      deltas.push(record(chatId, userId, 'chat_admin', { user_id: newAdmin }))
      inbox.push({ userId: newAdmin, data: { change: 'role', chat_id: chatId, role: 'admin' }, deltaIndex: 1 })
    }
    const access: AccessEvent[] = [{ type: 'membership', userId, chatId }]
    if (ended) access.push({ type: 'chat-closed', chatId })
    return outcome({ chatId, newAdmin, ended }, deltas, access, inbox)
  }
}

export function updateChat(chatId: string, actorId: string, patch: { name?: string | undefined; iconFileId?: string | null | undefined }): ChangeWork<{ chatId: string }> {
  return async (tx) => {
    await groupAdmin(tx, chatId, actorId)
    const changed: Record<string, unknown> = {}
    if (patch.name !== undefined) (await tx.run('UPDATE channels SET name = ? WHERE id = ?', [patch.name, chatId]), (changed['name'] = patch.name))
    if (patch.iconFileId !== undefined) (await tx.run('UPDATE channels SET icon_file_id = ? WHERE id = ?', [patch.iconFileId, chatId]), (changed['icon_file_id'] = patch.iconFileId))
    if (Object.keys(changed).length === 0) throw new ChatError('INVALID_FIELD', 'nothing to change: give name or icon_file_id')
    return outcome({ chatId }, [record(chatId, actorId, 'chat_updated', changed)])
  }
}

/** Ends a group: the history stays readable to its members, nobody posts any more. */
export function endChat(chatId: string, actorId: string): ChangeWork<{ chatId: string }> {
  return async (tx) => {
    await groupAdmin(tx, chatId, actorId)
    await tx.run('UPDATE channels SET closed_at = ? WHERE id = ?', [new Date(), chatId])
    await tx.run('UPDATE invites SET revoked_at = ? WHERE channel_id = ? AND revoked_at IS NULL', [new Date(), chatId])
    const members = (await tx.all('SELECT user_id FROM chat_members WHERE channel_id = ?', [chatId])).map((r) => String(r['user_id']))
    return outcome(
      { chatId },
      [record(chatId, actorId, 'chat_ended', { by: actorId })],
      [{ type: 'chat-closed', chatId }],
      members.map((u) => ({ userId: u, data: { change: 'ended' as const, chat_id: chatId, by: actorId }, deltaIndex: 0 })),
    )
  }
}

// ---- accounts

/**
 * Deletes an account: the user row stays as "deleted user" (its messages stay), its sign-ins
 * are revoked, its favorites, blocks and devices go, and every membership ends as a delta in
 * the server's log or the chat (`member_left` / `chat_member_left` with reason
 * "account deleted"). A server it owned passes to the highest-ranking, longest-standing
 * member (`owner_transferred`), or is deleted when nobody is left; a group it was the only
 * admin of gets the longest-standing member as admin; an emptied group ends.
 */
export function deleteAccount(userId: string, tombstone: string): ChangeWork<{ userId: string; events: AccessEvent[] }> {
  return async (tx) => {
    const now = new Date()
    const deltas: AppendInput[] = []
    const access: AccessEvent[] = [{ type: 'sessions-revoked', userId }, { type: 'presence', userId }]
    const inbox: InboxEvent[] = []
    const servers = (await tx.all('SELECT su.server_id, su.role FROM server_users su JOIN servers s ON s.id = su.server_id WHERE su.user_id = ? AND s.deleted_at IS NULL', [userId])).map((r) => ({ serverId: String(r['server_id']), role: String(r['role']) }))
    for (const { serverId, role } of servers) {
      if (role === 'owner') {
        const candidates = (await tx.all('SELECT user_id, role, joined_at FROM server_users WHERE server_id = ? AND user_id <> ?', [serverId, userId]))
          .map((r) => ({ userId: String(r['user_id']), rank: isRole(String(r['role'])) ? ROLE_RANK[String(r['role']) as Role] : -1, joined: dbDate(r['joined_at'])!.getTime() }))
          .sort((a, b) => b.rank - a.rank || a.joined - b.joined || a.userId.localeCompare(b.userId))
        const next = candidates[0]
        if (next === undefined) {
          await tx.run('UPDATE servers SET deleted_at = ?, member_count = 0 WHERE id = ?', [now, serverId])
          await tx.run('UPDATE channels SET closed_at = ? WHERE server_id = ? AND closed_at IS NULL', [now, serverId])
          await tx.run('UPDATE invites SET revoked_at = ? WHERE server_id = ? AND revoked_at IS NULL', [now, serverId])
          await tx.run('DELETE FROM server_users WHERE server_id = ?', [serverId])
          deltas.push(record(serverId, userId, 'server_deleted', { reason: 'account deleted' }))
          access.push({ type: 'server-permissions', serverId })
          continue
        }
        await tx.run('UPDATE server_users SET role = ? WHERE server_id = ? AND user_id = ?', ['owner', serverId, next.userId])
        await tx.run('UPDATE servers SET owner_id = ? WHERE id = ?', [next.userId, serverId])
        deltas.push(record(serverId, userId, 'owner_transferred', { from: userId, to: next.userId, reason: 'account deleted' }))
        access.push({ type: 'membership', userId: next.userId, serverId })
        inbox.push({ userId: next.userId, data: { change: 'role', server_id: serverId, role: 'owner' }, deltaIndex: deltas.length - 1 })
      }
      await removeMember(tx, serverId, userId)
      deltas.push(record(serverId, userId, 'member_left', { user_id: userId, reason: 'account deleted' }))
      access.push({ type: 'membership', userId, serverId })
    }
    const chats = (await tx.all("SELECT m.channel_id, m.role, c.kind, c.closed_at FROM chat_members m JOIN channels c ON c.id = m.channel_id WHERE m.user_id = ?", [userId]))
      .map((r) => ({ chatId: String(r['channel_id']), role: String(r['role']), kind: String(r['kind']), closed: r['closed_at'] !== null }))
    for (const chat of chats) {
      await tx.run('DELETE FROM chat_members WHERE channel_id = ? AND user_id = ?', [chat.chatId, userId])
      deltas.push(record(chat.chatId, userId, 'chat_member_left', { user_id: userId, reason: 'account deleted' }))
      access.push({ type: 'membership', userId, chatId: chat.chatId })
      if (chat.kind !== 'group' || chat.closed) continue
      const rest = await tx.all('SELECT user_id, role FROM chat_members WHERE channel_id = ? ORDER BY joined_at, user_id', [chat.chatId])
      if (rest.length === 0) {
        await tx.run('UPDATE channels SET closed_at = ? WHERE id = ?', [now, chat.chatId])
        deltas.push(record(chat.chatId, userId, 'chat_ended', { reason: 'empty' }))
        access.push({ type: 'chat-closed', chatId: chat.chatId })
      } else if (chat.role === 'admin' && !rest.some((r) => String(r['role']) === 'admin')) {
        const admin = String(rest[0]!['user_id'])
        await tx.run('UPDATE chat_members SET role = ? WHERE channel_id = ? AND user_id = ?', ['admin', chat.chatId, admin])
        deltas.push(record(chat.chatId, userId, 'chat_admin', { user_id: admin }))
        inbox.push({ userId: admin, data: { change: 'role', chat_id: chat.chatId, role: 'admin' }, deltaIndex: deltas.length - 1 })
      }
    }
    await tx.run("UPDATE users SET username = ?, password_hash = '', display_name = 'deleted user', status_text = NULL, timezone = NULL, icon_file_id = NULL, deleted_at = ? WHERE id = ?", [tombstone, now, userId])
    await tx.run('DELETE FROM favorites WHERE user_id = ? OR favorite_id = ?', [userId, userId])
    await tx.run('DELETE FROM blocks WHERE user_id = ? OR blocked_id = ?', [userId, userId])
    await tx.run('DELETE FROM devices WHERE user_id = ?', [userId])
    await tx.run('UPDATE auth_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL', [now, userId])
    return outcome({ userId, events: access }, deltas, access, inbox)
  }
}
