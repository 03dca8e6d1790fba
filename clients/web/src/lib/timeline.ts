// One channel's messages as the chat view shows them: the pages LIST_MESSAGES answered
// (older ones added at the top), then every delta after the page's last_seq applied in seq
// order. Each change replaces the message object it touches, so views can compare by
// reference. A view opened at a message (a search hit) starts from a window of pages around
// it instead and is "detached" until newer pages reach the channel's live end: meanwhile new
// messages beyond the window are left to those pages. Each message remembers the seq its
// state is as of, so a delta a page already covers is never applied twice, and the latest
// deltas are kept a while so a page read just before one is brought up to date.
// No DOM here: the same code runs in tests.
import type { AttachmentJson, DeltaJson, MessageJson, MessageKind, QuotedMessageJson } from '../../../sdk/src/index.ts'

export interface Reaction {
  emoji: string
  count: number
  me: boolean
}

export interface Msg {
  message_id: string
  seq: number
  user_id: string
  kind: MessageKind
  content: string | null
  timestamp: string
  attachments: AttachmentJson[]
  reply_to?: QuotedMessageJson & { original: 'available' | 'deleted' }
  edited: boolean
  deleted: boolean
  pinned: boolean
  reactions: Reaction[]
  client_msg_id?: string
  /** The channel seq this message's state reflects (its page's last_seq, or its latest delta). */
  asOf?: number
}

/** Deltas kept to bring pages read just before them up to date. */
const RECENT_DELTAS = 500

export interface MessagePage {
  messages: MessageJson[]
  has_more: boolean
  last_seq?: string
}

export function fromMessageJson(m: MessageJson): Msg {
  return {
    message_id: m.message_id,
    seq: Number(m.seq),
    user_id: m.user_id,
    kind: m.kind,
    content: m.content,
    timestamp: m.timestamp,
    attachments: m.attachments ?? [],
    ...(m.reply_to !== undefined ? { reply_to: m.reply_to } : {}),
    edited: m.edited_at !== undefined,
    deleted: m.deleted === true,
    pinned: m.pinned !== undefined,
    reactions: m.reactions.map((r) => ({ ...r })),
  }
}

export function fromMessageDelta(d: DeltaJson): Msg {
  return {
    message_id: d.delta_id,
    seq: Number(d.seq),
    user_id: d.user_id,
    kind: d.meta?.kind ?? 'text',
    content: d.content,
    timestamp: d.timestamp,
    attachments: d.attachments ?? [],
    ...(d.meta?.reply_to !== undefined ? { reply_to: { ...d.meta.reply_to, original: 'available' as const } } : {}),
    edited: false,
    deleted: false,
    pinned: false,
    reactions: [],
    ...(d.client_msg_id !== undefined ? { client_msg_id: d.client_msg_id } : {}),
  }
}

export class Timeline {
  /** Oldest first. */
  messages: Msg[] = []
  /** The last seq whose delta is reflected (a page's last_seq, then each applied delta). */
  appliedSeq = 0
  hasMore = false
  /**
   * Detached from the live end: every message with a seq below this is loaded, newer ones
   * come with newer pages (addNewerPage). Null when the newest are loaded and deltas add new
   * messages at the end.
   */
  newerBound: number | null = null
  private readonly index = new Map<string, Msg>()
  private recent: DeltaJson[] = []

  constructor(readonly channelId: string, readonly me: string) {}

  get detached(): boolean {
    return this.newerBound !== null
  }

  /** The newest page: what the view starts from. */
  setLatestPage(page: { messages: MessageJson[]; has_more: boolean; last_seq: string }): void {
    this.setWindow(page, null)
  }

  /**
   * A page around a message (LIST_MESSAGES before `bound`): the view starts there. Messages
   * with a seq from `bound` on come with newer pages; when `bound` is past the page's last_seq
   * the page already holds the newest and the timeline is live.
   */
  setWindow(page: { messages: MessageJson[]; has_more: boolean; last_seq: string }, bound: number | null): void {
    const asOf = Number(page.last_seq)
    this.messages = page.messages.map((m) => ({ ...fromMessageJson(m), asOf }))
    this.index.clear()
    for (const m of this.messages) this.index.set(m.message_id, m)
    this.hasMore = page.has_more
    this.appliedSeq = Math.max(this.appliedSeq, asOf)
    this.newerBound = bound !== null && bound <= asOf ? bound : null
    this.catchUp(asOf)
  }

  /** An older page, put above what is shown (messages already shown are kept as they are). */
  addOlderPage(page: MessagePage): void {
    const asOf = page.last_seq === undefined ? undefined : Number(page.last_seq)
    const older = page.messages.map((m) => ({ ...fromMessageJson(m), ...(asOf !== undefined ? { asOf } : {}) })).filter((m) => !this.index.has(m.message_id))
    for (const m of older) this.index.set(m.message_id, m)
    this.messages = [...older, ...this.messages]
    this.hasMore = page.has_more
    if (asOf !== undefined) this.catchUp(asOf)
  }

  /**
   * A newer page of a detached timeline: LIST_MESSAGES before `bound`, which holds every
   * message below `bound` not shown yet. Past the page's last_seq the timeline is live again.
   */
  addNewerPage(page: MessagePage & { last_seq: string }, bound: number): void {
    if (this.newerBound === null) return
    const asOf = Number(page.last_seq)
    const newer = page.messages.map((m) => ({ ...fromMessageJson(m), asOf })).filter((m) => !this.index.has(m.message_id))
    for (const m of newer) this.index.set(m.message_id, m)
    this.messages = [...this.messages, ...newer].sort((a, b) => a.seq - b.seq)
    this.newerBound = bound <= asOf ? Math.max(bound, this.newerBound) : null
    this.catchUp(asOf)
  }

  /** Deltas that came after a page was read, applied to what it added (those before are in it). */
  private catchUp(asOf: number): void {
    for (const d of this.recent) if (Number(d.seq) > asOf) this.applyOne(d)
  }

  get oldestSeq(): number | null {
    return this.messages[0]?.seq ?? null
  }

  get(messageId: string): Msg | undefined {
    return this.index.get(messageId)
  }

  /** Where a message is in `messages` (-1 when not loaded); the newest are found first. */
  indexOf(messageId: string): number {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.message_id === messageId) return i
    return -1
  }

  /**
   * Applies a delta of this channel. Deltas at or below appliedSeq are already in the page
   * (or were applied) and are skipped; returns whether anything shown changed.
   */
  apply(d: DeltaJson): boolean {
    const seq = Number(d.seq)
    if (d.channel_id !== this.channelId || seq <= this.appliedSeq) return false
    this.appliedSeq = seq
    this.recent.push(d)
    if (this.recent.length > RECENT_DELTAS) this.recent = this.recent.slice(-RECENT_DELTAS / 2)
    return this.applyOne(d)
  }

  /** The messages up to which the reader has seen the channel (for the read marker). */
  get readSeq(): number {
    return this.newerBound === null ? this.appliedSeq : Math.min(this.appliedSeq, this.newerBound - 1)
  }

  private applyOne(d: DeltaJson): boolean {
    const seq = Number(d.seq)
    if (d.type === 'message') {
      // Detached: a message past the window comes with a newer page (as it is by then).
      if (this.newerBound !== null && seq >= this.newerBound) return false
      if (this.index.has(d.delta_id)) return false
      this.upsert({ ...fromMessageDelta(d), asOf: seq })
      return true
    }
    const target = d.target_id === undefined ? undefined : this.index.get(d.target_id)
    if (target === undefined || seq <= (target.asOf ?? 0)) return false
    switch (d.type) {
      case 'edit':
        return this.replace(target, { content: d.content, edited: true, asOf: seq })
      case 'delete':
      case 'expired':
        return this.replace(target, { content: null, deleted: true, attachments: [], reactions: [], pinned: false, asOf: seq })
      case 'pinned':
      case 'unpinned':
        return this.replace(target, { pinned: d.type === 'pinned', asOf: seq })
      case 'reaction_added':
      case 'reaction_removed': {
        const emoji = d.meta?.emoji
        if (emoji === undefined) return false
        const mine = d.user_id === this.me
        const adding = d.type === 'reaction_added'
        const existing = target.reactions.find((r) => r.emoji === emoji)
        let reactions: Reaction[]
        if (existing === undefined) reactions = adding ? [...target.reactions, { emoji, count: 1, me: mine }] : target.reactions
        else
          reactions = target.reactions
            .map((r) => (r.emoji !== emoji ? r : { emoji, count: r.count + (adding ? 1 : -1), me: mine ? adding : r.me }))
            .filter((r) => r.count > 0)
        return this.replace(target, { reactions, asOf: seq })
      }
      default:
        return false
    }
  }

  /**
   * A post of this user confirmed before its delta arrived on the channel: shown in its place
   * at once (the delta, when it comes, finds it there).
   */
  confirm(d: DeltaJson): void {
    if (d.channel_id === this.channelId && d.type === 'message' && this.newerBound === null && !this.index.has(d.delta_id) && Number(d.seq) > (this.oldestSeq ?? 0)) this.upsert(fromMessageDelta(d))
  }

  private upsert(m: Msg): void {
    const existing = this.index.get(m.message_id)
    if (existing !== undefined) return
    this.index.set(m.message_id, m)
    // Usually the newest: append; otherwise insert in seq order.
    let i = this.messages.length
    while (i > 0 && this.messages[i - 1]!.seq > m.seq) i--
    this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i)]
  }

  private replace(target: Msg, change: Partial<Msg>): boolean {
    const next = { ...target, ...change }
    this.index.set(target.message_id, next)
    this.messages = this.messages.map((m) => (m === target ? next : m))
    // Quotes of a deleted original no longer show its content.
    if (change.deleted === true) {
      this.messages = this.messages.map((m) => {
        if (m.reply_to?.message_id !== target.message_id) return m
        const quoted = { ...m, reply_to: { ...m.reply_to, content: null, original: 'deleted' as const } }
        this.index.set(m.message_id, quoted)
        return quoted
      })
    }
    return true
  }
}
