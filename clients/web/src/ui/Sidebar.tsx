// The servers rail and the list beside it: every chat and channel with its unread badge
// (LIST_CHATS, more pages as the reader scrolls to the end), or one server's channels. A
// 1:1 chat shows its partner's presence.
import { useEffect, useRef } from 'preact/hooks'
import type { ChatListItemJson } from '../../../sdk/src/index.ts'
import { describe, type AppModel } from '../lib/model.ts'
import { useStore } from '../lib/store.ts'
import { channelPath, navigate } from '../lib/router.ts'
import { badge, formatTime, initials } from '../lib/format.ts'
import type { DialogKind } from './dialogs.tsx'
import { Icon } from './icons.tsx'
import { presenceWord, usePresence } from './Presence.tsx'

type Open = (d: DialogKind) => void

export function Rail({ model, serverId, open }: { model: AppModel; serverId: string | null; open: Open }) {
  const servers = useStore(model.state, (s) => s.servers)
  const chats = useStore(model.state, (s) => s.chats)
  const unreadIn = (id: string | null): number => chats.filter((c) => c.server_id === id).reduce((n, c) => n + c.unread, 0)
  return (
    <nav class="rail" aria-label="Servers">
      <ul>
        <li>
          <a href="/" class={`rail-item home ${serverId === null ? 'active' : ''}`} aria-current={serverId === null ? 'page' : undefined}
            onClick={(e) => { e.preventDefault(); navigate('/') }} title="Chats">
            <Icon name="chats" /><span class="sr-only">Chats{unreadIn(null) > 0 ? `, ${unreadIn(null)} unread` : ''}</span>
          </a>
        </li>
        {servers.map((s) => {
          const unread = unreadIn(s.server_id)
          return (
            <li key={s.server_id}>
              <a href={`/s/${s.server_id}`} class={`rail-item ${serverId === s.server_id ? 'active' : ''}`} aria-current={serverId === s.server_id ? 'page' : undefined}
                onClick={(e) => { e.preventDefault(); navigate(`/s/${s.server_id}`) }} title={s.name}>
                <span aria-hidden="true">{initials(s.name)}</span>
                <span class="sr-only">{s.name}{unread > 0 ? `, ${unread} unread` : ''}</span>
                {unread > 0 && <span class="dot" aria-hidden="true" />}
              </a>
            </li>
          )
        })}
        <li>
          <button type="button" class="rail-item add" title="New server" onClick={() => open({ kind: 'create-server' })}>
            <Icon name="plus" /><span class="sr-only">New server</span>
          </button>
        </li>
        <li>
          <button type="button" class="rail-item add" title="Join with an invite" onClick={() => open({ kind: 'join' })}>
            <Icon name="join" /><span class="sr-only">Join with an invite</span>
          </button>
        </li>
      </ul>
    </nav>
  )
}

export function Sidebar({ model, serverId, channelId, open, onSignOut }: { model: AppModel; serverId: string | null; channelId: string | null; open: Open; onSignOut: () => void }) {
  const servers = useStore(model.state, (s) => s.servers)
  const server = servers.find((s) => s.server_id === serverId)
  return (
    <aside class="sidebar" aria-label={server !== undefined ? `${server.name} channels` : 'Chats'}>
      {serverId === null ? <ChatList model={model} channelId={channelId} open={open} /> : <ServerChannels model={model} serverId={serverId} channelId={channelId} open={open} />}
      <Me model={model} open={open} onSignOut={onSignOut} />
    </aside>
  )
}

function ChatList({ model, channelId, open }: { model: AppModel; channelId: string | null; open: Open }) {
  const chats = useStore(model.state, (s) => s.chats)
  const loaded = useStore(model.state, (s) => s.chatsLoaded)
  const typing = useStore(model.state, (s) => s.typing)
  const hasMore = useStore(model.state, (s) => s.chatsHasMore)
  const loadingMore = useStore(model.state, (s) => s.chatsLoadingMore)
  // Names fill in as profiles arrive.
  useStore(model.state, (s) => s.users)
  return (
    <>
      <header class="sidebar-head">
        <h1>Chats</h1>
        <div class="head-actions">
          <button type="button" class="icon" title="Search messages" aria-label="Search messages" onClick={() => open({ kind: 'search' })}><Icon name="search" /></button>
          <button type="button" class="icon" title="Add a friend" aria-label="Add a friend" onClick={() => open({ kind: 'add-friend' })}><Icon name="userPlus" /></button>
          <button type="button" class="icon" title="New group" aria-label="New group" onClick={() => open({ kind: 'create-group' })}><Icon name="users" /></button>
        </div>
      </header>
      <nav class="list" aria-label="Chats and channels">
        {loaded && chats.length === 0 && <p class="empty">No chats yet. Add a friend, or create or join a server.</p>}
        <ul>
          {chats.map((c) => <ChatRow key={c.channel_id} model={model} chat={c} active={c.channel_id === channelId} typing={(typing[c.channel_id] ?? []).length > 0} />)}
        </ul>
        {hasMore && <MoreChats model={model} loading={loadingMore} />}
      </nav>
    </>
  )
}

/** The end of a list with more pages: loads the next one when scrolled into view, or when pressed. */
function MoreChats({ model, loading }: { model: AppModel; loading: boolean }) {
  const ref = useRef<HTMLButtonElement>(null)
  useEffect(() => {
    const el = ref.current
    if (el === null || typeof IntersectionObserver === 'undefined') return
    const seen = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void model.loadMoreChats()
    })
    seen.observe(el)
    return () => seen.disconnect()
  }, [])
  return (
    <button type="button" ref={ref} class="link more" disabled={loading} onClick={() => void model.loadMoreChats()}>
      {loading ? 'Loading more chats…' : 'Show more chats'}
    </button>
  )
}

function chatTitle(c: ChatListItemJson): string {
  return c.server_id === null ? c.name : `#${c.name}`
}

function ChatRow({ model, chat: c, active, typing }: { model: AppModel; chat: ChatListItemJson; active: boolean; typing: boolean }) {
  const preview = typing ? 'typing…'
    : c.last_message === null ? (c.server_name ?? (c.kind === 'group' ? 'Group' : ''))
    : c.last_message.deleted === true ? 'Message deleted'
    : `${c.last_message.user_id === model.me.user_id ? 'You' : model.state.get().users[c.last_message.user_id]?.display_name ?? c.last_message.sender_name}: ${c.last_message.preview ?? (c.last_message.kind === 'file' ? 'a file' : '')}`
  const path = channelPath(c.channel_id, c.server_id)
  const presence = usePresence(model, c.kind === 'dm' ? c.peer_id : undefined)
  const word = presenceWord(presence)
  const label = `${chatTitle(c)}${word !== null ? `, ${word}` : ''}${c.server_name !== null ? ` in ${c.server_name}` : ''}${c.unread > 0 ? `, ${badge(c.unread, c.unread_capped)} unread` : ''}`
  return (
    <li>
      <a href={path} class={`row ${active ? 'active' : ''} ${c.unread > 0 ? 'unread' : ''}`} aria-current={active ? 'page' : undefined} aria-label={label} data-channel={c.channel_id}
        onClick={(e) => { e.preventDefault(); navigate(path) }}>
        <span class={`avatar kind-${c.kind}`} aria-hidden="true">
          {c.kind === 'text' || c.kind === 'voice' ? '#' : initials(c.name)}
          {presence !== undefined && word !== null && <span class={`presence ${presence.status}`} data-presence={presence.status} title={word} />}
        </span>
        <span class="row-text">
          <span class="row-title">{chatTitle(c)}{c.server_name !== null && <span class="row-sub"> · {c.server_name}</span>}</span>
          <span class={`row-preview ${typing ? 'typing' : ''}`}>{preview}</span>
        </span>
        <span class="row-meta" aria-hidden="true">
          {c.last_activity_at !== null && <time>{formatTime(c.last_activity_at)}</time>}
          {c.unread > 0 && <span class={`badge ${c.mentions > 0 ? 'mention' : ''}`} data-testid="unread">{badge(c.unread, c.unread_capped)}</span>}
        </span>
      </a>
    </li>
  )
}

function ServerChannels({ model, serverId, channelId, open }: { model: AppModel; serverId: string; channelId: string | null; open: Open }) {
  const server = useStore(model.state, (s) => s.servers.find((x) => x.server_id === serverId))
  const channels = useStore(model.state, (s) => s.channels[serverId])
  const chats = useStore(model.state, (s) => s.chats)
  useEffect(() => {
    // Known channels show at once and are checked again a moment later (after what the
    // user opened has loaded); unknown ones load now.
    const load = (): void => void model.loadChannels(serverId).catch((err: unknown) => model.notify(`Could not load the channels: ${describe(err)}`, 'error'))
    if (model.state.get().channels[serverId] === undefined) {
      load()
      return
    }
    const later = setTimeout(load, 1000)
    return () => clearTimeout(later)
  }, [serverId])
  const manager = server !== undefined && server.role !== 'member'
  return (
    <>
      <header class="sidebar-head">
        <h1>{server?.name ?? 'Server'}</h1>
        <div class="head-actions">
          <button type="button" class="icon" title="Invite people" aria-label="Invite people" onClick={() => open({ kind: 'invite', serverId })}><Icon name="userPlus" /></button>
          <button type="button" class="icon" title={manager ? 'Manage server' : 'Server members'} aria-label={manager ? 'Manage server' : 'Server members'} onClick={() => open({ kind: 'server-settings', serverId })}><Icon name="settings" /></button>
        </div>
      </header>
      <nav class="list" aria-label="Channels">
        {channels === undefined ? <p class="empty">Loading channels…</p> : (
          <ul>
            {channels.map((ch) => {
              const item = chats.find((c) => c.channel_id === ch.channel_id)
              const unread = item?.unread ?? 0
              const path = channelPath(ch.channel_id, serverId)
              const active = ch.channel_id === channelId
              return (
                <li key={ch.channel_id}>
                  <a href={path} class={`row channel ${active ? 'active' : ''} ${unread > 0 ? 'unread' : ''}`} aria-current={active ? 'page' : undefined} data-channel={ch.channel_id}
                    aria-label={`#${ch.name}${unread > 0 ? `, ${unread} unread` : ''}`} onClick={(e) => { e.preventDefault(); navigate(path) }}>
                    <span class="hash" aria-hidden="true">#</span>
                    <span class="row-title">{ch.name}{ch.private && <span class="row-sub"> (private)</span>}</span>
                    {unread > 0 && <span class="badge" aria-hidden="true">{badge(unread, item?.unread_capped ?? false)}</span>}
                  </a>
                </li>
              )
            })}
          </ul>
        )}
        {manager && <button type="button" class="link add-channel" onClick={() => open({ kind: 'create-channel', serverId })}>+ Add a channel</button>}
      </nav>
    </>
  )
}

function Me({ model, open, onSignOut }: { model: AppModel; open: Open; onSignOut: () => void }) {
  const status = useStore(model.state, (s) => s.status)
  const me = useStore(model.state, (s) => s.users[model.me.user_id])
  // What this user's devices show others (away, appear offline), while connected.
  const shown = useStore(model.state, (s) => s.presence[model.me.user_id]?.status ?? 'online')
  useEffect(() => void model.loadUser(model.me.user_id), [])
  const dot = status !== 'online' ? 'offline' : shown
  return (
    <footer class="me">
      <span class="avatar" aria-hidden="true">{initials(me?.display_name ?? model.me.username)}<span class={`presence ${dot}`} /></span>
      <span class="me-name">
        <span class="row-title">{me?.display_name ?? model.me.username}</span>
        <span class="row-preview">{status === 'online' ? (shown === 'away' ? 'Away' : shown === 'offline' ? 'Online, shown as offline' : 'Online') : status === 'connecting' ? 'Connecting…' : 'Offline'}</span>
      </span>
      <button type="button" class="icon" title="Profile" aria-label="Profile" onClick={() => open({ kind: 'profile' })}><Icon name="edit" /></button>
      <button type="button" class="icon" title="Notifications" aria-label="Notification settings" onClick={() => open({ kind: 'notifications', channelId: null })}><Icon name="bell" /></button>
      <button type="button" class="icon" title="Sign out" aria-label="Sign out" onClick={onSignOut}><Icon name="signOut" /></button>
    </footer>
  )
}
