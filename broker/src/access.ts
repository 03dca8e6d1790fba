import { parseFilter, parseTopic, topics, type ParsedFilter } from '../../clients/sdk/src/topics.ts'
import { channelPermissions, has, PERMISSIONS, type Override } from '../../clients/sdk/src/permissions.ts'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import type { Directory } from '../../api/src/store/directory.ts'
import type { MemberRecord } from '../../api/src/store/types.ts'
import type { Session } from './sessions.ts'
import type { AccessEvent } from './access-events.ts'

const TTL_MS = 30_000
const MAX_ENTRIES = 200_000

/** A small TTL map: what the access checks read most (memberships, a server's overrides). */
class TtlCache<V> {
  private readonly map = new Map<string, { value: V; at: number }>()
  get(key: string): V | undefined {
    const hit = this.map.get(key)
    if (hit === undefined) return undefined
    if (Date.now() - hit.at > TTL_MS) {
      this.map.delete(key)
      return undefined
    }
    return hit.value
  }
  set(key: string, value: V): void {
    if (this.map.size >= MAX_ENTRIES) this.map.delete(this.map.keys().next().value!)
    this.map.set(key, { value, at: Date.now() })
  }
  delete(key: string): void {
    this.map.delete(key)
  }
  clear(): void {
    this.map.clear()
  }
}

/**
 * Who may subscribe to and publish on which topic (docs/protocol.md, "Topics"). Only the
 * filters the protocol documents are accepted; `#`, `+` and `$SYS` filters are refused.
 * Memberships and overrides are cached for 30 s at most; access events (access-events.ts)
 * drop the entries they concern at once, on every node.
 */
export class AccessPolicy {
  private readonly members = new TtlCache<MemberRecord | null>()
  private readonly overrides = new TtlCache<Map<string, Override[]>>()
  private readonly chatMembers = new TtlCache<boolean>()
  private readonly closed = new TtlCache<string[]>()

  constructor(private readonly directory: Directory) {}

  // ---- cached reads

  private async member(serverId: string, userId: string): Promise<MemberRecord | null> {
    const key = `${serverId}/${userId}`
    const hit = this.members.get(key)
    if (hit !== undefined) return hit
    const value = await this.directory.member(serverId, userId)
    this.members.set(key, value)
    return value
  }

  private async serverOverrides(serverId: string): Promise<Map<string, Override[]>> {
    const hit = this.overrides.get(serverId)
    if (hit !== undefined) return hit
    const value = await this.directory.serverOverrides(serverId)
    this.overrides.set(serverId, value)
    return value
  }

  private async inChat(chatId: string, userId: string): Promise<boolean> {
    const key = `${chatId}/${userId}`
    const hit = this.chatMembers.get(key)
    if (hit !== undefined) return hit
    const chat = await this.directory.findChannel(chatId)
    const value = chat !== null && chat.serverId === null && (await this.directory.canRead(userId, chat))
    this.chatMembers.set(key, value)
    return value
  }

  forgetMember(serverId: string, userId: string): void {
    this.members.delete(`${serverId}/${userId}`)
  }
  forgetServer(serverId: string): void {
    this.overrides.delete(serverId)
    this.closed.delete(serverId)
  }

  private async closedChannels(serverId: string): Promise<string[]> {
    const hit = this.closed.get(serverId)
    if (hit !== undefined) return hit
    const value = await this.directory.closedChannelIds(serverId)
    this.closed.set(serverId, value)
    return value
  }
  /** Drops what an access event makes stale: memberships, a server's overrides, channel rows. */
  forget(e: AccessEvent): void {
    switch (e.type) {
      case 'membership':
        if (e.serverId !== undefined) this.forgetMember(e.serverId, e.userId)
        if (e.chatId !== undefined) this.forgetChatMember(e.chatId, e.userId)
        return
      case 'server-permissions':
        this.forgetServer(e.serverId)
        this.directory.forgetChannel(e.channelId)
        return
      case 'chat-closed':
        this.directory.forgetChannel(e.chatId)
        return
      default:
        return
    }
  }

  /** Drops every cached entry (after this node may have missed access events). */
  forgetAll(): void {
    this.directory.forgetChannel()
    this.members.clear()
    this.overrides.clear()
    this.chatMembers.clear()
    this.closed.clear()
  }

  forgetChatMember(chatId: string, userId: string): void {
    this.chatMembers.delete(`${chatId}/${userId}`)
  }

  /** The permission bits of a user in a server channel (0 when it is not one, deleted, or not theirs). */
  async channelBits(userId: string, serverId: string, channelId: string): Promise<number> {
    const channel = await this.directory.findChannel(channelId)
    if (channel === null || channel.serverId !== serverId || channel.closed) return 0
    const member = await this.member(serverId, userId)
    if (member === null) return 0
    const muted = member.mutedUntil !== null && member.mutedUntil.getTime() > Date.now()
    return channelPermissions(member.role, userId, (await this.serverOverrides(serverId)).get(channelId) ?? [], muted)
  }

  /** Channels of a server the user may not read (for its wildcard grant). */
  async hiddenChannels(userId: string, serverId: string): Promise<Set<string>> {
    const member = await this.member(serverId, userId)
    const hidden = new Set<string>()
    if (member === null) return hidden
    for (const [channelId, list] of await this.serverOverrides(serverId)) {
      if (!has(channelPermissions(member.role, userId, list), PERMISSIONS.READ)) hidden.add(channelId)
    }
    for (const c of await this.closedChannels(serverId)) hidden.add(c)
    return hidden
  }

  /**
   * Whether userId may post in a chat (and so type there): a member of a chat that has not
   * ended and, for a 1:1 chat, not blocked by the other member (the block is read fresh; the
   * typing throttle bounds how often).
   */
  private async mayPostInChat(chatId: string, userId: string): Promise<boolean> {
    if (!(await this.inChat(chatId, userId))) return false
    const chat = await this.directory.findChannel(chatId)
    if (chat === null || chat.serverId !== null || chat.closed) return false
    if (chat.kind !== 'dm') return true
    try {
      await this.directory.writable(userId, chatId)
      return true
    } catch (err) {
      if (err instanceof ChatError) return false
      throw err
    }
  }

  // ---- decisions

  async maySubscribe(session: Session, filter: string): Promise<boolean> {
    const t = parseFilter(filter)
    if (t === null) return false
    return this.mayRead(session, t)
  }

  private async mayRead(session: Session, t: ParsedFilter): Promise<boolean> {
    switch (t.kind) {
      case 'inbox':
        return t.userId === session.userId
      case 'presence':
        return this.directory.mayWatchPresence(session.userId, t.userId)
      case 'server-all':
        return (await this.member(t.serverId, session.userId)) !== null
      case 'server-channel':
      case 'typing':
        return has(await this.channelBits(session.userId, t.serverId, t.channelId), PERMISSIONS.READ)
      case 'chat':
      case 'chat-typing':
        return this.inChat(t.chatId, session.userId)
      case 'requests':
        return false
    }
  }

  /**
   * Decides a subscription and records the grant on the session (with the hidden channels
   * of a server wildcard). An access change during the decision makes it decide again.
   */
  async grant(session: Session, filter: string): Promise<boolean> {
    for (;;) {
      const epoch = session.epoch ?? 0
      const ok = await this.maySubscribe(session, filter)
      const t = parseFilter(filter)
      const hidden = ok && t?.kind === 'server-all' ? await this.hiddenChannels(session.userId, t.serverId) : undefined
      if ((session.epoch ?? 0) !== epoch) continue
      if (!ok) return false
      session.granted.add(filter)
      if (hidden !== undefined && t?.kind === 'server-all') (session.hidden ??= new Map()).set(t.serverId, hidden)
      return true
    }
  }

  /** Members with POST (not muted; in chats: not ended) publish typing events; a user publishes its own presence. */
  async mayPublish(session: Session, topic: string): Promise<boolean> {
    const t = parseTopic(topic)
    if (t === null) return false
    if (t.kind === 'typing') return has(await this.channelBits(session.userId, t.serverId, t.channelId), PERMISSIONS.POST)
    if (t.kind === 'chat-typing') return this.mayPostInChat(t.chatId, session.userId)
    if (t.kind === 'presence') return t.userId === session.userId
    return false
  }
}

/** Whether a topic is covered by a filter granted to the session (exact, or its server's wildcard unless hidden). */
export function grantCovers(session: Session, topic: string): boolean {
  if (session.granted.has(topic)) return true
  const t = parseTopic(topic)
  if (t === null || (t.kind !== 'server-channel' && t.kind !== 'typing')) return false
  return session.granted.has(topics.serverWildcard(t.serverId)) && session.hidden?.get(t.serverId)?.has(t.channelId) !== true
}
