// A channel or chat: the newest page of messages (LIST_MESSAGES), older pages as the reader
// scrolls up, and from the page's last_seq on every delta in order (the client follows the
// channel). Posts show at once from the outbox and are replaced by their delta. Opened at a
// message (a search hit), it shows the page around it, highlighted and focused, and loads
// older pages on scrolling up and newer ones on scrolling down until the live end.
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks'
import type { ChatJson, DeltaJson, ListMessagesResponseData, MessageJson, OutboxItem } from '../../../sdk/src/index.ts'
import { describe, type AppModel } from '../lib/model.ts'
import { Timeline, type Msg } from '../lib/timeline.ts'
import { useStore } from '../lib/store.ts'
import { navigate } from '../lib/router.ts'
import { formatTime } from '../lib/format.ts'
import { MessageView, PendingView, type MessageActions } from './Message.tsx'
import { VirtualList } from './VirtualList.tsx'
import { Composer } from './Composer.tsx'
import type { DialogKind } from './dialogs.tsx'
import { Icon } from './icons.tsx'
import { presenceWord, usePresence } from './Presence.tsx'

const PAGE = 50
/** Seqs after the message a view opens at that its first page covers (the rest of PAGE is before it). */
const AFTER = 20
/** Seqs each newer page covers (LIST_MESSAGES before_seq + NEWER, limit NEWER). */
const NEWER = 100
/** How long the message a view opened at stays highlighted. */
const HIGHLIGHT_MS = 4000
const NO_ONE: string[] = []

type ListPage = ListMessagesResponseData

type Row = { kind: 'msg'; m: Msg } | { kind: 'pending'; item: OutboxItem }

type ChatInfo = ChatJson

export function ChatView({ model, channelId, serverId, open }: { model: AppModel; channelId: string; serverId: string | null; open: (d: DialogKind) => void }) {
  const timeline = useMemo(() => new Timeline(channelId, model.me.user_id), [channelId])
  const [, setVersion] = useState(0)
  const bump = (): void => setVersion((v) => v + 1)
  const [phase, setPhase] = useState<'loading' | 'ready' | { error: string }>('loading')
  const [reload, setReload] = useState(0)
  const [replyTo, setReplyTo] = useState<Msg | null>(null)
  const [editing, setEditing] = useState<Msg | null>(null)
  const [bottomSignal, setBottomSignal] = useState(0)
  const [jump, setJump] = useState<{ key: string } | null>(null)
  const [highlight, setHighlight] = useState<string | null>(null)
  const [chatInfo, setChatInfo] = useState<ChatInfo | null>(null)
  const [focusRequest, setFocusRequest] = useState(0)
  const [announce, setAnnounce] = useState('')
  const loadingOlder = useRef(false)
  const loadingNewer = useRef(false)
  const readTimer = useRef<ReturnType<typeof setTimeout> | null>(null)

  const outbox = useStore(model.state, (s) => s.outbox)
  const typing = useStore(model.state, (s) => s.typing[channelId] ?? NO_ONE)
  const users = useStore(model.state, (s) => s.users)
  const item = useStore(model.state, (s) => s.chats.find((c) => c.channel_id === channelId))
  const channel = useStore(model.state, (s) => (serverId === null ? undefined : s.channels[serverId]?.find((c) => c.channel_id === channelId)))
  const server = useStore(model.state, (s) => (serverId === null ? undefined : s.servers.find((x) => x.server_id === serverId)))

  /** Marks the channel read up to what is shown, while the page is visible (once a second at most). */
  const markReadSoon = (): void => {
    if (readTimer.current !== null) return
    readTimer.current = setTimeout(() => {
      readTimer.current = null
      if (document.visibilityState === 'visible' && timeline.readSeq > 0) void model.markRead(channelId, timeline.readSeq)
    }, 300)
  }

  // A layout effect: the first page is asked for before the browser paints, not a frame later.
  useLayoutEffect(() => {
    let buffered: DeltaJson[] | null = []
    let live = true
    let focusId = model.takeFocus(channelId)
    setPhase('loading')
    setJump(null)
    setHighlight(null)
    loadingNewer.current = false
    const offDelta = model.client.on('delta', (d) => {
      if (d.channel_id !== channelId) return
      if (buffered !== null) buffered.push(d)
      else if (timeline.apply(d)) {
        bump()
        markReadSoon()
      }
    })
    const offSent = model.client.on('sent', ({ delta }) => {
      if (buffered === null && delta.channel_id === channelId) {
        timeline.confirm(delta)
        bump()
      }
    })
    const onVisible = (): void => {
      if (document.visibilityState === 'visible') markReadSoon()
    }
    const onRestored = (e: Event): void => {
      if ((e as CustomEvent<string>).detail === channelId) setReload((n) => n + 1)
    }
    const onFocus = (e: Event): void => {
      if ((e as CustomEvent<string>).detail === channelId) setFocusRequest((n) => n + 1)
    }
    document.addEventListener('visibilitychange', onVisible)
    window.addEventListener('chime:restored', onRestored)
    window.addEventListener('chime:focus', onFocus)
    /** The page around the message asked for (bound: the seq newer pages start from), or the newest. */
    const firstPage = async (): Promise<{ page: ListPage; bound: number | null; at?: MessageJson }> => {
      if (focusId !== null) {
        try {
          const { message } = await model.http.request<{ message: MessageJson }>('GET_MESSAGE', { message_id: focusId })
          const bound = Number(message.seq) + 1 + AFTER
          return { page: await model.http.request<ListPage>('LIST_MESSAGES', { channel_id: channelId, before_seq: String(bound), limit: PAGE }), bound, at: message }
        } catch (err) {
          if (live) model.notify(`That message cannot be shown: ${describe(err)}`, 'error')
          focusId = null
        }
      }
      return { page: await model.http.request<ListPage>('LIST_MESSAGES', { channel_id: channelId, limit: PAGE }), bound: null }
    }
    void (async () => {
      try {
        const { page, bound, at } = await firstPage()
        if (!live) return
        timeline.setWindow(page, bound)
        for (const d of buffered ?? []) timeline.apply(d)
        buffered = null
        setPhase('ready')
        if (focusId !== null && timeline.get(focusId) !== undefined) {
          const id = focusId
          setJump({ key: `m:${id}` })
          setHighlight(id)
          if (at !== undefined) setAnnounce(`Showing the message from ${model.nameOf(at.user_id)}, ${formatTime(at.timestamp)}`)
          setTimeout(() => {
            if (live) setHighlight((h) => (h === id ? null : h))
          }, HIGHLIGHT_MS)
        }
        bump()
        markReadSoon()
        // A channel the list does not follow (beyond its first page) is followed from the page on.
        if (!model.isFollowing(channelId)) await model.follow({ channel_id: channelId, server_id: serverId }, page.last_seq)
      } catch (err) {
        if (live) setPhase({ error: describe(err) })
      }
    })()
    if (serverId === null) {
      model.http.get<ChatInfo>(`/api/chats/${channelId}`).then((info) => {
        if (!live) return
        setChatInfo(info)
        for (const m of info.members) model.rememberUser({ user_id: m.user_id, username: null, display_name: m.display_name, status_text: null, ...(model.state.get().users[m.user_id] ?? {}) })
      }, () => undefined)
    }
    return () => {
      live = false
      offDelta()
      offSent()
      document.removeEventListener('visibilitychange', onVisible)
      window.removeEventListener('chime:restored', onRestored)
      window.removeEventListener('chime:focus', onFocus)
      // Leaving right after messages came: what was shown counts as read.
      if (readTimer.current !== null) {
        clearTimeout(readTimer.current)
        readTimer.current = null
        if (document.visibilityState === 'visible' && timeline.readSeq > 0) void model.markRead(channelId, timeline.readSeq)
      }
    }
  }, [channelId, reload, focusRequest])

  const loadOlder = (): void => {
    const oldest = timeline.oldestSeq
    if (loadingOlder.current || !timeline.hasMore || oldest === null || phase !== 'ready') return
    loadingOlder.current = true
    model.http.request<ListPage>('LIST_MESSAGES', { channel_id: channelId, before_seq: String(oldest), limit: PAGE }).then(
      (page) => {
        timeline.addOlderPage(page)
        loadingOlder.current = false
        bump()
      },
      (err: unknown) => {
        loadingOlder.current = false
        model.notify(`Could not load older messages: ${describe(err)}`, 'error')
      },
    )
  }

  /** A newer page while the view is detached from the live end (opened at an older message). */
  const loadNewer = (): void => {
    const bound = timeline.newerBound
    if (loadingNewer.current || bound === null || phase !== 'ready') return
    loadingNewer.current = true
    const next = bound + NEWER
    model.http.request<ListPage>('LIST_MESSAGES', { channel_id: channelId, before_seq: String(next), limit: NEWER }).then(
      (page) => {
        loadingNewer.current = false
        if (timeline.newerBound !== bound) return
        timeline.addNewerPage(page, next)
        bump()
        markReadSoon()
      },
      (err: unknown) => {
        loadingNewer.current = false
        model.notify(`Could not load newer messages: ${describe(err)}`, 'error')
      },
    )
  }

  /** Back to the newest messages (and following the channel live). */
  const toLatest = (): void => setReload((n) => n + 1)

  const actions = useMemo<MessageActions>(() => ({
    reply: (m) => { setEditing(null); setReplyTo(m) },
    edit: (m) => { setReplyTo(null); setEditing(m) },
    remove: (m) => {
      if (!confirm('Delete this message for everyone?')) return
      model.http.request('DELETE_MESSAGE', { message_id: m.message_id }).catch((err: unknown) => model.notify(`Could not delete: ${describe(err)}`, 'error'))
    },
    react: (m, emoji, on) => {
      model.http.request(on ? 'ADD_REACTION' : 'REMOVE_REACTION', { message_id: m.message_id, emoji }).catch((err: unknown) => model.notify(`Could not react: ${describe(err)}`, 'error'))
    },
    jump: (messageId) => {
      if (timeline.get(messageId) === undefined) {
        model.focusMessage(channelId, messageId)
        return
      }
      setJump({ key: `m:${messageId}` })
      setHighlight(messageId)
    },
  }), [channelId])

  // What the list shows: the messages, then this channel's posts not confirmed yet.
  const shownIds = new Set(timeline.messages.map((m) => m.client_msg_id).filter((x) => x !== undefined))
  const rows: Row[] = timeline.messages.map((m) => ({ kind: 'msg', m }))
  for (const o of outbox) if (o.channel_id === channelId && !shownIds.has(o.client_msg_id)) rows.push({ kind: 'pending', item: o })

  /** Whether a message follows one of the same author within five minutes (shown as one group). */
  const continues = (m: Msg): boolean => {
    if (m.reply_to !== undefined) return false
    const i = timeline.indexOf(m.message_id)
    const prev = i > 0 ? timeline.messages[i - 1] : undefined
    return prev !== undefined && prev.user_id === m.user_id && !prev.deleted && Date.parse(m.timestamp) - Date.parse(prev.timestamp) < 5 * 60_000
  }

  const canModerate = server !== undefined ? server.role !== 'member' : chatInfo?.type === 'group' && chatInfo.members.some((m) => m.user_id === model.me.user_id && m.role === 'admin')
  const title = serverId !== null ? `#${channel?.name ?? item?.name ?? 'channel'}` : chatInfo?.type === 'dm'
    ? chatInfo.members.find((m) => m.user_id !== model.me.user_id)?.display_name ?? item?.name ?? 'Chat'
    : chatInfo?.name ?? item?.name ?? 'Chat'
  const typingNames = typing.map((u) => model.nameOf(u))
  const closed = item?.closed === true || chatInfo?.ended === true
  const peer = chatInfo?.type === 'dm' ? chatInfo.members.find((m) => m.user_id !== model.me.user_id)?.user_id : undefined
  const peerPresence = presenceWord(usePresence(model, peer))

  return (
    <section class="chat" aria-labelledby="chat-title">
      <header class="chat-head">
        <button type="button" class="icon back" aria-label="Back to the list" onClick={() => navigate(serverId === null ? '/' : `/s/${serverId}`)}><Icon name="back" /></button>
        <div class="chat-title">
          <h2 id="chat-title">{title}</h2>
          <p class="chat-sub">{server !== undefined ? server.name : chatInfo?.type === 'group' ? `${chatInfo.members.length} members` : chatInfo?.type === 'dm' ? `Direct message${peerPresence !== null ? ` · ${peerPresence}` : ''}` : ''}</p>
        </div>
        <div class="head-actions">
          <button type="button" class="icon" aria-label="Search in this conversation" title="Search" onClick={() => open({ kind: 'search', channelId })}><Icon name="search" /></button>
          <button type="button" class="icon" aria-label="Notification settings for this conversation" title="Notifications" onClick={() => open({ kind: 'notifications', channelId })}><Icon name="bell" /></button>
          {serverId !== null && <button type="button" class="icon" aria-label="Invite people" title="Invite people" onClick={() => open({ kind: 'invite', serverId })}><Icon name="userPlus" /></button>}
          {chatInfo?.type === 'group' && <button type="button" class="icon" aria-label="Group settings" title="Group settings" onClick={() => open({ kind: 'group', chatId: channelId })}><Icon name="settings" /></button>}
        </div>
      </header>
      {phase === 'loading' && <p class="loading" role="status">Loading messages…</p>}
      {typeof phase === 'object' && <p class="error" role="alert">{phase.error}</p>}
      {phase === 'ready' && (
        <VirtualList<Row>
          items={rows}
          keyOf={(r) => (r.kind === 'msg' ? `m:${r.m.message_id}` : `p:${r.item.client_msg_id}`)}
          label={`Messages in ${title}`}
          onNearTop={loadOlder}
          onNearBottom={loadNewer}
          follow={!timeline.detached}
          bottomSignal={bottomSignal}
          jumpTo={jump}
          render={(r) => (r.kind === 'msg'
            ? <MessageView model={model} m={r.m} actions={actions} canModerate={canModerate} highlighted={highlight === r.m.message_id} users={users} continued={continues(r.m)} />
            : <PendingView model={model} item={r.item} />)}
        />
      )}
      {phase === 'ready' && timeline.detached && <button type="button" class="to-latest" onClick={toLatest}>Jump to the newest messages</button>}
      <p class="sr-only" role="status">{announce}</p>
      <p class="typing" aria-live="polite">{typingNames.length === 0 ? '' : typingNames.length === 1 ? `${typingNames[0]} is typing…` : `${typingNames.join(', ')} are typing…`}</p>
      {closed ? <p class="closed">This conversation is closed; its history stays readable.</p> : (
        <Composer model={model} channelId={channelId} serverId={serverId} label={`Message ${title}`} replyTo={replyTo} editing={editing}
          onDone={() => { setReplyTo(null); setEditing(null) }} onSent={() => (timeline.detached ? toLatest() : setBottomSignal((n) => n + 1))} onEdit={(m) => setEditing(m)}
          lastOwn={() => [...timeline.messages].reverse().find((m) => m.user_id === model.me.user_id && !m.deleted && m.kind === 'text') ?? null}
          disabled={phase !== 'ready'} />
      )}
    </section>
  )
}
