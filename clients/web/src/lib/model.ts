// The signed-in app: one ChimeClient (realtime) and its ChimeHttp (reads and changes), the
// chat list with unread counts, the user's servers and their channels, who is typing, and a
// cache of user profiles. The chat list starts from LIST_CHATS and is kept current by the
// deltas of every listed channel (the app watches them all) and the MARKER events on the
// inbox; after a reconnect LIST_CHATS is asked again, since its counts are the truth. The
// list comes in pages of 100: more are asked for as the reader scrolls to its end, and a
// refresh asks again for as many pages as are shown. Other users' presence is watched as
// the screens show them (a chat partner, an author, a member).
import type {
  ChannelJson, ChatListItemJson, ChimeClient, ConnectionStatus, DeltaJson, DownloadFileResponseData, Envelope, ListChatsResponseData,
  MarkerEventData, OutboxItem, PresenceEvent, PresenceStatus, ServerChannelsJson, ServerJson, UserProfileJson, WatchedChannel,
} from '../../../sdk/src/index.ts'
import { ChatError, ChimeHttp, loadRealtime, type Session } from './sdk.ts'
import { Store } from './store.ts'
import { freshSession, keepPresence, keptPresence } from './session.ts'

export interface Notice {
  id: number
  text: string
  kind: 'info' | 'error'
}

export interface AppState {
  status: ConnectionStatus
  chats: ChatListItemJson[]
  chatsLoaded: boolean
  /** LIST_CHATS has pages beyond those shown. */
  chatsHasMore: boolean
  chatsLoadingMore: boolean
  servers: ServerJson[]
  channels: Record<string, ChannelJson[]>
  /** Per channel, the users typing there now (not this user). */
  typing: Record<string, string[]>
  users: Record<string, UserProfileJson>
  /** The latest known presence of users the screens showed (absent: unknown). */
  presence: Record<string, PresenceEvent>
  outbox: OutboxItem[]
  notice: Notice | null
}

/** How long a "typing" shows without a newer event (the broker's expires_in_ms). */
const TYPING_SHOWN_MS = 6000
const LIST_PAGE = 100
const TOKEN_CHECK_MS = 10 * 60_000

/** A message text for people: the error's code-specific message when there is one. */
export function describe(err: unknown): string {
  if (err instanceof ChatError) return err.message !== '' ? err.message : err.code
  return err instanceof Error ? err.message : String(err)
}

export class AppModel {
  readonly client: ChimeClient
  readonly me: Session
  readonly state = new Store<AppState>({
    status: 'offline', chats: [], chatsLoaded: false, chatsHasMore: false, chatsLoadingMore: false, servers: [], channels: {}, typing: {}, users: {}, presence: {}, outbox: [], notice: null,
  })
  /** The channel the chat view shows (its messages are read as they come while the page is visible). */
  openChannel: string | null = null
  private readonly watching = new Set<string>()
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly userRequests = new Map<string, Promise<UserProfileJson | null>>()
  /** Pages of LIST_CHATS shown (the first N). */
  private chatPages = 1
  private readonly presenceWanted = new Set<string>()
  private presenceQueue: string[] = []
  private presenceChanges: Record<string, PresenceEvent> | null = null
  private wasOffline = false
  private stopped = false
  private noticeSeq = 0
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private tokenTimer: ReturnType<typeof setInterval> | undefined
  private focusWanted: { channelId: string; messageId: string } | null = null

  /**
   * Opens the app for a signed-in user: the chat list and the servers are fetched while the
   * realtime client loads; the app shows once both are there, and follows every listed
   * channel and connects in the background.
   */
  static async open(session: Session, clientId: string, onSignedOut: () => void): Promise<AppModel> {
    const http = new ChimeHttp({ baseUrl: location.origin, token: session.token })
    const [sdk, page, servers] = await Promise.all([
      loadRealtime(),
      http.request<ListChatsResponseData>('LIST_CHATS', { page: 0, page_size: LIST_PAGE }),
      http.get<{ servers: ServerJson[] }>('/api/servers'),
    ])
    const client = new sdk.ChimeClient({ baseUrl: location.origin, session, clientId, storage: new sdk.IndexedDbStorage(`chime-${session.user_id}`) })
    const model = new AppModel(session, client, onSignedOut)
    model.state.set({ chats: sortChats(page.chats), chatsLoaded: true, chatsHasMore: page.has_more, servers: servers.servers })
    const presence = keptPresence(session.user_id)
    if (presence !== null) void client.setPresence(presence.status, presence.text)
    void model.connect(page.chats)
    return model
  }

  private constructor(session: Session, client: ChimeClient, private readonly onSignedOut: () => void) {
    this.me = session
    this.client = client
    this.client.on('status', (status) => this.onStatus(status))
    this.client.on('delta', (d) => this.onDelta(d))
    this.client.on('inbox', (env) => this.onInbox(env))
    this.client.on('typing', (t) => this.onTyping(t.channel_id, t.user_id, t.state))
    this.client.on('outbox', (items) => this.state.set({ outbox: items }))
    this.client.on('restore-required', ({ channel_id }) => void this.restore(channel_id))
    this.client.on('send-failed', ({ error }) => this.notify(`A message was not sent: ${describe(error)}`, 'error'))
    this.client.on('presence', (p) => this.onPresence(p))
    // The token expired while connected: the next connection needs a renewed one.
    this.client.on('error', (err) => {
      if (err.code === 'UNAUTHENTICATED') void this.renewToken()
    })
  }

  get http(): ChimeHttp {
    return this.client.http
  }

  private async connect(list: ChatListItemJson[]): Promise<void> {
    // Followed before connecting, so the first connection subscribes to all at once.
    await Promise.all(list.map((c) => this.follow({ channel_id: c.channel_id, server_id: c.server_id }, c.last_seq)))
    if (this.stopped) return
    // Access tokens are short-lived: HTTP calls and the next MQTT connection take a fresh one
    // before it expires.
    this.tokenTimer = setInterval(() => void this.renewToken(), TOKEN_CHECK_MS)
    this.client.connect().catch((err: unknown) => {
      if (err instanceof ChatError && (err.code === 'UNAUTHENTICATED' || err.code === 'INVALID_CREDENTIALS')) this.onSignedOut()
      else this.notify(`Could not connect: ${describe(err)}`, 'error')
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.tokenTimer)
    for (const t of this.typingTimers.values()) clearTimeout(t)
    if (this.refreshTimer !== undefined) clearTimeout(this.refreshTimer)
    await this.client.close()
  }

  /**
   * Takes a renewed access token when the kept one is close to expiring (or another tab
   * renewed it) and hands it to the client: HTTP calls and the next MQTT connection use it.
   * A sign-in that cannot be renewed any more signs out.
   */
  async renewToken(): Promise<void> {
    if (this.stopped) return
    const s = await freshSession().catch(() => undefined)
    if (s === undefined || this.stopped) return
    if (s === null || s.user_id !== this.me.user_id) {
      this.onSignedOut()
      return
    }
    if (s.token !== this.client.session.token) this.client.setToken(s.token)
  }

  notify(text: string, kind: Notice['kind'] = 'info'): void {
    this.state.set({ notice: { id: ++this.noticeSeq, text, kind } })
  }

  /**
   * Asks for a channel to be shown at a message (a search hit, a quoted original): the chat
   * view showing that channel takes it at once, otherwise the one opened next (navigate there).
   */
  focusMessage(channelId: string, messageId: string): void {
    this.focusWanted = { channelId, messageId }
    window.dispatchEvent(new CustomEvent('chime:focus', { detail: channelId }))
  }

  /** The message a chat view of this channel should open at, once (null: the newest). */
  takeFocus(channelId: string): string | null {
    const f = this.focusWanted
    if (f === null || f.channelId !== channelId) return null
    this.focusWanted = null
    return f.messageId
  }

  // ---- the chat list and servers

  /** The pages shown, asked for again. */
  private async loadChats(): Promise<ChatListItemJson[]> {
    const pages = await Promise.all(Array.from({ length: this.chatPages }, (_, page) =>
      this.http.request<ListChatsResponseData>('LIST_CHATS', { page, page_size: LIST_PAGE })))
    const chats = this.merge(pages.flatMap((p) => p.chats), false)
    this.state.set({ chats, chatsLoaded: true, chatsHasMore: pages.at(-1)?.has_more ?? false })
    return chats
  }

  /**
   * Items of LIST_CHATS pages with what the app shows: an item this app moved past the
   * snapshot (a delta that came meanwhile) stays as it is; each channel once (an item can
   * move from one page to another between two reads).
   */
  private merge(items: ChatListItemJson[], keepShown: boolean): ChatListItemJson[] {
    const local = new Map(this.state.get().chats.map((c) => [c.channel_id, c]))
    const out = new Map<string, ChatListItemJson>(keepShown ? local : [])
    for (const c of items) {
      if (out.has(c.channel_id) && !keepShown) continue
      const mine = local.get(c.channel_id)
      out.set(c.channel_id, mine !== undefined && Number(mine.last_seq) > Number(c.last_seq) ? mine : c)
    }
    return sortChats([...out.values()])
  }

  /** The next page of the chat list (the reader scrolled to its end); its channels are followed too. */
  async loadMoreChats(): Promise<void> {
    const state = this.state.get()
    if (!state.chatsHasMore || state.chatsLoadingMore) return
    this.state.set({ chatsLoadingMore: true })
    try {
      const page = await this.http.request<ListChatsResponseData>('LIST_CHATS', { page: this.chatPages, page_size: LIST_PAGE })
      this.chatPages++
      this.state.set({ chats: this.merge(page.chats, true), chatsHasMore: page.has_more })
      await Promise.all(page.chats.map((c) => this.follow({ channel_id: c.channel_id, server_id: c.server_id }, c.last_seq)))
    } catch (err) {
      this.notify(`Could not load more chats: ${describe(err)}`, 'error')
    } finally {
      this.state.set({ chatsLoadingMore: false })
    }
  }

  /** LIST_CHATS again, and follow channels that are new in it. */
  async refreshChats(): Promise<void> {
    const list = await this.loadChats()
    await Promise.all(list.filter((c) => !this.watching.has(c.channel_id)).map((c) => this.follow({ channel_id: c.channel_id, server_id: c.server_id }, c.last_seq)))
  }

  async refreshServers(): Promise<void> {
    const { servers } = await this.http.get<{ servers: ServerJson[] }>('/api/servers')
    this.state.set({ servers })
  }

  async loadChannels(serverId: string): Promise<ChannelJson[]> {
    const { channels } = await this.http.get<ServerChannelsJson>(`/api/servers/${serverId}/channels`)
    this.state.set({ channels: { ...this.state.get().channels, [serverId]: channels } })
    return channels
  }

  /** Lists and servers again, soon (several membership events in a row make one refresh). */
  refreshSoon(): void {
    if (this.refreshTimer !== undefined) return
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined
      void Promise.all([this.refreshChats(), this.refreshServers()]).catch(() => undefined)
      for (const serverId of Object.keys(this.state.get().channels)) void this.loadChannels(serverId).catch(() => undefined)
    }, 150)
  }

  chat(channelId: string): ChatListItemJson | undefined {
    return this.state.get().chats.find((c) => c.channel_id === channelId)
  }

  /**
   * Follows a channel's deltas from `fromSeq` (what a LIST_CHATS or LIST_MESSAGES answer
   * already covers): the client SYNCs from there and delivers what follows, in order.
   */
  async follow(channel: WatchedChannel, fromSeq: string): Promise<void> {
    if (this.watching.has(channel.channel_id)) return
    this.watching.add(channel.channel_id)
    await this.client.resetWatermark(channel.channel_id, fromSeq)
    await this.client.watch(channel, { typing: true })
  }

  isFollowing(channelId: string): boolean {
    return this.watching.has(channelId)
  }

  private updateChat(channelId: string, change: (c: ChatListItemJson) => ChatListItemJson): void {
    const chats = this.state.get().chats
    const i = chats.findIndex((c) => c.channel_id === channelId)
    if (i < 0) return
    const next = [...chats]
    next[i] = change(chats[i]!)
    this.state.set({ chats: sortChats(next) })
  }

  /** The user read a channel up to seq: the server's marker moves and every device shows it. */
  async markRead(channelId: string, seq: number): Promise<void> {
    const item = this.chat(channelId)
    if (item !== undefined && Number(item.read_seq) >= seq && item.unread === 0) return
    this.updateChat(channelId, (c) => ({ ...c, unread: 0, mentions: 0, unread_capped: false, mentions_capped: false, read_seq: String(Math.max(seq, Number(c.read_seq))) }))
    try {
      const r = await this.http.request<MarkerEventData>('MARK_READ', { channel_id: channelId, seq: String(seq) })
      this.applyMarker(r)
    } catch {
      // The next LIST_CHATS has the marker.
    }
  }

  private applyMarker(m: MarkerEventData): void {
    this.updateChat(m.channel_id, (c) => (Number(m.read_seq) < Number(c.read_seq) ? c : {
      ...c, read_seq: m.read_seq, received_seq: m.received_seq, unread: m.unread, mentions: m.mentions, unread_capped: m.unread_capped, mentions_capped: m.mentions_capped,
    }))
  }

  // ---- users

  /** The profile if known; asks for it otherwise (the state updates when it comes). */
  user(userId: string): UserProfileJson | undefined {
    const known = this.state.get().users[userId]
    if (known === undefined) void this.loadUser(userId)
    return known
  }

  nameOf(userId: string): string {
    if (userId === this.me.user_id) return this.state.get().users[userId]?.display_name ?? this.me.username
    return this.user(userId)?.display_name ?? '…'
  }

  loadUser(userId: string): Promise<UserProfileJson | null> {
    let p = this.userRequests.get(userId)
    if (p === undefined) {
      p = this.http.get<UserProfileJson>(`/api/users/${userId}`).then(
        (u) => {
          this.rememberUser(u)
          return u
        },
        () => {
          this.userRequests.delete(userId)
          return null
        },
      )
      this.userRequests.set(userId, p)
    }
    return p
  }

  rememberUser(u: UserProfileJson): void {
    this.state.set({ users: { ...this.state.get().users, [u.user_id]: u } })
  }

  // ---- presence

  /**
   * Follows a user's presence from now on (the screens call it for whom they show); the
   * watches asked for in one go are one subscription. A user the broker does not let this
   * one watch (no server or chat in common) stays unknown.
   */
  watchPresence(userId: string): void {
    if (userId === this.me.user_id || this.presenceWanted.has(userId)) return
    this.presenceWanted.add(userId)
    this.presenceQueue.push(userId)
    if (this.presenceQueue.length > 1) return
    queueMicrotask(() => {
      const ids = this.presenceQueue
      this.presenceQueue = []
      void this.client.watchPresence(ids).catch(() => undefined)
    })
  }

  /** This user's presence as shown to others (kept for the next visits of this browser). */
  async setPresence(status: PresenceStatus): Promise<void> {
    keepPresence(this.me.user_id, status === 'online' ? null : { status })
    await this.client.setPresence(status)
  }

  private onPresence(p: PresenceEvent): void {
    // The retained presence of many users comes at once after a connect: one state change.
    if (this.presenceChanges === null) {
      this.presenceChanges = {}
      queueMicrotask(() => {
        const changes = this.presenceChanges ?? {}
        this.presenceChanges = null
        this.state.set({ presence: { ...this.state.get().presence, ...changes } })
      })
    }
    this.presenceChanges[p.user_id] = p
  }

  // ---- files

  private readonly links = new Map<string, Promise<{ url: string; expires: number }>>()

  /** A download link for a file or its thumbnail, reused until shortly before it expires. */
  async fileLink(fileId: string, thumbnail = false): Promise<string> {
    const key = `${fileId}/${thumbnail}`
    const kept = this.links.get(key)
    if (kept !== undefined) {
      const link = await kept.catch(() => null)
      if (link !== null && link.expires - Date.now() > 30_000) return link.url
    }
    const next = this.http.request<DownloadFileResponseData>('DOWNLOAD_FILE', { file_id: fileId, ...(thumbnail ? { thumbnail: true } : {}) })
      .then((r) => ({ url: this.http.resolve(r.download_url), expires: Date.parse(r.expires_at) }))
    this.links.set(key, next)
    next.catch(() => this.links.delete(key))
    return (await next).url
  }

  // ---- events

  private onStatus(status: ConnectionStatus): void {
    // The outbox kept from an earlier visit is loaded by the first connect.
    this.state.set({ status, ...(status === 'online' ? { outbox: this.client.pendingPosts() } : {}) })
    if (status === 'offline' || status === 'connecting') this.wasOffline ||= status === 'offline'
    // A connection refused for an expired token is tried again with a renewed one.
    if (status === 'offline') void this.renewToken()
    if (status === 'online' && this.wasOffline) {
      this.wasOffline = false
      void this.refreshChats().catch(() => undefined)
    }
  }

  private onDelta(d: DeltaJson): void {
    const item = this.chat(d.channel_id)
    if (item === undefined) return
    const seq = Number(d.seq)
    if (d.type === 'message') {
      if (seq <= Number(item.last_seq)) return
      const fromOther = d.user_id !== this.me.user_id
      const reading = this.openChannel === d.channel_id && document.visibilityState === 'visible'
      const counts = fromOther && !reading
      const mentionsMe = counts && (d.meta?.mentions ?? []).includes(this.me.user_id)
      if (this.state.get().users[d.user_id] === undefined) void this.loadUser(d.user_id)
      this.updateChat(d.channel_id, (c) => ({
        ...c,
        last_seq: d.seq,
        last_activity_at: d.timestamp,
        last_message: { message_id: d.delta_id, user_id: d.user_id, sender_name: this.nameOf(d.user_id), preview: d.content === null ? null : [...d.content].slice(0, 100).join(''), kind: d.meta?.kind ?? 'text', timestamp: d.timestamp },
        unread: counts ? c.unread + 1 : c.unread,
        mentions: mentionsMe ? c.mentions + 1 : c.mentions,
      }))
      return
    }
    if (seq > Number(item.last_seq)) this.updateChat(d.channel_id, (c) => ({ ...c, last_seq: d.seq }))
    if ((d.type === 'edit' || d.type === 'delete' || d.type === 'expired') && item.last_message?.message_id === d.target_id) {
      this.updateChat(d.channel_id, (c) => ({
        ...c,
        last_message: c.last_message === null ? null : d.type === 'edit'
          ? { ...c.last_message, preview: d.content === null ? null : [...d.content].slice(0, 100).join('') }
          : { ...c.last_message, preview: null, deleted: true },
      }))
    }
    if (d.type === 'chat_updated' || d.type === 'chat_ended' || d.type.startsWith('chat_member')) this.refreshSoon()
  }

  private onInbox(env: Envelope<string, Record<string, unknown>>): void {
    if (env.action === 'MARKER') this.applyMarker(env.data as unknown as MarkerEventData)
    else if (env.action === 'MEMBERSHIP') this.refreshSoon()
  }

  private onTyping(channelId: string, userId: string, state: 'typing' | 'stopped'): void {
    if (userId === this.me.user_id) return
    const key = `${channelId}/${userId}`
    const timer = this.typingTimers.get(key)
    if (timer !== undefined) clearTimeout(timer)
    this.typingTimers.delete(key)
    const typing = { ...this.state.get().typing }
    const now = (typing[channelId] ?? []).filter((u) => u !== userId)
    if (state === 'typing') {
      now.push(userId)
      this.typingTimers.set(key, setTimeout(() => this.onTyping(channelId, userId, 'stopped'), TYPING_SHOWN_MS))
    }
    typing[channelId] = now
    this.state.set({ typing })
  }

  /** The client was told a channel is too far behind to SYNC: take the current state instead. */
  private async restore(channelId: string): Promise<void> {
    await this.refreshChats().catch(() => undefined)
    const item = this.chat(channelId)
    if (item !== undefined) await this.client.resetWatermark(channelId, item.last_seq)
    window.dispatchEvent(new CustomEvent('chime:restored', { detail: channelId }))
  }
}

/** Most recent activity first, as LIST_CHATS orders them. */
function sortChats(chats: ChatListItemJson[]): ChatListItemJson[] {
  return [...chats].sort((a, b) => (b.last_activity_at ?? '').localeCompare(a.last_activity_at ?? '') || (a.channel_id < b.channel_id ? -1 : 1))
}
