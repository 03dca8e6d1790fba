// Who exists and who may read what: users, servers, channels, chats and membership.
import type { Database } from '../db/open-database.ts'
import { newId } from '../ids.ts'
import { AccountStore } from './accounts.ts'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { channelPermissions, has, isRole, PERMISSIONS, type Override } from '../../../clients/sdk/src/permissions.ts'
import type { ChannelKind, ChannelRecord, MemberRecord, ServerRecord, ServerRole, UserRecord } from './types.ts'

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002'
}

export class Directory {
  // Channels never move between servers, so their identity is cached for the process.
  private readonly channelCache = new Map<string, ChannelRecord>()

  constructor(private readonly db: Database) {}

  // ---- users

  async createUser(input: { username: string; passwordHash: string; displayName?: string }): Promise<UserRecord> {
    const data = { id: newId(), username: input.username, passwordHash: input.passwordHash, displayName: input.displayName ?? input.username }
    try {
      return await this.db.prisma.user.create({ data })
    } catch (err) {
      if (isUniqueViolation(err)) throw new ChatError('USERNAME_TAKEN')
      throw err
    }
  }

  findUserByUsername(username: string): Promise<UserRecord | null> {
    return this.db.prisma.user.findUnique({ where: { username } })
  }

  findUserById(id: string): Promise<UserRecord | null> {
    return this.db.prisma.user.findUnique({ where: { id } })
  }

  /** Sign-ins and devices of users (accounts.ts), for the broker's CONNECT checks. */
  accounts(): AccountStore {
    return new AccountStore(this.db)
  }

  // ---- servers and their channels (changes go through changes.ts and the sequencer)

  async findServer(serverId: string): Promise<ServerRecord | null> {
    return this.db.prisma.server.findFirst({ where: { id: serverId, deletedAt: null }, select: { id: true, name: true, ownerId: true, isPublic: true } })
  }

  async serverRole(serverId: string, userId: string): Promise<ServerRole | null> {
    return (await this.member(serverId, userId))?.role ?? null
  }

  /** How many members a server has (the counter kept with its rows), or null for no live server. */
  async serverMemberCount(serverId: string): Promise<number | null> {
    const row = await this.db.prisma.server.findFirst({ where: { id: serverId, deletedAt: null }, select: { memberCount: true } })
    return row?.memberCount ?? null
  }

  /** The membership of userId in a server (role, mute), or null. */
  async member(serverId: string, userId: string): Promise<MemberRecord | null> {
    // findFirst, not findUnique: Prisma folds the findUnique calls of one tick into one query,
    // which a few thousand concurrent checks (a reconnect storm) push past SQLite's limit of
    // bound parameters (P2029).
    const row = await this.db.prisma.serverMember.findFirst({ where: { serverId, userId }, select: { role: true, mutedUntil: true } })
    if (row === null || !isRole(row.role)) return null
    return { role: row.role, mutedUntil: row.mutedUntil }
  }

  /** The permission overrides of a server's channels, by channel id (only channels that have some). */
  async serverOverrides(serverId: string): Promise<Map<string, Override[]>> {
    const rows = await this.db.prisma.channelOverride.findMany({ where: { serverId } })
    const out = new Map<string, Override[]>()
    for (const r of rows) {
      const list = out.get(r.channelId) ?? []
      list.push({ targetType: r.targetType === 'user' ? 'user' : 'role', target: r.target, allow: r.allow, deny: r.deny })
      out.set(r.channelId, list)
    }
    return out
  }

  /** Channels of a server in display order (not the server's own log, not deleted ones). */
  async serverChannels(serverId: string): Promise<(ChannelRecord & { position: number })[]> {
    const rows = await this.db.prisma.channel.findMany({
      where: { serverId, kind: { in: ['text', 'voice'] }, closedAt: null },
      select: { id: true, serverId: true, kind: true, name: true, position: true, closedAt: true },
      orderBy: [{ position: 'asc' }, { id: 'asc' }],
    })
    return rows.map((r) => ({ id: r.id, serverId: r.serverId, kind: r.kind as ChannelKind, name: r.name, closed: r.closedAt !== null, position: r.position }))
  }

  // ---- access

  async findChannel(channelId: string): Promise<ChannelRecord | null> {
    const cached = this.channelCache.get(channelId)
    if (cached !== undefined) return cached
    const row = await this.db.prisma.channel.findUnique({ where: { id: channelId }, select: { id: true, serverId: true, kind: true, name: true, closedAt: true, messageTtlSeconds: true } })
    if (row === null) return null
    const channel: ChannelRecord = { id: row.id, serverId: row.serverId, kind: row.kind as ChannelKind, name: row.name, closed: row.closedAt !== null, messageTtlSeconds: row.messageTtlSeconds }
    this.channelCache.set(channelId, channel)
    return channel
  }

  /** Drops cached channel rows (renamed, deleted, ended). */
  forgetChannel(channelId?: string): void {
    if (channelId === undefined) this.channelCache.clear()
    else this.channelCache.delete(channelId)
  }

  /**
   * The permission bits of userId in a channel: for a server channel the role's bits with
   * the channel's overrides (0 for non-members and deleted channels); for a chat READ|POST
   * for members (READ only once the group ended).
   */
  async permissionsIn(userId: string, channel: ChannelRecord): Promise<number> {
    if (channel.serverId === null) {
      if ((await this.chatRole(channel.id, userId)) === null) return 0
      return channel.closed ? PERMISSIONS.READ : PERMISSIONS.READ | PERMISSIONS.POST
    }
    if (channel.closed) return 0
    const member = await this.member(channel.serverId, userId)
    if (member === null) return 0
    const overrides = channel.kind === 'server' ? [] : await this.db.prisma.channelOverride.findMany({ where: { channelId: channel.id } })
    const muted = member.mutedUntil !== null && member.mutedUntil.getTime() > Date.now()
    return channelPermissions(member.role, userId, overrides.map((o) => ({ targetType: o.targetType === 'user' ? 'user' : 'role', target: o.target, allow: o.allow, deny: o.deny })), muted)
  }

  /** userId's role in a chat (admin or member), null when not a member. */
  async chatRole(chatId: string, userId: string): Promise<string | null> {
    const row = await this.db.prisma.chatMember.findUnique({ where: { channelId_userId: { channelId: chatId, userId } }, select: { role: true } })
    return row?.role ?? null
  }

  /** Whether userId may read the channel or chat. */
  async canRead(userId: string, channel: ChannelRecord): Promise<boolean> {
    return has(await this.permissionsIn(userId, channel), PERMISSIONS.READ)
  }

  /**
   * The channel userId wants to read, or a coded error. A channel the user may not see is
   * NOT_A_MEMBER when its server is public and the user has not joined, and
   * CHANNEL_NOT_FOUND otherwise, so private servers' channels, private channels and chats
   * do not leak their existence.
   */
  async readableChannel(userId: string, channelId: string): Promise<ChannelRecord> {
    return (await this.channelWithBits(userId, channelId)).channel
  }

  /** The channel and userId's bits in it, when it may read it; the coded error otherwise. */
  async channelWithBits(userId: string, channelId: string): Promise<{ channel: ChannelRecord; bits: number }> {
    const channel = await this.findChannel(channelId)
    if (channel === null) throw new ChatError('CHANNEL_NOT_FOUND')
    const bits = await this.permissionsIn(userId, channel)
    if (has(bits, PERMISSIONS.READ)) return { channel, bits }
    if (channel.serverId !== null && !channel.closed && (await this.member(channel.serverId, userId)) === null && (await this.findServer(channel.serverId))?.isPublic === true) throw new ChatError('NOT_A_MEMBER')
    throw new ChatError('CHANNEL_NOT_FOUND')
  }

  /** The channel userId wants to post in: readable, not closed, not muted, POST allowed, not blocked (1:1). */
  async writableChannel(userId: string, channelId: string): Promise<ChannelRecord> {
    return (await this.writable(userId, channelId)).channel
  }

  /** writableChannel with userId's permission bits there. */
  async writable(userId: string, channelId: string): Promise<{ channel: ChannelRecord; bits: number }> {
    const { channel, bits } = await this.channelWithBits(userId, channelId)
    if (channel.closed) throw new ChatError('CHANNEL_CLOSED')
    if (channel.kind === 'server') throw new ChatError('FORBIDDEN', "a server's own log takes no posts")
    if (!has(bits, PERMISSIONS.POST)) {
      const member = channel.serverId === null ? null : await this.member(channel.serverId, userId)
      if (member?.mutedUntil && member.mutedUntil.getTime() > Date.now()) throw new ChatError('MUTED', undefined, { until: member.mutedUntil.toISOString() })
      throw new ChatError('FORBIDDEN', 'you may not post in this channel')
    }
    if (channel.kind === 'dm') {
      const blocked = await this.db.prisma.$queryRaw<{ n: number }[]>`
        SELECT 1 AS n FROM chat_members m JOIN blocks b ON b.user_id = m.user_id AND b.blocked_id = ${userId}
        WHERE m.channel_id = ${channel.id} AND m.user_id <> ${userId} LIMIT 1`
      if (blocked.length > 0) throw new ChatError('BLOCKED')
    }
    return { channel, bits }
  }

  /** Every channel and chat userId may read (server logs included), optionally within one server. */
  async readableChannelIds(userId: string, serverId?: string): Promise<string[]> {
    const memberships = (await this.db.prisma.serverMember.findMany({ where: { userId, ...(serverId !== undefined ? { serverId } : {}) }, select: { serverId: true, role: true } }))
      .filter((m): m is { serverId: string; role: ServerRole } => isRole(m.role))
    const serverIds = memberships.map((m) => m.serverId)
    const out: string[] = []
    if (serverIds.length > 0) {
      // Two queries for all the user's servers: their open channels and their overrides.
      const [channels, overrides] = await Promise.all([
        this.db.prisma.channel.findMany({ where: { serverId: { in: serverIds }, closedAt: null }, select: { id: true, serverId: true } }),
        this.db.prisma.channelOverride.findMany({ where: { serverId: { in: serverIds } } }),
      ])
      const byChannel = new Map<string, Override[]>()
      for (const o of overrides) {
        const list = byChannel.get(o.channelId) ?? []
        list.push({ targetType: o.targetType === 'user' ? 'user' : 'role', target: o.target, allow: o.allow, deny: o.deny })
        byChannel.set(o.channelId, list)
      }
      const roles = new Map(memberships.map((m) => [m.serverId, m.role]))
      for (const c of channels) {
        if (has(channelPermissions(roles.get(c.serverId!)!, userId, byChannel.get(c.id) ?? []), PERMISSIONS.READ)) out.push(c.id)
      }
    }
    if (serverId === undefined) out.push(...(await this.db.prisma.chatMember.findMany({ where: { userId }, select: { channelId: true } })).map((c) => c.channelId))
    return out
  }

  /** Deleted channels of a server (hidden from its wildcard subscriptions). */
  async closedChannelIds(serverId: string): Promise<string[]> {
    return (await this.db.prisma.channel.findMany({ where: { serverId, closedAt: { not: null } }, select: { id: true } })).map((c) => c.id)
  }

  /** Servers the user belongs to, for subscribing with one wildcard per server. */
  async serverIdsOf(userId: string): Promise<string[]> {
    return (await this.db.prisma.serverMember.findMany({ where: { userId }, select: { serverId: true } })).map((r) => r.serverId)
  }

  /** Whether watcher may see subject's presence: itself, or someone sharing a server or chat with it who is not blocked by it. */
  async mayWatchPresence(watcherId: string, subjectId: string): Promise<boolean> {
    if (watcherId === subjectId) return true
    const blocked = await this.db.prisma.block.findUnique({ where: { userId_blockedId: { userId: subjectId, blockedId: watcherId } }, select: { userId: true } })
    if (blocked !== null) return false
    const shared = await this.db.prisma.$queryRaw<{ n: number }[]>`
      SELECT 1 AS n FROM server_users a JOIN server_users b ON b.server_id = a.server_id AND b.user_id = ${subjectId}
      WHERE a.user_id = ${watcherId} LIMIT 1`
    if (shared.length > 0) return true
    const chat = await this.db.prisma.$queryRaw<{ n: number }[]>`
      SELECT 1 AS n FROM chat_members a JOIN chat_members b ON b.channel_id = a.channel_id AND b.user_id = ${subjectId}
      WHERE a.user_id = ${watcherId} LIMIT 1`
    return chat.length > 0
  }
}
