// Notification settings (docs/protocol.md, "Typing and notifications"): per channel or chat
// and a user default (channel_id "*"), each a level (all, mentions, none) and an optional
// mute until a time; and the preferred device notifications are addressed to.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { NotificationSettingJson } from '../../../clients/sdk/src/protocol.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'
import { identityOf } from '../auth/identity.ts'
import type { Data } from '../requests/fields.ts'
import type { ChannelRecord } from '../store/types.ts'
import type { Caller, Core } from './context.ts'

export const NOTIFY_LEVELS = ['all', 'mentions', 'none'] as const
export type NotifyLevel = (typeof NOTIFY_LEVELS)[number]
/** The channel_id of a user's default setting. */
export const DEFAULT_CHANNEL = '*'
/** Mutes end within this many days at most. */
const MAX_MUTE_DAYS = 100 * 365

export function isNotifyLevel(v: unknown): v is NotifyLevel {
  return typeof v === 'string' && (NOTIFY_LEVELS as readonly string[]).includes(v)
}

/** Where a setting may apply: chats, and the text and voice channels of servers. */
export type ChannelClass = 'chat' | 'server-channel'

export function channelClass(channel: Pick<ChannelRecord, 'serverId'>): ChannelClass {
  return channel.serverId === null ? 'chat' : 'server-channel'
}

/**
 * Levels when the user set nothing: every message of a chat, only mentions in a server's
 * channels. A server channel may have a million members, so its posts notify those it
 * mentions and those who asked for that channel's every message, never all its members.
 */
export const BUILT_IN_LEVEL: Record<ChannelClass, NotifyLevel> = { chat: 'all', 'server-channel': 'mentions' }

export interface SettingRow {
  level: string
  mutedUntil: Date | null
}

export interface EffectiveSetting {
  level: NotifyLevel
  /** The latest mute in force (the channel's or the default's), or null. */
  mutedUntil: Date | null
  source: 'channel' | 'default' | 'built-in'
}

/**
 * The level and mute that apply: the channel's own setting, else the user's default ("*"),
 * else the built-in level. In server channels the default counts at most as "mentions":
 * every message of a server channel is had by asking for that channel, so finding who wants
 * them reads that channel's settings only (an index), not every member's default. A mute of
 * the default (do not disturb) holds everywhere.
 */
export function effectiveSetting(cls: ChannelClass, own: SettingRow | undefined, fallback: SettingRow | undefined, now = Date.now()): EffectiveSetting {
  const live = (d: Date | null | undefined): Date | null => (d !== null && d !== undefined && d.getTime() > now ? d : null)
  const mutes = [live(own?.mutedUntil), live(fallback?.mutedUntil)].filter((d): d is Date => d !== null)
  const mutedUntil = mutes.length === 0 ? null : new Date(Math.max(...mutes.map((d) => d.getTime())))
  if (own !== undefined && isNotifyLevel(own.level)) return { level: own.level, mutedUntil, source: 'channel' }
  if (fallback !== undefined && isNotifyLevel(fallback.level)) {
    const level = cls === 'server-channel' && fallback.level === 'all' ? 'mentions' : fallback.level
    return { level, mutedUntil, source: 'default' }
  }
  return { level: BUILT_IN_LEVEL[cls], mutedUntil, source: 'built-in' }
}

function settingJson(channelId: string, level: NotifyLevel | null, mutedUntil: Date | null): NotificationSettingJson {
  return { channel_id: channelId, level, muted_until: mutedUntil?.toISOString() ?? null }
}

/** channel_id: "*" or a channel or chat the caller may read (not a server's own log). */
async function settingTarget(core: Core, caller: Caller, data: Data): Promise<{ channelId: string; channel: ChannelRecord | null }> {
  const v = data['channel_id']
  if (v === DEFAULT_CHANNEL) return { channelId: DEFAULT_CHANNEL, channel: null }
  if (v === undefined) throw new ChatError('INVALID_FIELD', 'channel_id is required ("*" for your default)', { field: 'channel_id' })
  if (!isValidId(v)) throw new ChatError('INVALID_FIELD', 'channel_id must be an id or "*"', { field: 'channel_id' })
  const channel = await core.store.directory.readableChannel(caller.userId, v)
  if (channel.kind === 'server') throw new ChatError('INVALID_FIELD', "a server's own log has no messages to notify; name one of its channels", { field: 'channel_id' })
  return { channelId: v, channel }
}

function mutedUntilOf(data: Data, now: number): Date | null {
  const v = data['muted_until']
  if (v === undefined || v === null) return null
  const at = typeof v === 'string' ? new Date(v) : new Date(NaN)
  if (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(v as string)) throw new ChatError('INVALID_FIELD', 'muted_until must be an ISO time or null', { field: 'muted_until' })
  if (at.getTime() <= now) throw new ChatError('INVALID_FIELD', 'muted_until must be in the future (null unmutes)', { field: 'muted_until' })
  if (at.getTime() > now + MAX_MUTE_DAYS * 86_400_000) throw new ChatError('INVALID_FIELD', `muted_until must be within ${MAX_MUTE_DAYS} days`, { field: 'muted_until' })
  return at
}

/**
 * SET_NOTIFICATIONS {channel_id | "*", level: all|mentions|none|null, muted_until?: ISO|null}.
 * The setting is replaced as a whole; level null removes it (back to the default).
 */
export async function doSetNotifications(core: Core, caller: Caller, data: Data): Promise<NotificationSettingJson> {
  const now = Date.now()
  const level = data['level']
  if (level !== null && !isNotifyLevel(level)) throw new ChatError('INVALID_FIELD', 'level must be all, mentions, none, or null to remove the setting', { field: 'level' })
  const mutedUntil = mutedUntilOf(data, now)
  if (level === null && mutedUntil !== null) throw new ChatError('INVALID_FIELD', 'level null removes the setting; send a level to mute', { field: 'muted_until' })
  const { channelId } = await settingTarget(core, caller, data)
  const key = { userId_channelId: { userId: caller.userId, channelId } }
  if (level === null) {
    await core.store.db.prisma.notificationSetting.deleteMany({ where: { userId: caller.userId, channelId } })
    return settingJson(channelId, null, null)
  }
  await core.store.db.prisma.notificationSetting.upsert({ where: key, create: { userId: caller.userId, channelId, level, mutedUntil }, update: { level, mutedUntil } })
  return settingJson(channelId, level, mutedUntil)
}

export interface GetNotificationsAll {
  /** The user's default ("*"), or null when it set none. */
  default: NotificationSettingJson | null
  /** Levels used where the user set nothing. */
  built_in: Record<'chats' | 'server_channels', NotifyLevel>
  /** Every channel and chat with a setting of its own. */
  settings: NotificationSettingJson[]
  preferred_client_id: string | null
}

export interface GetNotificationsOne {
  channel_id: string
  level: NotifyLevel
  muted_until: string | null
  source: EffectiveSetting['source']
}

const MAX_LISTED_SETTINGS = 10_000

/** GET_NOTIFICATIONS {channel_id?}: the setting in force for one channel, or all of the caller's. */
export async function doGetNotifications(core: Core, caller: Caller, data: Data): Promise<GetNotificationsAll | GetNotificationsOne> {
  const prisma = core.store.db.prisma
  if (data['channel_id'] === undefined) {
    const [rows, user] = await Promise.all([
      prisma.notificationSetting.findMany({ where: { userId: caller.userId }, orderBy: { channelId: 'asc' }, take: MAX_LISTED_SETTINGS + 1 }),
      prisma.user.findUnique({ where: { id: caller.userId }, select: { preferredClientId: true } }),
    ])
    const fallback = rows.find((r) => r.channelId === DEFAULT_CHANNEL)
    return {
      default: fallback === undefined || !isNotifyLevel(fallback.level) ? null : settingJson(DEFAULT_CHANNEL, fallback.level, fallback.mutedUntil),
      built_in: { chats: BUILT_IN_LEVEL.chat, server_channels: BUILT_IN_LEVEL['server-channel'] },
      settings: rows.filter((r) => r.channelId !== DEFAULT_CHANNEL && isNotifyLevel(r.level)).slice(0, MAX_LISTED_SETTINGS).map((r) => settingJson(r.channelId, r.level as NotifyLevel, r.mutedUntil)),
      preferred_client_id: user?.preferredClientId ?? null,
    }
  }
  const { channelId, channel } = await settingTarget(core, caller, data)
  const rows = await prisma.notificationSetting.findMany({ where: { userId: caller.userId, channelId: { in: [channelId, DEFAULT_CHANNEL] } } })
  const own = rows.find((r) => r.channelId === channelId && channelId !== DEFAULT_CHANNEL)
  const fallback = rows.find((r) => r.channelId === DEFAULT_CHANNEL)
  // "*" alone: the default as a chat would see it.
  const eff = effectiveSetting(channel === null ? 'chat' : channelClass(channel), own, fallback)
  return { channel_id: channelId, level: eff.level, muted_until: eff.mutedUntil?.toISOString() ?? null, source: eff.source }
}

/**
 * SET_PREFERRED_DEVICE {client_id | null}: the device notifications are addressed to (one of
 * the caller's devices, not revoked); null goes back to the most recently seen device.
 */
export async function doSetPreferredDevice(core: Core, caller: Caller, data: Data): Promise<{ preferred_client_id: string | null }> {
  const v = data['client_id']
  if (v === undefined) throw new ChatError('INVALID_FIELD', 'client_id is required (null clears it)', { field: 'client_id' })
  if (v !== null) {
    if (!isValidId(v)) throw new ChatError('INVALID_FIELD', 'client_id must be a client id or null', { field: 'client_id' })
    const device = await identityOf(core).accounts.findDevice(v)
    if (device === null || device.userId !== caller.userId || device.revokedAt !== null) throw new ChatError('DEVICE_NOT_FOUND', 'client_id must be one of your devices that is not revoked')
  }
  await core.store.db.prisma.user.update({ where: { id: caller.userId }, data: { preferredClientId: v } })
  return { preferred_client_id: v }
}
