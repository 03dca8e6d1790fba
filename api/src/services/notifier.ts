// Notifications after commit (docs/protocol.md, "Typing and notifications"). The sequencer's
// publisher hands every published batch to `enqueue`, which only queues its message deltas
// (bounded): posts are acknowledged and published without waiting for this. One worker per
// process then takes the messages in commit order, works out who should be told, and
// publishes {"action":"NOTIFICATION"} on each one's inbox at QoS 1 (so a persistent session
// gets it after reconnecting), plus a Web Push to the user's browsers.
import type { DeltaMetaJson, NotificationData } from '../../../clients/sdk/src/protocol.ts'
import { channelPermissions, has, isRole, PERMISSIONS, type Override } from '../../../clients/sdk/src/permissions.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'
import type { Config } from '../../../config/schema.ts'
import type { InboxPublisher } from '../publish/inbox-publisher.ts'
import type { DeltaPublisher } from '../sequencer/sequencer.ts'
import type { Store } from '../store/store.ts'
import type { ChannelRecord, DeltaRecord } from '../store/types.ts'
import type { Core } from './context.ts'
import { channelClass, DEFAULT_CHANNEL, effectiveSetting, type SettingRow } from './notifications.ts'
import { attachPush, PushSender, resolveVapid, type PushTarget } from './push.ts'

export interface NotifierLogger {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface NotifierStats {
  /** Messages taken from the queue and worked through. */
  messages: number
  /** NOTIFICATION events published on inboxes. */
  notified: number
  /** Messages not notified because the queue was full. */
  dropped: number
}

/** Users looked at per database round (one query per table per page). */
const PAGE = 500
const PREVIEW_CHARS = 100
/** How long close() lets the queue drain before dropping the rest. */
const CLOSE_DRAIN_MS = 5000

interface Recipient {
  userId: string
  mention: boolean
}

export class Notifier {
  readonly stats: NotifierStats = { messages: 0, notified: 0, dropped: 0 }
  private readonly queue: DeltaRecord[] = []
  private running: Promise<void> | null = null
  private closed = false
  private lastDropLog = 0
  /** Set by attach(): the inbox publisher of the process's Core. */
  private inbox: InboxPublisher | null = null

  constructor(
    private readonly store: Store,
    readonly push: PushSender | null,
    private readonly queueMax: number,
    private readonly log: NotifierLogger,
  ) {}

  /** The sequencer's publisher, telling this notifier about every batch after publishing it. */
  wrap(publisher: DeltaPublisher): DeltaPublisher {
    return {
      ...publisher,
      publish: async (deltas) => {
        try {
          await publisher.publish(deltas)
        } finally {
          // Committed either way: a failed live publish is recovered by SYNC, and still notified.
          this.enqueue(deltas)
        }
      },
    }
  }

  /** Publishes through the Core's inbox publisher; makes the push sender known to its requests (REGISTER_PUSH, the public key). */
  attach(core: Core): void {
    this.inbox = core.inbox
    attachPush(core, this.push)
    if (this.running === null && this.queue.length > 0) this.running = this.drain()
  }

  /** Queues the message deltas of a published batch; never waits. */
  enqueue(deltas: readonly DeltaRecord[]): void {
    if (this.closed) return
    for (const d of deltas) {
      if (d.type !== 'message') continue
      if (this.queue.length >= this.queueMax) {
        this.stats.dropped += 1
        if (Date.now() - this.lastDropLog > 10_000) {
          this.lastDropLog = Date.now()
          this.log.warn({ dropped: this.stats.dropped, queueMax: this.queueMax }, 'the notification queue is full; new messages are not notified')
        }
        continue
      }
      this.queue.push(d)
    }
    if (this.running === null && this.queue.length > 0 && this.inbox !== null) this.running = this.drain()
  }

  private async drain(): Promise<void> {
    // Let the publishes of this tick finish first.
    await new Promise<void>((r) => setImmediate(r))
    while (this.queue.length > 0) {
      const delta = this.queue.shift()!
      try {
        await this.notifyMessage(delta)
      } catch (err) {
        this.log.error({ err, deltaId: delta.deltaId.toString() }, 'notifying a message failed')
      }
      this.stats.messages += 1
    }
    this.running = null
  }

  /** Resolves once every queued message has been worked through (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running
  }

  /** Stops taking messages, lets the queue drain for a while, then drops the rest. */
  async close(): Promise<void> {
    this.closed = true
    const drained = this.idle()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), CLOSE_DRAIN_MS)))
    if ((await Promise.race([drained.then(() => 'done' as const), late])) === 'late') {
      this.stats.dropped += this.queue.length
      this.queue.length = 0
      await drained
    }
    clearTimeout(timer)
    await this.push?.close()
  }

  // ---- who is told, for one message

  private async notifyMessage(delta: DeltaRecord): Promise<void> {
    const channel = await this.store.directory.findChannel(delta.channelId)
    if (channel === null || !['text', 'voice', 'dm', 'group'].includes(channel.kind)) return
    const meta = parseMeta(delta.meta)
    const mentions = new Set(meta.mentions ?? [])
    const prisma = this.store.db.prisma
    const sender = await prisma.user.findUnique({ where: { id: delta.userId }, select: { displayName: true, deletedAt: true } })
    const secret = meta.expires_at !== undefined
    const base = {
      channel_id: channel.id,
      ...(channel.serverId !== null ? { server_id: channel.serverId } : {}),
      message_id: delta.deltaId.toString(),
      sender_id: delta.userId,
      sender_name: sender === null || sender.deletedAt !== null ? 'deleted user' : sender.displayName,
      preview: secret ? null : previewOf(delta.content ?? ''),
    }
    const overrides = channel.serverId === null ? [] : await this.overridesOf(channel.id)
    for await (const page of this.candidates(channel, mentions, delta.userId)) {
      const recipients = await this.decide(channel, overrides, page, mentions, delta.userId)
      if (recipients.length > 0) await this.deliver(recipients, base)
    }
  }

  private async overridesOf(channelId: string): Promise<Override[]> {
    const rows = await this.store.db.prisma.channelOverride.findMany({ where: { channelId } })
    return rows.map((o) => ({ targetType: o.targetType === 'user' ? 'user' : 'role', target: o.target, allow: o.allow, deny: o.deny }))
  }

  /**
   * Pages of users who might be told. A chat: its members. A server channel: the users it
   * mentions, those whose own setting for the channel is "all" (an index on
   * notification_settings), and for @everyone or @role the members (or those of the role),
   * read page by page. Never the whole membership otherwise.
   */
  private async *candidates(channel: ChannelRecord, mentions: Set<string>, authorId: string): AsyncGenerator<string[]> {
    const prisma = this.store.db.prisma
    if (channel.serverId === null) {
      let after = ''
      for (;;) {
        const rows = await prisma.chatMember.findMany({ where: { channelId: channel.id, userId: { gt: after } }, orderBy: { userId: 'asc' }, take: PAGE, select: { userId: true } })
        if (rows.length === 0) return
        after = rows[rows.length - 1]!.userId
        yield rows.map((r) => r.userId).filter((u) => u !== authorId)
        if (rows.length < PAGE) return
      }
    }
    const serverId = channel.serverId
    const roles = [...mentions].filter((m) => m.startsWith('role:')).map((m) => m.slice(5))
    const everyone = mentions.has('everyone')
    const seen = new Set<string>([authorId])
    if (!everyone) {
      const direct = [...mentions].filter((m) => m !== 'everyone' && !m.startsWith('role:') && isValidId(m) && !seen.has(m))
      direct.forEach((u) => seen.add(u))
      if (direct.length > 0) yield direct
      let after = ''
      for (;;) {
        const rows = await prisma.notificationSetting.findMany({ where: { channelId: channel.id, level: 'all', userId: { gt: after } }, orderBy: { userId: 'asc' }, take: PAGE, select: { userId: true } })
        if (rows.length === 0) break
        after = rows[rows.length - 1]!.userId
        const fresh = rows.map((r) => r.userId).filter((u) => !seen.has(u))
        fresh.forEach((u) => seen.add(u))
        if (fresh.length > 0) yield fresh
        if (rows.length < PAGE) break
      }
      if (roles.length === 0) return
    }
    let after = ''
    for (;;) {
      const rows = await prisma.serverMember.findMany({
        where: { serverId, userId: { gt: after }, ...(everyone ? {} : { role: { in: roles } }) },
        orderBy: { userId: 'asc' },
        take: PAGE,
        select: { userId: true },
      })
      if (rows.length === 0) return
      after = rows[rows.length - 1]!.userId
      // With @everyone the members are the only source, so nothing repeats and `seen` stays small.
      const fresh = rows.map((r) => r.userId).filter((u) => !seen.has(u))
      if (fresh.length > 0) yield fresh
      if (rows.length < PAGE) return
    }
  }

  /**
   * Who of a page is told, and whether as a mention: users who may read the channel, are
   * not its author, not deleted, have not blocked the author, and whose level (not muted)
   * asks for this message.
   */
  private async decide(channel: ChannelRecord, overrides: Override[], userIds: string[], mentions: Set<string>, authorId: string): Promise<Recipient[]> {
    if (userIds.length === 0) return []
    const prisma = this.store.db.prisma
    const [memberRows, settings, blocks, users] = await Promise.all([
      channel.serverId === null
        ? prisma.chatMember.findMany({ where: { channelId: channel.id, userId: { in: userIds } }, select: { userId: true, role: true } })
        : prisma.serverMember.findMany({ where: { serverId: channel.serverId, userId: { in: userIds } }, select: { userId: true, role: true } }),
      prisma.notificationSetting.findMany({ where: { userId: { in: userIds }, channelId: { in: [channel.id, DEFAULT_CHANNEL] } } }),
      prisma.block.findMany({ where: { userId: { in: userIds }, blockedId: authorId }, select: { userId: true } }),
      prisma.user.findMany({ where: { id: { in: userIds }, deletedAt: null }, select: { id: true } }),
    ])
    const roleOf = new Map(memberRows.map((m) => [m.userId, m.role]))
    const own = new Map<string, SettingRow>()
    const fallback = new Map<string, SettingRow>()
    for (const s of settings) (s.channelId === DEFAULT_CHANNEL ? fallback : own).set(s.userId, s)
    const blockers = new Set(blocks.map((b) => b.userId))
    const alive = new Set(users.map((u) => u.id))
    const cls = channelClass(channel)
    const now = Date.now()
    const out: Recipient[] = []
    for (const userId of userIds) {
      const role = roleOf.get(userId)
      if (userId === authorId || role === undefined || blockers.has(userId) || !alive.has(userId)) continue
      if (channel.serverId !== null && !(isRole(role) && has(channelPermissions(role, userId, overrides), PERMISSIONS.READ))) continue
      const eff = effectiveSetting(cls, own.get(userId), fallback.get(userId), now)
      if (eff.mutedUntil !== null || eff.level === 'none') continue
      const mention = mentions.has(userId) || mentions.has('everyone') || mentions.has(`role:${role}`)
      if (eff.level === 'mentions' && !mention) continue
      out.push({ userId, mention })
    }
    return out
  }

  /** Addresses each notification to the user's preferred device and publishes it; queues Web Push. */
  private async deliver(recipients: Recipient[], base: Omit<NotificationData, 'mention' | 'device'>): Promise<void> {
    const prisma = this.store.db.prisma
    const ids = recipients.map((r) => r.userId)
    const [users, devices, subs] = await Promise.all([
      prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, preferredClientId: true } }),
      prisma.device.findMany({ where: { userId: { in: ids }, revokedAt: null }, orderBy: [{ lastSeen: 'desc' }, { clientId: 'asc' }], select: { userId: true, clientId: true } }),
      this.push === null ? Promise.resolve([]) : prisma.pushSubscription.findMany({ where: { userId: { in: ids } }, select: { id: true, userId: true, endpoint: true, p256dh: true, auth: true } }),
    ])
    const preferred = new Map(users.map((u) => [u.id, u.preferredClientId]))
    const devicesOf = new Map<string, string[]>()
    for (const d of devices) {
      const list = devicesOf.get(d.userId) ?? []
      list.push(d.clientId)
      devicesOf.set(d.userId, list)
    }
    const pushOf = new Map<string, PushTarget[]>()
    for (const s of subs as (PushTarget & { userId: string })[]) {
      const list = pushOf.get(s.userId) ?? []
      list.push(s)
      pushOf.set(s.userId, list)
    }
    for (const r of recipients) {
      const mine = devicesOf.get(r.userId) ?? []
      const wanted = preferred.get(r.userId) ?? null
      const device = wanted !== null && mine.includes(wanted) ? wanted : (mine[0] ?? null)
      const envelope = { action: 'NOTIFICATION', data: { ...base, mention: r.mention, device } satisfies NotificationData }
      await this.inbox!.notify(r.userId, envelope)
      this.stats.notified += 1
      for (const target of pushOf.get(r.userId) ?? []) this.push!.enqueue(target, envelope)
    }
  }
}

function parseMeta(text: string | null): DeltaMetaJson {
  if (text === null) return {}
  try {
    const v = JSON.parse(text) as unknown
    return typeof v === 'object' && v !== null ? (v as DeltaMetaJson) : {}
  } catch {
    return {}
  }
}

/** The first PREVIEW_CHARS characters (code points, so no emoji is cut in half). */
function previewOf(content: string): string {
  const chars = Array.from(content)
  return chars.length <= PREVIEW_CHARS ? content : chars.slice(0, PREVIEW_CHARS).join('')
}

export interface NotificationsOptions {
  config: Config
  store: Store
  /** The embedded profile generates VAPID keys when none are configured. */
  embedded: boolean
  log: NotifierLogger & { info?(obj: object, msg: string): void }
}

/**
 * The notifier of an API process (embedded or sidecar), with Web Push when VAPID keys are
 * known. Wrap the sequencer's publisher with it, then attach it to the Core.
 */
export async function startNotifications(opts: NotificationsOptions): Promise<Notifier> {
  const vapid = await resolveVapid(opts.config, opts.embedded)
  if (vapid === null) {
    const why = 'Web Push is off: set CHIME_VAPID_PUBLIC_KEY and CHIME_VAPID_PRIVATE_KEY (the same pair on every API process)'
    if (opts.log.info !== undefined) opts.log.info({}, why)
    else opts.log.warn({}, why)
  }
  const push = vapid === null ? null : new PushSender(opts.store.db, vapid, opts.log)
  return new Notifier(opts.store, push, opts.config.notifyQueueMax, opts.log)
}
