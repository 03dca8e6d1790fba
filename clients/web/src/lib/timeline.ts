// One channel's messages as the chat view shows them: the pages LIST_MESSAGES answered
// (older ones added at the top), then every delta after the page's last_seq applied in seq
// order. Each change replaces the message object it touches, so views can compare by
// reference. No DOM here: the same code runs in tests.
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
  private readonly index = new Map<string, Msg>()

  constructor(readonly channelId: string, readonly me: string) {}

  /** The newest page: what the view starts from. */
  setLatestPage(page: { messages: MessageJson[]; has_more: boolean; last_seq: string }): void {
    this.messages = page.messages.map(fromMessageJson)
    this.index.clear()
    for (const m of this.messages) this.index.set(m.message_id, m)
    this.hasMore = page.has_more
    this.appliedSeq = Number(page.last_seq)
  }

  /** An older page, put above what is shown (messages already shown are kept as they are). */
  addOlderPage(page: { messages: MessageJson[]; has_more: boolean }): void {
    const older = page.messages.map(fromMessageJson).filter((m) => !this.index.has(m.message_id))
    for (const m of older) this.index.set(m.message_id, m)
    this.messages = [...older, ...this.messages]
    this.hasMore = page.has_more
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
    if (d.type === 'message') {
      this.upsert(fromMessageDelta(d))
      return true
    }
    const target = d.target_id === undefined ? undefined : this.index.get(d.target_id)
    if (target === undefined) return false
    switch (d.type) {
      case 'edit':
        return this.replace(target, { content: d.content, edited: true })
      case 'delete':
      case 'expired':
        return this.replace(target, { content: null, deleted: true, attachments: [], reactions: [], pinned: false })
      case 'pinned':
      case 'unpinned':
        return this.replace(target, { pinned: d.type === 'pinned' })
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
        return this.replace(target, { reactions })
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
    if (d.channel_id === this.channelId && d.type === 'message' && !this.index.has(d.delta_id) && Number(d.seq) > (this.oldestSeq ?? 0)) this.upsert(fromMessageDelta(d))
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
