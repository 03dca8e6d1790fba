// The interactive mode's state and every change to it, as pure functions: what arrives
// (deltas, pages, outbox changes, markers) and what the user types (keys) each give a new
// state, and keys also give effects (open a channel, send, quit) for app.ts to carry out.
// Nothing here does I/O, so all of it is unit tested (test/cli/ui.test.ts).
import type { ChatListItemJson, ConnectionStatus, DeltaJson, MarkerEventData, MessageJson, OutboxItem } from '../../sdk/src/index.ts'

/** A message as the message pane shows it. */
export interface UiMessage {
  seq: string
  message_id: string
  user_id: string
  kind: string
  content: string | null
  timestamp: string
  edited: boolean
  deleted: boolean
  files: { name: string; size: number }[]
}

export interface ChannelView {
  messages: UiMessage[]
  /** The page was read at this seq: live deltas at or below it are in the page already. */
  pageSeq: string
}

export interface Notice {
  text: string
  error: boolean
}

export interface UiState {
  me: { user_id: string; username: string }
  chats: ChatListItemJson[]
  selectedId: string | null
  focus: 'list' | 'input'
  /** The input line as code points, and the cursor's index among them. */
  input: string[]
  cursor: number
  views: Record<string, ChannelView>
  /** Channels whose page was asked for, with the live deltas that came meanwhile. */
  loading: Record<string, DeltaJson[]>
  pending: OutboxItem[]
  status: ConnectionStatus
  notice: Notice | null
  names: Record<string, string>
  /** Rows the message pane is scrolled up from its newest line (render clamps it). */
  scroll: number
}

export interface Key {
  name?: string | undefined
  sequence?: string | undefined
  ctrl?: boolean | undefined
  meta?: boolean | undefined
  shift?: boolean | undefined
}

export type Effect =
  | { type: 'quit' }
  | { type: 'open'; channel_id: string }
  | { type: 'send'; channel_id: string; content: string }

export interface Step {
  state: UiState
  effects: Effect[]
}

export const PAGE_ROWS = 10

export function initialState(me: { user_id: string; username: string }, chats: ChatListItemJson[]): UiState {
  return {
    me, chats, selectedId: chats[0]?.channel_id ?? null, focus: 'list', input: [], cursor: 0,
    views: {}, loading: {}, pending: [], status: 'connecting', notice: null, names: { [me.user_id]: me.username }, scroll: 0,
  }
}

export function selectedChat(s: UiState): ChatListItemJson | undefined {
  return s.chats.find((c) => c.channel_id === s.selectedId)
}

const seqOf = (v: string): bigint => BigInt(v)

function toUiMessage(m: MessageJson): UiMessage {
  return {
    seq: m.seq, message_id: m.message_id, user_id: m.user_id, kind: m.kind, content: m.content, timestamp: m.timestamp,
    edited: m.edited_at !== undefined, deleted: m.deleted === true || m.content === null,
    files: (m.attachments ?? []).map((a) => ({ name: a.name, size: a.size })),
  }
}

function replaceChat(s: UiState, channelId: string, change: (c: ChatListItemJson) => ChatListItemJson, toFront = false): ChatListItemJson[] {
  const i = s.chats.findIndex((c) => c.channel_id === channelId)
  if (i < 0) return s.chats
  const updated = change(s.chats[i]!)
  const rest = s.chats.filter((_, j) => j !== i)
  if (toFront) return [updated, ...rest]
  const out = [...s.chats]
  out[i] = updated
  return out
}

/** The chat list was read again (LIST_CHATS): the selection stays on its channel if still listed. */
export function chatsLoaded(s: UiState, chats: ChatListItemJson[]): UiState {
  const keep = chats.some((c) => c.channel_id === s.selectedId)
  return { ...s, chats, selectedId: keep ? s.selectedId : (chats[0]?.channel_id ?? null) }
}

/** The channel's unread counts drop to 0 (it is on screen). */
export function channelRead(s: UiState, channelId: string): UiState {
  return { ...s, chats: replaceChat(s, channelId, (c) => ({ ...c, unread: 0, mentions: 0, unread_capped: false, mentions_capped: false })) }
}

/** A channel's page was asked for: live deltas of it are kept until the page arrives. */
export function loadingStarted(s: UiState, channelId: string): UiState {
  if (s.views[channelId] !== undefined || s.loading[channelId] !== undefined) return s
  return { ...s, loading: { ...s.loading, [channelId]: [] } }
}

/**
 * A channel's latest page (LIST_MESSAGES) arrived; deltas that came while it was asked for
 * and are newer than the page are applied on top. It is on screen now: unread drops to 0.
 */
export function pageLoaded(s: UiState, channelId: string, messages: MessageJson[], lastSeq: string): UiState {
  let view: ChannelView = { messages: messages.map(toUiMessage), pageSeq: lastSeq }
  for (const d of s.loading[channelId] ?? []) view = viewWith(view, d)
  const { [channelId]: _done, ...loading } = s.loading
  return channelRead({ ...s, views: { ...s.views, [channelId]: view }, loading }, channelId)
}

/** A view after one of its channel's deltas (those in its page already change nothing). */
function viewWith(view: ChannelView, d: DeltaJson): ChannelView {
  if (seqOf(d.seq) <= seqOf(view.pageSeq)) return view
  let messages = view.messages
  if (d.type === 'message') {
    if (messages.some((m) => m.message_id === d.delta_id)) return view
    messages = [...messages, {
      seq: d.seq, message_id: d.delta_id, user_id: d.user_id, kind: d.meta?.kind ?? 'text', content: d.content, timestamp: d.timestamp,
      edited: false, deleted: false, files: (d.attachments ?? []).map((a) => ({ name: a.name, size: a.size })),
    }]
  } else if (d.type === 'edit' || d.type === 'delete' || d.type === 'expired') {
    messages = messages.map((m) => (m.message_id !== d.target_id ? m : d.type === 'edit' ? { ...m, content: d.content, edited: true } : { ...m, content: null, deleted: true }))
  } else return view
  return { ...view, messages }
}

/** A live delta: the list's preview, unread count and order, and the channel's view if it has one. */
export function deltaArrived(s: UiState, d: DeltaJson): UiState {
  const isMessage = d.type === 'message'
  const mine = d.user_id === s.me.user_id
  const onScreen = d.channel_id === s.selectedId && s.views[d.channel_id] !== undefined
  const chats = replaceChat(s, d.channel_id, (c) => ({
    ...c,
    last_seq: seqOf(d.seq) > seqOf(c.last_seq) ? d.seq : c.last_seq,
    last_activity_at: d.timestamp,
    ...(isMessage
      ? {
          last_message: { message_id: d.delta_id, user_id: d.user_id, sender_name: s.names[d.user_id] ?? d.user_id, preview: (d.content ?? '').slice(0, 100), kind: d.meta?.kind ?? 'text', timestamp: d.timestamp },
          unread: mine || onScreen ? c.unread : c.unread + 1,
        }
      : {}),
  }), isMessage)
  const view = s.views[d.channel_id]
  if (view !== undefined) return { ...s, chats, views: { ...s.views, [d.channel_id]: viewWith(view, d) } }
  const waiting = s.loading[d.channel_id]
  if (waiting !== undefined) return { ...s, chats, loading: { ...s.loading, [d.channel_id]: [...waiting, d] } }
  return { ...s, chats }
}

/** A MARKER event (another device read the channel): the server's counts replace ours. */
export function markerArrived(s: UiState, m: MarkerEventData): UiState {
  return { ...s, chats: replaceChat(s, m.channel_id, (c) => ({ ...c, unread: m.unread, mentions: m.mentions, unread_capped: m.unread_capped, mentions_capped: m.mentions_capped, read_seq: m.read_seq })) }
}

export function outboxChanged(s: UiState, items: OutboxItem[]): UiState {
  return { ...s, pending: items }
}

export function statusChanged(s: UiState, status: ConnectionStatus): UiState {
  return { ...s, status }
}

export function noticed(s: UiState, notice: Notice | null): UiState {
  return { ...s, notice }
}

export function namesKnown(s: UiState, names: Record<string, string>): UiState {
  return { ...s, names: { ...s.names, ...names } }
}

/** Moves the selection by `by` (wrapping around) and opens the channel it lands on. */
function move(s: UiState, by: number): Step {
  if (s.chats.length === 0) return { state: s, effects: [] }
  const i = Math.max(0, s.chats.findIndex((c) => c.channel_id === s.selectedId))
  const next = s.chats[(i + by + s.chats.length) % s.chats.length]!
  if (next.channel_id === s.selectedId) return { state: s, effects: [] }
  return { state: loadingStarted({ ...s, selectedId: next.channel_id, scroll: 0, notice: null }, next.channel_id), effects: [{ type: 'open', channel_id: next.channel_id }] }
}

const isPrintable = (k: Key): boolean => k.ctrl !== true && k.meta !== true && k.sequence !== undefined && k.sequence.length > 0 && !/[\u0000-\u001f\u007f]/.test(k.sequence)

/** One key press. */
export function handleKey(s: UiState, key: Key): Step {
  const none = (state: UiState): Step => ({ state, effects: [] })
  if (key.ctrl === true && key.name === 'c') return { state: s, effects: [{ type: 'quit' }] }
  if (key.ctrl === true && key.name === 'd' && s.input.length === 0) return { state: s, effects: [{ type: 'quit' }] }
  switch (key.name) {
    case 'tab':
      return none({ ...s, focus: s.focus === 'list' ? 'input' : 'list' })
    case 'up':
      return move(s, -1)
    case 'down':
      return move(s, 1)
    case 'pageup':
      return none({ ...s, scroll: s.scroll + PAGE_ROWS })
    case 'pagedown':
      return none({ ...s, scroll: Math.max(0, s.scroll - PAGE_ROWS) })
    case 'escape':
      return none({ ...s, focus: 'list' })
  }
  if (s.focus === 'list') {
    if (key.name === 'return' || key.name === 'enter' || key.name === 'right') return none({ ...s, focus: 'input' })
    if (key.sequence === 'q') return { state: s, effects: [{ type: 'quit' }] }
    if (key.sequence === 'k') return move(s, -1)
    if (key.sequence === 'j') return move(s, 1)
    // Typing in the list starts a message.
    if (isPrintable(key) && key.sequence !== ' ') return handleKey({ ...s, focus: 'input' }, key)
    return none(s)
  }
  // The input line.
  if (key.name === 'return' || key.name === 'enter') {
    const content = s.input.join('')
    if (content.trim() === '' || s.selectedId === null) return none(s)
    return { state: { ...s, input: [], cursor: 0, scroll: 0, notice: null }, effects: [{ type: 'send', channel_id: s.selectedId, content }] }
  }
  if (key.name === 'backspace') {
    if (s.cursor === 0) return none(s)
    return none({ ...s, input: [...s.input.slice(0, s.cursor - 1), ...s.input.slice(s.cursor)], cursor: s.cursor - 1 })
  }
  if (key.name === 'delete') return none({ ...s, input: [...s.input.slice(0, s.cursor), ...s.input.slice(s.cursor + 1)] })
  if (key.name === 'left') return none({ ...s, cursor: Math.max(0, s.cursor - 1) })
  if (key.name === 'right') return none({ ...s, cursor: Math.min(s.input.length, s.cursor + 1) })
  if (key.name === 'home' || (key.ctrl === true && key.name === 'a')) return none({ ...s, cursor: 0 })
  if (key.name === 'end' || (key.ctrl === true && key.name === 'e')) return none({ ...s, cursor: s.input.length })
  if (key.ctrl === true && key.name === 'u') return none({ ...s, input: s.input.slice(s.cursor), cursor: 0 })
  if (isPrintable(key)) {
    const chars = [...key.sequence!]
    return none({ ...s, input: [...s.input.slice(0, s.cursor), ...chars, ...s.input.slice(s.cursor)], cursor: s.cursor + chars.length })
  }
  return none(s)
}
