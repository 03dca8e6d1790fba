// The app's dialogs (native <dialog>: focus stays inside, Escape closes): new server, new
// channel, join with an invite, invite people, add a friend, new group, server and group
// management, profile, notification settings and search.
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type {
  ChatJson, NotificationSettingJson, PresenceStatus, SearchResponseData, SearchResultJson, ServerMembersJson, ServerMemberJson, UserProfileJson,
} from '../../../sdk/src/index.ts'
import { describe, type AppModel } from '../lib/model.ts'
import { keptPresence } from '../lib/session.ts'
import { useStore } from '../lib/store.ts'
import { channelPath, navigate } from '../lib/router.ts'
import { formatTime } from '../lib/format.ts'
import { RichText } from './Message.tsx'
import { Icon } from './icons.tsx'
import { PresenceDot } from './Presence.tsx'

type Profile = UserProfileJson

export type DialogKind =
  | { kind: 'create-server' }
  | { kind: 'create-channel'; serverId: string }
  | { kind: 'join' }
  | { kind: 'invite'; serverId: string }
  | { kind: 'add-friend' }
  | { kind: 'create-group' }
  | { kind: 'server-settings'; serverId: string }
  | { kind: 'group'; chatId: string }
  | { kind: 'profile' }
  | { kind: 'notifications'; channelId: string | null }
  | { kind: 'search'; channelId?: string }

interface Props {
  model: AppModel
  close: () => void
}

export function Dialogs({ model, dialog, close }: Props & { dialog: DialogKind | null; open: (d: DialogKind) => void }) {
  if (dialog === null) return null
  switch (dialog.kind) {
    case 'create-server': return <CreateServer model={model} close={close} />
    case 'create-channel': return <CreateChannel model={model} close={close} serverId={dialog.serverId} />
    case 'join': return <JoinInvite close={close} />
    case 'invite': return <Invite model={model} close={close} serverId={dialog.serverId} />
    case 'add-friend': return <AddFriend model={model} close={close} />
    case 'create-group': return <CreateGroup model={model} close={close} />
    case 'server-settings': return <ServerSettings model={model} close={close} serverId={dialog.serverId} />
    case 'group': return <GroupSettings model={model} close={close} chatId={dialog.chatId} />
    case 'profile': return <ProfileDialog model={model} close={close} />
    case 'notifications': return <Notifications model={model} close={close} channelId={dialog.channelId} />
    case 'search': return <Search model={model} close={close} {...(dialog.channelId !== undefined ? { channelId: dialog.channelId } : {})} />
  }
}

function Dialog({ title, close, children, wide }: { title: string; close: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const el = ref.current
    if (el === null) return
    const opener = document.activeElement as HTMLElement | null
    el.showModal()
    return () => opener?.focus()
  }, [])
  return (
    <dialog ref={ref} class={`dialog ${wide === true ? 'wide' : ''}`} aria-labelledby="dialog-title" onClose={close} onCancel={(e) => { e.preventDefault(); close() }}>
      <header class="dialog-head">
        <h2 id="dialog-title">{title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={close}><Icon name="close" /></button>
      </header>
      <div class="dialog-body">{children}</div>
    </dialog>
  )
}

/** Runs an action with a busy flag and an error line. */
function useAction(): { busy: boolean; error: string | null; run: (fn: () => Promise<void>) => Promise<void>; setError: (e: string | null) => void } {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const run = async (fn: () => Promise<void>): Promise<void> => {
    setBusy(true)
    setError(null)
    try {
      await fn()
    } catch (err) {
      setError(describe(err))
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, run, setError }
}

function ErrorLine({ error }: { error: string | null }) {
  return error === null ? null : <p class="error" role="alert">{error}</p>
}

function CreateServer({ model, close }: Props) {
  const [name, setName] = useState('')
  const [isPublic, setPublic] = useState(false)
  const { busy, error, run } = useAction()
  const submit = (e: Event): void => {
    e.preventDefault()
    void run(async () => {
      const r = await model.http.post<{ server_id: string; channel_id: string }>('/api/servers', { name: name.trim(), is_public: isPublic })
      await Promise.all([model.refreshServers(), model.refreshChats(), model.loadChannels(r.server_id)])
      close()
      navigate(channelPath(r.channel_id, r.server_id))
    })
  }
  return (
    <Dialog title="New server" close={close}>
      <form onSubmit={submit}>
        <label for="server-name">Server name</label>
        <input id="server-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} autoFocus />
        <label class="check"><input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.currentTarget.checked)} /> Anyone can find and join it</label>
        <ErrorLine error={error} />
        <button type="submit" class="primary" disabled={busy}>Create server</button>
      </form>
    </Dialog>
  )
}

function CreateChannel({ model, close, serverId }: Props & { serverId: string }) {
  const [name, setName] = useState('')
  const [priv, setPriv] = useState(false)
  const { busy, error, run } = useAction()
  const submit = (e: Event): void => {
    e.preventDefault()
    void run(async () => {
      const r = await model.http.post<{ channel_id: string }>(`/api/servers/${serverId}/channels`, { name: name.trim(), private: priv })
      await Promise.all([model.loadChannels(serverId), model.refreshChats()])
      close()
      navigate(channelPath(r.channel_id, serverId))
    })
  }
  return (
    <Dialog title="New channel" close={close}>
      <form onSubmit={submit}>
        <label for="channel-name">Channel name</label>
        <input id="channel-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} autoFocus />
        <label class="check"><input type="checkbox" checked={priv} onChange={(e) => setPriv(e.currentTarget.checked)} /> Private (owners and admins only)</label>
        <ErrorLine error={error} />
        <button type="submit" class="primary" disabled={busy}>Create channel</button>
      </form>
    </Dialog>
  )
}

/** The code of an invitation link or a bare code. */
export function inviteCodeOf(text: string): string | null {
  const m = /(?:\/invite\/)?([A-Za-z0-9_-]{4,128})\/?\s*$/.exec(text.trim())
  return m === null ? null : m[1]!
}

function JoinInvite({ close }: { close: () => void }) {
  const [text, setText] = useState('')
  const [error, setError] = useState<string | null>(null)
  const submit = (e: Event): void => {
    e.preventDefault()
    const code = inviteCodeOf(text)
    if (code === null) {
      setError('Paste an invitation link or its code.')
      return
    }
    close()
    navigate(`/invite/${code}`)
  }
  return (
    <Dialog title="Join with an invite" close={close}>
      <form onSubmit={submit}>
        <label for="invite-link">Invitation link or code</label>
        <input id="invite-link" required value={text} onInput={(e) => setText(e.currentTarget.value)} autoFocus />
        <ErrorLine error={error} />
        <button type="submit" class="primary">Continue</button>
      </form>
    </Dialog>
  )
}

function Invite({ model, close, serverId, chatId }: Props & { serverId?: string; chatId?: string }) {
  const [link, setLink] = useState<string | null>(null)
  const [copied, setCopied] = useState(false)
  const { error, run } = useAction()
  useEffect(() => {
    void run(async () => {
      const path = serverId !== undefined ? `/api/servers/${serverId}/invites` : `/api/chats/${chatId}/invites`
      const r = await model.http.post<{ code: string }>(path, { expires_in_s: 7 * 86_400 })
      setLink(`${location.origin}/invite/${r.code}`)
    })
  }, [])
  const copy = async (): Promise<void> => {
    if (link === null) return
    await navigator.clipboard?.writeText(link).then(() => setCopied(true), () => undefined)
  }
  return (
    <Dialog title="Invite people" close={close}>
      <p>Share this link; it works for 7 days.</p>
      <ErrorLine error={error} />
      {link === null && error === null && <p role="status">Making a link…</p>}
      {link !== null && (
        <div class="copy-row">
          <label for="invite-url" class="sr-only">Invitation link</label>
          <input id="invite-url" readOnly value={link} onFocus={(e) => e.currentTarget.select()} data-testid="invite-link" />
          <button type="button" onClick={() => void copy()}>{copied ? 'Copied' : 'Copy'}</button>
        </div>
      )}
    </Dialog>
  )
}

/** Looks a user up by exact username. */
function useFindUser(model: AppModel): { found: Profile | null; find: (name: string) => Promise<Profile | null>; error: string | null; busy: boolean } {
  const [found, setFound] = useState<Profile | null>(null)
  const { busy, error, run, setError } = useAction()
  const find = async (name: string): Promise<Profile | null> => {
    let result: Profile | null = null
    await run(async () => {
      const u = await model.http.get<Profile>(`/api/users?username=${encodeURIComponent(name.trim())}`)
      if (u.user_id === model.me.user_id) throw new Error('That is you.')
      model.rememberUser(u)
      result = u
    })
    setFound(result)
    if (result === null && error === null) setError(null)
    return result
  }
  return { found, find, error, busy }
}

function AddFriend({ model, close }: Props) {
  const [name, setName] = useState('')
  const { found, find, error, busy } = useFindUser(model)
  const action = useAction()
  const open = (favorite: boolean): void => {
    if (found === null) return
    void action.run(async () => {
      const chatId = favorite
        ? (await model.http.call<{ chat_id: string | null }>('PUT', `/api/favorites/${found.user_id}`)).chat_id
        : (await model.http.post<{ chat_id: string }>('/api/chats', { user_ids: [found.user_id] })).chat_id
      await model.refreshChats()
      close()
      if (chatId !== null) navigate(channelPath(chatId, null))
    })
  }
  return (
    <Dialog title="Add a friend" close={close}>
      <form onSubmit={(e) => { e.preventDefault(); void find(name) }}>
        <label for="friend-name">Their username</label>
        <div class="copy-row">
          <input id="friend-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} autoFocus autocomplete="off" />
          <button type="submit" disabled={busy}>Find</button>
        </div>
      </form>
      <ErrorLine error={error ?? action.error} />
      {found !== null && (
        <div class="profile-card">
          <p><strong>{found.display_name}</strong> <span class="muted">@{found.username}</span></p>
          {found.status_text !== null && <p class="muted">{found.status_text}</p>}
          <div class="row-buttons">
            <button type="button" class="primary" disabled={action.busy} onClick={() => open(false)}>Send a message</button>
            <button type="button" disabled={action.busy} onClick={() => open(true)}>Add to favorites</button>
          </div>
        </div>
      )}
    </Dialog>
  )
}

function MemberPicker({ model, members, setMembers }: { model: AppModel; members: Profile[]; setMembers: (m: Profile[]) => void }) {
  const [name, setName] = useState('')
  const { find, error, busy } = useFindUser(model)
  const add = async (): Promise<void> => {
    const u = await find(name)
    if (u !== null && !members.some((m) => m.user_id === u.user_id)) setMembers([...members, u])
    if (u !== null) setName('')
  }
  return (
    <>
      <label for="member-name">Add people by username</label>
      <div class="copy-row">
        <input id="member-name" value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="off"
          onKeyDown={(e) => { if (e.key === 'Enter') { e.preventDefault(); void add() } }} />
        <button type="button" disabled={busy || name.trim() === ''} onClick={() => void add()}>Add</button>
      </div>
      <ErrorLine error={error} />
      <ul class="chips" aria-label="People to add">
        {members.map((m) => (
          <li key={m.user_id} class="chip">{m.display_name}
            <button type="button" class="icon" aria-label={`Remove ${m.display_name}`} onClick={() => setMembers(members.filter((x) => x !== m))}>×</button>
          </li>
        ))}
      </ul>
    </>
  )
}

function CreateGroup({ model, close }: Props) {
  const [name, setName] = useState('')
  const [members, setMembers] = useState<Profile[]>([])
  const { busy, error, run } = useAction()
  const submit = (e: Event): void => {
    e.preventDefault()
    void run(async () => {
      if (members.length === 0) throw new Error('Add at least one person.')
      const r = await model.http.post<{ chat_id: string }>('/api/chats', { user_ids: members.map((m) => m.user_id), name: name.trim() })
      await model.refreshChats()
      close()
      navigate(channelPath(r.chat_id, null))
    })
  }
  return (
    <Dialog title="New group" close={close}>
      <form onSubmit={submit}>
        <label for="group-name">Group name</label>
        <input id="group-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} autoFocus />
        <MemberPicker model={model} members={members} setMembers={setMembers} />
        <ErrorLine error={error} />
        <button type="submit" class="primary" disabled={busy}>Create group</button>
      </form>
    </Dialog>
  )
}

const RANK: Record<string, number> = { owner: 4, admin: 3, moderator: 2, member: 1 }

function ServerSettings({ model, close, serverId }: Props & { serverId: string }) {
  const server = useStore(model.state, (s) => s.servers.find((x) => x.server_id === serverId))
  const [members, setMembers] = useState<ServerMemberJson[] | null>(null)
  const [bans, setBans] = useState<{ user_id: string; reason: string | null }[]>([])
  const [name, setName] = useState(server?.name ?? '')
  const { busy, error, run } = useAction()
  const myRank = RANK[server?.role ?? 'member'] ?? 1
  const load = async (): Promise<void> => {
    const r = await model.http.get<ServerMembersJson>(`/api/servers/${serverId}/members?limit=1000`)
    setMembers(r.members)
    for (const m of r.members) model.rememberUser({ user_id: m.user_id, username: m.username, display_name: m.display_name, status_text: null })
    if (myRank >= RANK['moderator']!) setBans((await model.http.get<{ bans: { user_id: string; reason: string | null }[] }>(`/api/servers/${serverId}/bans`)).bans)
  }
  useEffect(() => void run(load), [serverId])
  const act = (fn: () => Promise<unknown>): void => void run(async () => { await fn(); await load() })
  const leave = (): void => void run(async () => {
    await model.http.post(`/api/servers/${serverId}/leave`)
    await Promise.all([model.refreshServers(), model.refreshChats()])
    close()
    navigate('/')
  })
  return (
    <Dialog title={`${server?.name ?? 'Server'}: members`} close={close} wide>
      {myRank >= RANK['admin']! && (
        <form class="copy-row" onSubmit={(e) => { e.preventDefault(); act(async () => { await model.http.call('PATCH', `/api/servers/${serverId}`, { name: name.trim() }); await model.refreshServers() }) }}>
          <label for="rename-server" class="sr-only">Server name</label>
          <input id="rename-server" value={name} maxLength={100} onInput={(e) => setName(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>Rename</button>
        </form>
      )}
      <ErrorLine error={error} />
      {members === null ? <p role="status">Loading members…</p> : (
        <table class="members">
          <caption class="sr-only">Members</caption>
          <thead><tr><th scope="col">Member</th><th scope="col">Role</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {members.map((m) => {
              const below = (RANK[m.role] ?? 1) < myRank && m.user_id !== model.me.user_id
              return (
                <tr key={m.user_id}>
                  <td>{m.user_id !== model.me.user_id && <PresenceDot model={model} userId={m.user_id} inline />}{m.display_name} <span class="muted">@{m.username}</span></td>
                  <td>
                    {below && myRank >= RANK['admin']! ? (
                      <select aria-label={`Role of ${m.display_name}`} value={m.role} disabled={busy}
                        onChange={(e) => { const role = e.currentTarget.value; act(() => model.http.call('PUT', `/api/servers/${serverId}/members/${m.user_id}/role`, { role })) }}>
                        {['admin', 'moderator', 'member'].filter((r) => RANK[r]! < myRank).map((r) => <option key={r} value={r}>{r}</option>)}
                      </select>
                    ) : m.role}
                  </td>
                  <td class="row-buttons">
                    {below && myRank >= RANK['moderator']! && (
                      <>
                        <button type="button" disabled={busy} onClick={() => { if (confirm(`Remove ${m.display_name} from the server?`)) act(() => model.http.post(`/api/servers/${serverId}/members/${m.user_id}/kick`, {})) }}>Kick</button>
                        <button type="button" class="danger" disabled={busy} onClick={() => { if (confirm(`Ban ${m.display_name}?`)) act(() => model.http.post(`/api/servers/${serverId}/bans`, { user_id: m.user_id })) }}>Ban</button>
                      </>
                    )}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
      {bans.length > 0 && (
        <>
          <h3>Banned</h3>
          <ul class="plain">
            {bans.map((b) => (
              <li key={b.user_id}>{model.nameOf(b.user_id)} {b.reason !== null && <span class="muted">({b.reason})</span>}{' '}
                <button type="button" disabled={busy} onClick={() => act(() => model.http.call('DELETE', `/api/servers/${serverId}/bans/${b.user_id}`))}>Unban</button>
              </li>
            ))}
          </ul>
        </>
      )}
      <div class="row-buttons end">
        {server?.role !== 'owner' && <button type="button" class="danger" disabled={busy} onClick={leave}>Leave server</button>}
      </div>
    </Dialog>
  )
}

function GroupSettings({ model, close, chatId }: Props & { chatId: string }) {
  const [info, setInfo] = useState<ChatJson | null>(null)
  const [adding, setAdding] = useState<Profile[]>([])
  const [showInvite, setShowInvite] = useState(false)
  const { busy, error, run } = useAction()
  const load = async (): Promise<void> => setInfo(await model.http.get(`/api/chats/${chatId}`))
  useEffect(() => void run(load), [chatId])
  const admin = info?.members.some((m) => m.user_id === model.me.user_id && m.role === 'admin') === true
  const act = (fn: () => Promise<unknown>, leaving = false): void => void run(async () => {
    await fn()
    await model.refreshChats()
    if (leaving) {
      close()
      navigate('/')
    } else await load()
  })
  if (showInvite) return <Invite model={model} close={close} chatId={chatId} />
  return (
    <Dialog title={info?.name ?? 'Group'} close={close} wide>
      <ErrorLine error={error} />
      {info === null ? <p role="status">Loading…</p> : (
        <>
          <h3>Members</h3>
          <ul class="plain">
            {info.members.map((m) => (
              <li key={m.user_id}>{m.user_id !== model.me.user_id && <PresenceDot model={model} userId={m.user_id} inline />}{m.display_name} {m.role === 'admin' && <span class="muted">(admin)</span>}{' '}
                {admin && m.user_id !== model.me.user_id && !info.ended && (
                  <button type="button" disabled={busy} onClick={() => act(() => model.http.call('DELETE', `/api/chats/${chatId}/members/${m.user_id}`))}>Remove</button>
                )}
              </li>
            ))}
          </ul>
          {admin && !info.ended && (
            <form onSubmit={(e) => { e.preventDefault(); act(async () => { await model.http.post(`/api/chats/${chatId}/members`, { user_ids: adding.map((a) => a.user_id) }); setAdding([]) }) }}>
              <MemberPicker model={model} members={adding} setMembers={setAdding} />
              <button type="submit" disabled={busy || adding.length === 0}>Add to the group</button>
            </form>
          )}
          <div class="row-buttons end">
            {admin && !info.ended && <button type="button" onClick={() => setShowInvite(true)}>Invite link</button>}
            {!info.ended && <button type="button" disabled={busy} onClick={() => act(() => model.http.post(`/api/chats/${chatId}/leave`), true)}>Leave group</button>}
            {admin && !info.ended && <button type="button" class="danger" disabled={busy} onClick={() => { if (confirm('End the group for everyone? Its history stays readable.')) act(() => model.http.post(`/api/chats/${chatId}/end`)) }}>End group</button>}
          </div>
        </>
      )}
    </Dialog>
  )
}

function ProfileDialog({ model, close }: Props) {
  const [me, setMe] = useState<(Profile & { hide_read_receipts?: boolean }) | null>(null)
  const [name, setName] = useState('')
  const [status, setStatus] = useState('')
  const [hideReceipts, setHideReceipts] = useState(false)
  const [showAs, setShowAs] = useState<PresenceStatus>(keptPresence(model.me.user_id)?.status ?? 'online')
  const { busy, error, run } = useAction()
  useEffect(() => void run(async () => {
    const p = await model.http.get<Profile & { hide_read_receipts: boolean }>('/api/users/me')
    setMe(p)
    setName(p.display_name)
    setStatus(p.status_text ?? '')
    setHideReceipts(p.hide_read_receipts)
  }), [])
  const submit = (e: Event): void => {
    e.preventDefault()
    void run(async () => {
      const p = await model.http.call<Profile>('PATCH', '/api/users/me', { display_name: name.trim(), status_text: status.trim() === '' ? null : status.trim(), hide_read_receipts: hideReceipts })
      model.rememberUser(p)
      await model.setPresence(showAs)
      model.notify('Profile saved')
      close()
    })
  }
  return (
    <Dialog title="Your profile" close={close}>
      {me === null ? <p role="status">Loading…</p> : (
        <form onSubmit={submit}>
          <p class="muted">Signed in as @{me.username}</p>
          <label for="display-name">Display name</label>
          <input id="display-name" required maxLength={128} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <label for="status-text">Status</label>
          <input id="status-text" maxLength={256} value={status} onInput={(e) => setStatus(e.currentTarget.value)} placeholder="What are you up to?" />
          <label for="show-as">Show me as</label>
          <select id="show-as" value={showAs} onChange={(e) => setShowAs(e.currentTarget.value as PresenceStatus)}>
            <option value="online">Online</option>
            <option value="away">Away</option>
            <option value="offline">Offline (appear offline)</option>
          </select>
          <label class="check"><input type="checkbox" checked={hideReceipts} onChange={(e) => setHideReceipts(e.currentTarget.checked)} /> Do not tell others when I have read their messages</label>
          <ErrorLine error={error} />
          <button type="submit" class="primary" disabled={busy}>Save</button>
        </form>
      )}
    </Dialog>
  )
}

const MUTE_CHOICES: [string, number | null][] = [['Not muted', null], ['1 hour', 3600], ['8 hours', 8 * 3600], ['1 week', 7 * 86_400]]

function Notifications({ model, close, channelId }: Props & { channelId: string | null }) {
  const target = channelId ?? '*'
  const [level, setLevel] = useState<string>('')
  const [mutedUntil, setMutedUntil] = useState<string | null>(null)
  const [mute, setMute] = useState<string>('keep')
  const { busy, error, run } = useAction()
  useEffect(() => void run(async () => {
    if (channelId === null) {
      const r = await model.http.request<{ default: NotificationSettingJson | null }>('GET_NOTIFICATIONS', {})
      setLevel(r.default?.level ?? '')
      setMutedUntil(r.default?.muted_until ?? null)
    } else {
      const r = await model.http.request<{ level: string | null; muted_until: string | null; source: string }>('GET_NOTIFICATIONS', { channel_id: channelId })
      setLevel(r.source === 'channel' ? r.level ?? '' : '')
      setMutedUntil(r.source === 'channel' ? r.muted_until : null)
    }
  }), [target])
  const submit = (e: Event): void => {
    e.preventDefault()
    void run(async () => {
      const seconds = mute === 'keep' ? undefined : MUTE_CHOICES[Number(mute)]![1]
      const until = mute === 'keep' ? (mutedUntil !== null && Date.parse(mutedUntil) > Date.now() ? mutedUntil : null) : seconds === null ? null : new Date(Date.now() + seconds! * 1000).toISOString()
      await model.http.request('SET_NOTIFICATIONS', { channel_id: target, level: level === '' ? (until !== null ? 'all' : null) : level, muted_until: until })
      model.notify('Notification settings saved')
      close()
    })
  }
  return (
    <Dialog title={channelId === null ? 'Notifications: default' : 'Notifications: this conversation'} close={close}>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Tell me about</legend>
          {[['', channelId === null ? 'The built-in choice (everything in chats, mentions in servers)' : 'My default'], ['all', 'Every message'], ['mentions', 'Only mentions'], ['none', 'Nothing']].map(([value, text]) => (
            <label class="check" key={value}><input type="radio" name="level" value={value} checked={level === value} onChange={() => setLevel(value!)} /> {text}</label>
          ))}
        </fieldset>
        <label for="mute">Mute</label>
        <select id="mute" value={mute} onChange={(e) => setMute(e.currentTarget.value)}>
          <option value="keep">{mutedUntil !== null && Date.parse(mutedUntil) > Date.now() ? `Muted until ${formatTime(mutedUntil)}` : 'Not muted'}</option>
          {MUTE_CHOICES.map(([text], i) => <option key={i} value={String(i)}>{i === 0 ? 'Unmute' : `For ${text}`}</option>)}
        </select>
        <ErrorLine error={error} />
        <button type="submit" class="primary" disabled={busy}>Save</button>
      </form>
    </Dialog>
  )
}

function Search({ model, close, channelId }: Props & { channelId?: string }) {
  const [query, setQuery] = useState('')
  const [results, setResults] = useState<SearchResultJson[] | null>(null)
  const [cursor, setCursor] = useState<string | null>(null)
  const chats = useStore(model.state, (s) => s.chats)
  const { busy, error, run } = useAction()
  const search = (more: boolean): void => void run(async () => {
    const r = await model.http.request<SearchResponseData>('SEARCH', { query, ...(channelId !== undefined ? { channel_id: channelId } : {}), limit: 20, ...(more && cursor !== null ? { cursor } : {}) })
    setResults(more ? [...(results ?? []), ...r.results] : r.results)
    setCursor(r.next_cursor)
  })
  const where = (r: SearchResultJson): string => {
    const c = chats.find((x) => x.channel_id === r.channel_id)
    return c === undefined ? '' : c.server_name !== null ? `#${c.name} · ${c.server_name}` : c.name
  }
  return (
    <Dialog title={channelId !== undefined ? 'Search this conversation' : 'Search messages'} close={close} wide>
      <form role="search" onSubmit={(e) => { e.preventDefault(); search(false) }} class="copy-row">
        <label for="search-q" class="sr-only">Words to find</label>
        <input id="search-q" type="search" required maxLength={200} value={query} onInput={(e) => setQuery(e.currentTarget.value)} autoFocus placeholder="Words to find" />
        <button type="submit" disabled={busy}>Search</button>
      </form>
      <ErrorLine error={error} />
      {results !== null && (
        <>
          <p role="status">{results.length === 0 ? 'Nothing found.' : `${results.length}${cursor !== null ? '+' : ''} found`}</p>
          <ul class="results">
            {results.map((r) => (
              <li key={r.message_id}>
                <a href={channelPath(r.channel_id, r.server_id ?? null)} onClick={(e) => { e.preventDefault(); close(); model.focusMessage(r.channel_id, r.message_id); navigate(channelPath(r.channel_id, r.server_id ?? null)) }}>
                  <span class="row-title">{model.nameOf(r.user_id)} <span class="muted">{where(r)} · {formatTime(r.timestamp)}</span></span>
                  <span class="row-preview"><RichText model={model} text={r.snippet ?? r.content} /></span>
                </a>
              </li>
            ))}
          </ul>
          {cursor !== null && <button type="button" disabled={busy} onClick={() => search(true)}>More</button>}
        </>
      )}
    </Dialog>
  )
}
