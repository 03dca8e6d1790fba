// The signed-in app: one ChimeClient (realtime) and its ChimeHttp (reads and changes), the
// chat list with unread counts, the user's servers and their channels, who is typing, and a
// cache of user profiles. The chat list starts from LIST_CHATS and is kept current by the
// deltas of every listed channel (the app watches them all) and the MARKER events on the
// inbox; after a reconnect LIST_CHATS is asked again, since its counts are the truth.
import type {
  ChatListItemJson, ChimeClient, ConnectionStatus, DeltaJson, DownloadFileResponseData, Envelope, ListChatsResponseData,
  MarkerEventData, OutboxItem, WatchedChannel,
} from '../../../sdk/src/index.ts'
import { ChatError, ChimeHttp, loadRealtime, type Session } from './sdk.ts'
import { Store } from './store.ts'
import { freshSession } from './session.ts'

export interface ServerJson {
  server_id: string
  name: string
  description: string | null
  is_public: boolean
  icon_file_id: string | null
  member_count: number
  owner_id: string
  role: 'owner' | 'admin' | 'moderator' | 'member'
}

export interface ChannelJson {
  channel_id: string
  name: string
  type: 'text' | 'voice'
  position: number
  private: boolean
  permissions: number
}

export interface Profile {
  user_id: string
  username: string | null
  display_name: string
  status_text: string | null
  timezone?: string | null
  icon_file_id?: string | null
  deleted?: true
}

export interface Notice {
  id: number
  text: string
  kind: 'info' | 'error'
}

export interface AppState {
  status: ConnectionStatus
  chats: ChatListItemJson[]
  chatsLoaded: boolean
  servers: ServerJson[]
  channels: Record<string, ChannelJson[]>
  /** Per channel, the users typing there now (not this user). */
  typing: Record<string, string[]>
  users: Record<string, Profile>
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
    status: 'offline', chats: [], chatsLoaded: false, servers: [], channels: {}, typing: {}, users: {}, outbox: [], notice: null,
  })
  /** The channel the chat view shows (its messages are read as they come while the page is visible). */
  openChannel: string | null = null
  private readonly watching = new Set<string>()
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly userRequests = new Map<string, Promise<Profile | null>>()
  private wasOffline = false
  private stopped = false
  private noticeSeq = 0
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private tokenTimer: ReturnType<typeof setInterval> | undefined

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
    model.state.set({ chats: sortChats(page.chats), chatsLoaded: true, servers: servers.servers })
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
  }

  get http(): ChimeHttp {
    return this.client.http
  }

  private async connect(list: ChatListItemJson[]): Promise<void> {
    // Followed before connecting, so the first connection subscribes to all at once.
    await Promise.all(list.map((c) => this.follow({ channel_id: c.channel_id, server_id: c.server_id }, c.last_seq)))
    if (this.stopped) return
    // Access tokens are short-lived: the HTTP calls take a fresh one before it expires.
    this.tokenTimer = setInterval(() => void freshSession().then((s) => {
      if (s !== null && s.user_id === this.me.user_id) this.http.token = s.token
    }), TOKEN_CHECK_MS)
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

  notify(text: string, kind: Notice['kind'] = 'info'): void {
    this.state.set({ notice: { id: ++this.noticeSeq, text, kind } })
  }

  // ---- the chat list and servers

  private async loadChats(): Promise<ChatListItemJson[]> {
    const page = await this.http.request<ListChatsResponseData>('LIST_CHATS', { page: 0, page_size: LIST_PAGE })
    const local = new Map(this.state.get().chats.map((c) => [c.channel_id, c]))
    // An item this app moved past the snapshot (a delta that came meanwhile) stays as it is.
    const chats = page.chats.map((c) => {
      const mine = local.get(c.channel_id)
      return mine !== undefined && Number(mine.last_seq) > Number(c.last_seq) ? mine : c
    })
    this.state.set({ chats: sortChats(chats), chatsLoaded: true })
    return chats
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
    const { channels } = await this.http.get<{ channels: ChannelJson[] }>(`/api/servers/${serverId}/channels`)
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
  user(userId: string): Profile | undefined {
    const known = this.state.get().users[userId]
    if (known === undefined) void this.loadUser(userId)
    return known
  }

  nameOf(userId: string): string {
    if (userId === this.me.user_id) return this.state.get().users[userId]?.display_name ?? this.me.username
    return this.user(userId)?.display_name ?? '…'
  }

  loadUser(userId: string): Promise<Profile | null> {
    let p = this.userRequests.get(userId)
    if (p === undefined) {
      p = this.http.get<Profile>(`/api/users/${userId}`).then(
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

  rememberUser(u: Profile): void {
    this.state.set({ users: { ...this.state.get().users, [u.user_id]: u } })
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
