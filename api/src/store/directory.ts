// Who exists and who may read what: users, servers, channels, chats and membership.
import type { Database } from '../db/open-database.ts'
import { newId } from '../ids.ts'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { ChannelKind, ChannelRecord, ServerRecord, ServerRole, UserRecord } from './types.ts'

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

  // ---- servers and their channels

  /** Creates a server owned by ownerId, with a first text channel "general". */
  async createServer(ownerId: string, name: string, isPublic: boolean): Promise<{ server: ServerRecord; generalChannelId: string }> {
    const serverId = newId()
    const channelId = newId()
    await this.db.prisma.$transaction([
      this.db.prisma.server.create({ data: { id: serverId, name, ownerId, isPublic } }),
      this.db.prisma.serverMember.create({ data: { serverId, userId: ownerId, role: 'owner' } }),
      this.db.prisma.channel.create({ data: { id: channelId, serverId, kind: 'text', name: 'general' } }),
    ])
    return { server: { id: serverId, name, ownerId, isPublic }, generalChannelId: channelId }
  }

  async findServer(serverId: string): Promise<ServerRecord | null> {
    return this.db.prisma.server.findUnique({ where: { id: serverId }, select: { id: true, name: true, ownerId: true, isPublic: true } })
  }

  async serverRole(serverId: string, userId: string): Promise<ServerRole | null> {
    const row = await this.db.prisma.serverMember.findUnique({ where: { serverId_userId: { serverId, userId } }, select: { role: true } })
    return (row?.role as ServerRole | undefined) ?? null
  }

  /** Joins a public server; joining again is a no-op. Private servers need an invitation. */
  async joinServer(serverId: string, userId: string): Promise<{ role: ServerRole; joined: boolean }> {
    const server = await this.findServer(serverId)
    if (server === null) throw new ChatError('SERVER_NOT_FOUND')
    const role = await this.serverRole(serverId, userId)
    if (role !== null) return { role, joined: false }
    if (!server.isPublic) throw new ChatError('SERVER_NOT_FOUND')
    try {
      await this.db.prisma.serverMember.create({ data: { serverId, userId, role: 'member' } })
    } catch (err) {
      if (!isUniqueViolation(err)) throw err
    }
    return { role: 'member', joined: true }
  }

  async createChannel(serverId: string, name: string, kind: 'text' | 'voice'): Promise<ChannelRecord> {
    const channel: ChannelRecord = { id: newId(), serverId, kind, name }
    await this.db.prisma.channel.create({ data: channel })
    return channel
  }

  async serverChannels(serverId: string): Promise<ChannelRecord[]> {
    const rows = await this.db.prisma.channel.findMany({ where: { serverId }, select: { id: true, serverId: true, kind: true, name: true }, orderBy: { id: 'asc' } })
    return rows.map((r) => ({ ...r, kind: r.kind as ChannelKind }))
  }

  // ---- chats

  /**
   * Creates a chat between the creator and userIds: a 1:1 chat (one per pair; the existing
   * one is returned) when there is one other user, a group with the creator as admin otherwise.
   */
  async createChat(creatorId: string, userIds: readonly string[], name?: string): Promise<{ chat: ChannelRecord; created: boolean }> {
    const others = [...new Set(userIds)].filter((id) => id !== creatorId)
    if (others.length === 0) throw new ChatError('INVALID_FIELD', 'user_ids must name at least one other user')
    const found = await this.db.prisma.user.findMany({ where: { id: { in: others } }, select: { id: true } })
    if (found.length !== others.length) throw new ChatError('USER_NOT_FOUND')
    if (others.length === 1) {
      const other = others[0]!
      const existing = await this.db.prisma.$queryRaw<{ id: string }[]>`
        SELECT c.id AS id FROM channels c
        JOIN chat_members a ON a.channel_id = c.id AND a.user_id = ${creatorId}
        JOIN chat_members b ON b.channel_id = c.id AND b.user_id = ${other}
        WHERE c.kind = 'dm' LIMIT 1`
      if (existing.length > 0) return { chat: (await this.findChannel(existing[0]!.id))!, created: false }
    }
    const kind: ChannelKind = others.length === 1 ? 'dm' : 'group'
    const chat: ChannelRecord = { id: newId(), serverId: null, kind, name: name ?? (kind === 'dm' ? 'direct' : 'group') }
    await this.db.prisma.$transaction([
      this.db.prisma.channel.create({ data: chat }),
      this.db.prisma.chatMember.createMany({
        data: [
          { channelId: chat.id, userId: creatorId, role: kind === 'group' ? 'admin' : 'member' },
          ...others.map((userId) => ({ channelId: chat.id, userId, role: 'member' })),
        ],
      }),
    ])
    return { chat, created: true }
  }

  // ---- access

  async findChannel(channelId: string): Promise<ChannelRecord | null> {
    const cached = this.channelCache.get(channelId)
    if (cached !== undefined) return cached
    const row = await this.db.prisma.channel.findUnique({ where: { id: channelId }, select: { id: true, serverId: true, kind: true, name: true } })
    if (row === null) return null
    const channel: ChannelRecord = { ...row, kind: row.kind as ChannelKind }
    this.channelCache.set(channelId, channel)
    return channel
  }

  /** Whether userId may read (and post in) the channel or chat. */
  async canRead(userId: string, channel: ChannelRecord): Promise<boolean> {
    if (channel.serverId !== null) return (await this.serverRole(channel.serverId, userId)) !== null
    const row = await this.db.prisma.chatMember.findUnique({ where: { channelId_userId: { channelId: channel.id, userId } }, select: { role: true } })
    return row !== null
  }

  /**
   * The channel userId wants to read or write, or a coded error. A channel the user may not
   * see is NOT_A_MEMBER when its server is public and CHANNEL_NOT_FOUND otherwise, so the
   * existence of private servers' channels and of chats does not leak.
   */
  async readableChannel(userId: string, channelId: string): Promise<ChannelRecord> {
    const channel = await this.findChannel(channelId)
    if (channel === null) throw new ChatError('CHANNEL_NOT_FOUND')
    if (await this.canRead(userId, channel)) return channel
    if (channel.serverId !== null && (await this.findServer(channel.serverId))?.isPublic === true) throw new ChatError('NOT_A_MEMBER')
    throw new ChatError('CHANNEL_NOT_FOUND')
  }

  /** Every channel and chat userId may read, optionally within one server. */
  async readableChannelIds(userId: string, serverId?: string): Promise<string[]> {
    const serverIds = serverId !== undefined
      ? ((await this.serverRole(serverId, userId)) === null ? [] : [serverId])
      : (await this.db.prisma.serverMember.findMany({ where: { userId }, select: { serverId: true } })).map((r) => r.serverId)
    const channels = serverIds.length === 0 ? [] : await this.db.prisma.channel.findMany({ where: { serverId: { in: serverIds } }, select: { id: true } })
    const chats = serverId !== undefined ? [] : await this.db.prisma.chatMember.findMany({ where: { userId }, select: { channelId: true } })
    return [...channels.map((c) => c.id), ...chats.map((c) => c.channelId)]
  }

  /** Servers the user belongs to, for subscribing with one wildcard per server. */
  async serverIdsOf(userId: string): Promise<string[]> {
    return (await this.db.prisma.serverMember.findMany({ where: { userId }, select: { serverId: true } })).map((r) => r.serverId)
  }
}
