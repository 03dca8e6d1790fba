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

/** Messages worked through together, at most. */
const BATCH_MAX = 500

interface Recipient {
  userId: string
  mention: boolean
}

type NotificationBase = Omit<NotificationData, 'mention' | 'device'>

interface Message {
  authorId: string
  mentions: Set<string>
  everyone: boolean
  base: NotificationBase
}

interface Facts {
  roleOf: Map<string, string>
  own: Map<string, SettingRow>
  fallback: Map<string, SettingRow>
  /** "<user> <author>" for each author the user blocked. */
  blocked: Set<string>
  alive: Set<string>
}

interface Delivery {
  preferred: Map<string, string | null>
  devicesOf: Map<string, string[]>
  pushOf: Map<string, PushTarget[]>
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
      // Everything queued meanwhile is worked through together: the database is asked once
      // per channel and page of users for the whole batch, not once per message.
      const batch = this.queue.splice(0, BATCH_MAX)
      try {
        await this.notifyBatch(batch)
      } catch (err) {
        this.log.error({ err, messages: batch.length, firstDeltaId: batch[0]!.deltaId.toString() }, 'notifying messages failed')
      }
      this.stats.messages += batch.length
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

  // ---- who is told, for a batch of messages

  /** Channels are independent: one failing channel does not keep the others' notifications. */
  private async notifyBatch(batch: DeltaRecord[]): Promise<void> {
    const byChannel = new Map<string, DeltaRecord[]>()
    for (const d of batch) {
      const list = byChannel.get(d.channelId)
      if (list === undefined) byChannel.set(d.channelId, [d])
      else list.push(d)
    }
    const senderIds = [...new Set(batch.map((d) => d.userId))]
    const senders = await this.store.db.prisma.user.findMany({ where: { id: { in: senderIds } }, select: { id: true, displayName: true, deletedAt: true } })
    const nameOf = new Map(senders.map((s) => [s.id, s.deletedAt === null ? s.displayName : 'deleted user']))
    for (const [channelId, deltas] of byChannel) {
      try {
        await this.notifyChannel(channelId, deltas, nameOf)
      } catch (err) {
        this.log.error({ err, channelId, messages: deltas.length, firstDeltaId: deltas[0]!.deltaId.toString() }, 'notifying messages failed')
      }
    }
  }

  private async notifyChannel(channelId: string, deltas: DeltaRecord[], nameOf: Map<string, string>): Promise<void> {
    const channel = await this.store.directory.findChannel(channelId)
    if (channel === null || !['text', 'voice', 'dm', 'group'].includes(channel.kind)) return
    const messages: Message[] = deltas.map((delta) => {
      const meta = parseMeta(delta.meta)
      const mentions = new Set(meta.mentions ?? [])
      return {
        authorId: delta.userId,
        mentions,
        everyone: mentions.has('everyone'),
        base: {
          channel_id: channel.id,
          ...(channel.serverId !== null ? { server_id: channel.serverId } : {}),
          message_id: delta.deltaId.toString(),
          sender_id: delta.userId,
          sender_name: nameOf.get(delta.userId) ?? 'deleted user',
          preview: meta.expires_at !== undefined ? null : previewOf(delta.content ?? ''),
        },
      }
    })
    const overrides = channel.serverId === null ? [] : await this.overridesOf(channel.id)
    const authors = [...new Set(messages.map((m) => m.authorId))]
    for await (const page of this.candidates(channel, messages)) {
      const facts = await this.factsOf(channel, page, authors)
      const perMessage = messages.map((m) => this.decide(channel, overrides, facts, page, m))
      const told = [...new Set(perMessage.flat().map((r) => r.userId))]
      if (told.length === 0) continue
      const devices = await this.devicesOf(told)
      // Message by message, in commit order, so each user's notifications keep that order.
      for (let i = 0; i < messages.length; i++) await this.deliver(perMessage[i]!, messages[i]!.base, devices)
    }
  }

  private async overridesOf(channelId: string): Promise<Override[]> {
    const rows = await this.store.db.prisma.channelOverride.findMany({ where: { channelId } })
    return rows.map((o) => ({ targetType: o.targetType === 'user' ? 'user' : 'role', target: o.target, allow: o.allow, deny: o.deny }))
  }

  /**
   * Pages of users who might be told of at least one of the messages. A chat: its members.
   * A server channel: the users the messages mention, those whose own setting for the
   * channel is "all" (an index on notification_settings), and for @everyone or @role the
   * members (or those of the roles), read page by page. Never the whole membership
   * otherwise. Which message each candidate is for is decided per message (`decide`).
   */
  private async *candidates(channel: ChannelRecord, messages: Message[]): AsyncGenerator<string[]> {
    const prisma = this.store.db.prisma
    if (channel.serverId === null) {
      let after = ''
      for (;;) {
        const rows = await prisma.chatMember.findMany({ where: { channelId: channel.id, userId: { gt: after } }, orderBy: { userId: 'asc' }, take: PAGE, select: { userId: true } })
        if (rows.length === 0) return
        after = rows[rows.length - 1]!.userId
        yield rows.map((r) => r.userId)
        if (rows.length < PAGE) return
      }
    }
    const serverId = channel.serverId
    const everyone = messages.some((m) => m.everyone)
    const roles = [...new Set(messages.flatMap((m) => [...m.mentions].filter((x) => x.startsWith('role:')).map((x) => x.slice(5))))]
    const seen = new Set<string>()
    if (!everyone) {
      const direct = [...new Set(messages.flatMap((m) => [...m.mentions].filter((x) => x !== 'everyone' && !x.startsWith('role:') && isValidId(x))))]
      direct.forEach((u) => seen.add(u))
      for (let i = 0; i < direct.length; i += PAGE) yield direct.slice(i, i + PAGE)
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

  /** What decides about a page of users: their role, settings, blocks of the authors, and who is not deleted. */
  private async factsOf(channel: ChannelRecord, userIds: string[], authors: string[]): Promise<Facts> {
    const prisma = this.store.db.prisma
    const [memberRows, settings, blocks, users] = await Promise.all([
      channel.serverId === null
        ? prisma.chatMember.findMany({ where: { channelId: channel.id, userId: { in: userIds } }, select: { userId: true, role: true } })
        : prisma.serverMember.findMany({ where: { serverId: channel.serverId, userId: { in: userIds } }, select: { userId: true, role: true } }),
      prisma.notificationSetting.findMany({ where: { userId: { in: userIds }, channelId: { in: [channel.id, DEFAULT_CHANNEL] } } }),
      prisma.block.findMany({ where: { userId: { in: userIds }, blockedId: { in: authors } }, select: { userId: true, blockedId: true } }),
      prisma.user.findMany({ where: { id: { in: userIds }, deletedAt: null }, select: { id: true } }),
    ])
    const own = new Map<string, SettingRow>()
    const fallback = new Map<string, SettingRow>()
    for (const s of settings) (s.channelId === DEFAULT_CHANNEL ? fallback : own).set(s.userId, s)
    return {
      roleOf: new Map(memberRows.map((m) => [m.userId, m.role])),
      own,
      fallback,
      blocked: new Set(blocks.map((b) => `${b.userId} ${b.blockedId}`)),
      alive: new Set(users.map((u) => u.id)),
    }
  }

  /**
   * Who of a page is told of one message, and whether as a mention: candidates for this
   * message (see `candidates`) who may read the channel, are not its author, not deleted,
   * have not blocked the author, and whose level (not muted) asks for this message.
   */
  private decide(channel: ChannelRecord, overrides: Override[], facts: Facts, userIds: string[], m: Message): Recipient[] {
    const cls = channelClass(channel)
    const now = Date.now()
    const out: Recipient[] = []
    for (const userId of userIds) {
      const role = facts.roleOf.get(userId)
      if (userId === m.authorId || role === undefined || facts.blocked.has(`${userId} ${m.authorId}`) || !facts.alive.has(userId)) continue
      const own = facts.own.get(userId)
      if (channel.serverId !== null) {
        const candidate = m.everyone || m.mentions.has(userId) || m.mentions.has(`role:${role}`) || own?.level === 'all'
        if (!candidate) continue
        if (!(isRole(role) && has(channelPermissions(role, userId, overrides), PERMISSIONS.READ))) continue
      }
      const eff = effectiveSetting(cls, own, facts.fallback.get(userId), now)
      if (eff.mutedUntil !== null || eff.level === 'none') continue
      const mention = m.mentions.has(userId) || m.everyone || m.mentions.has(`role:${role}`)
      if (eff.level === 'mentions' && !mention) continue
      out.push({ userId, mention })
    }
    return out
  }

  /** Where each user's notifications go: the preferred (or most recent) device, and Web Push subscriptions. */
  private async devicesOf(ids: string[]): Promise<Delivery> {
    const prisma = this.store.db.prisma
    const [users, devices, subs] = await Promise.all([
      prisma.user.findMany({ where: { id: { in: ids } }, select: { id: true, preferredClientId: true } }),
      prisma.device.findMany({ where: { userId: { in: ids }, revokedAt: null }, orderBy: [{ lastSeen: 'desc' }, { clientId: 'asc' }], select: { userId: true, clientId: true } }),
      this.push === null ? Promise.resolve([]) : prisma.pushSubscription.findMany({ where: { userId: { in: ids } }, select: { id: true, userId: true, endpoint: true, p256dh: true, auth: true } }),
    ])
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
    return { preferred: new Map(users.map((u) => [u.id, u.preferredClientId])), devicesOf, pushOf }
  }

  /** Addresses each notification to the user's preferred device and publishes it; queues Web Push. */
  private async deliver(recipients: Recipient[], base: NotificationBase, delivery: Delivery): Promise<void> {
    for (const r of recipients) {
      const mine = delivery.devicesOf.get(r.userId) ?? []
      const wanted = delivery.preferred.get(r.userId) ?? null
      const device = wanted !== null && mine.includes(wanted) ? wanted : (mine[0] ?? null)
      const envelope = { action: 'NOTIFICATION', data: { ...base, mention: r.mention, device } satisfies NotificationData }
      await this.inbox!.notify(r.userId, envelope)
      this.stats.notified += 1
      for (const target of delivery.pushOf.get(r.userId) ?? []) this.push!.enqueue(target, envelope)
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
