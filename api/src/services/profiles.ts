// Profiles, finding users, favorites and blocks (docs/protocol.md, "Profiles, favorites and
// blocks"). A user's shareable id is its user_id; usernames can be looked up exactly.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'
import { announce, identityOf } from '../auth/identity.ts'
import { optionalBoolean, requireString, type Data } from '../requests/fields.ts'
import type { ProfileRow } from '../store/accounts.ts'
import type { Caller, Core } from './context.ts'
import { createChat } from '../store/changes.ts'

export const DELETED_DISPLAY_NAME = 'deleted user'

export interface PublicProfile {
  user_id: string
  /** null for a deleted account. */
  username: string | null
  display_name: string
  status_text: string | null
  timezone: string | null
  icon_file_id: string | null
  deleted?: true
}

export function publicProfile(u: ProfileRow): PublicProfile {
  if (u.deletedAt !== null) return { user_id: u.id, username: null, display_name: DELETED_DISPLAY_NAME, status_text: null, timezone: null, icon_file_id: null, deleted: true }
  return { user_id: u.id, username: u.username, display_name: u.displayName, status_text: u.statusText, timezone: u.timezone, icon_file_id: u.iconFileId }
}

/** The caller's own profile: the public one, when it was created, and its privacy settings. */
export type OwnProfile = PublicProfile & { created_at: string; hide_read_receipts: boolean }

function ownProfile(u: ProfileRow): OwnProfile {
  return { ...publicProfile(u), created_at: u.createdAt.toISOString(), hide_read_receipts: u.hideReadReceipts }
}

async function me(core: Core, caller: Caller): Promise<ProfileRow> {
  const u = await identityOf(core).accounts.findUser(caller.userId)
  if (u === null || u.deletedAt !== null) throw new ChatError('SESSION_REVOKED')
  return u
}

export async function doGetMe(core: Core, caller: Caller): Promise<OwnProfile> {
  return ownProfile(await me(core, caller))
}

/** Whether tz is an IANA time zone name this runtime knows (Intl.DateTimeFormat accepts it). */
export function isTimeZone(tz: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(tz)) return false
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

function nullableText(data: Data, field: string, max: number): string | null | undefined {
  const v = data[field]
  if (v === undefined) return undefined
  if (v === null) return null
  const s = requireString(data, field, { max }).trim()
  return s === '' ? null : s
}

export async function doUpdateMe(core: Core, caller: Caller, data: Data): Promise<OwnProfile> {
  await me(core, caller)
  const patch: { displayName?: string; statusText?: string | null; timezone?: string | null; iconFileId?: string | null; hideReadReceipts?: boolean } = {}
  if (data['display_name'] !== undefined) {
    const name = requireString(data, 'display_name', { max: 128 }).trim()
    if (name === '') throw new ChatError('INVALID_FIELD', 'display_name must not be blank', { field: 'display_name' })
    patch.displayName = name
  }
  const status = nullableText(data, 'status_text', 256)
  if (status !== undefined) patch.statusText = status
  const tz = nullableText(data, 'timezone', 64)
  if (tz !== undefined) {
    if (tz !== null && !isTimeZone(tz)) throw new ChatError('INVALID_FIELD', 'timezone must be an IANA time zone name such as Europe/Berlin', { field: 'timezone' })
    patch.timezone = tz
  }
  const icon = data['icon_file_id']
  if (icon !== undefined) {
    if (icon !== null && !isValidId(icon)) throw new ChatError('INVALID_FIELD', 'icon_file_id must be a file id or null', { field: 'icon_file_id' })
    patch.iconFileId = icon
  }
  const hide = optionalBoolean(data, 'hide_read_receipts')
  if (hide !== undefined) patch.hideReadReceipts = hide
  return ownProfile(await identityOf(core).accounts.updateProfile(caller.userId, patch))
}

/** Any user's public profile; a deleted account shows as "deleted user". */
export async function doGetUser(core: Core, userId: string): Promise<PublicProfile> {
  const u = await identityOf(core).accounts.findUser(userId)
  if (u === null) throw new ChatError('USER_NOT_FOUND')
  return publicProfile(u)
}

/** Finds a user by its exact username. */
export async function doFindUser(core: Core, query: Record<string, unknown>): Promise<PublicProfile> {
  const name = query['username']
  if (typeof name !== 'string' || name.length === 0 || name.length > 64) throw new ChatError('INVALID_FIELD', 'username must be given (?username=...)', { field: 'username' })
  const u = await identityOf(core).accounts.findUserByUsername(name)
  if (u === null || u.deletedAt !== null) throw new ChatError('USER_NOT_FOUND')
  return publicProfile(u)
}

/** The other user of a favorite or block: existing and not deleted. */
async function otherUser(core: Core, caller: Caller, userId: string, self: 'CANNOT_FAVORITE_SELF' | 'CANNOT_BLOCK_SELF'): Promise<ProfileRow> {
  if (userId === caller.userId) throw new ChatError(self)
  const u = await identityOf(core).accounts.findUser(userId)
  if (u === null) throw new ChatError('USER_NOT_FOUND')
  if (u.deletedAt !== null) throw new ChatError('USER_DELETED')
  return u
}

async function profiles(core: Core, rows: { userId: string; since: Date }[], sinceField: string): Promise<object[]> {
  const users = new Map((await identityOf(core).accounts.findUsers(rows.map((r) => r.userId))).map((u) => [u.id, u]))
  return rows.flatMap((r) => {
    const u = users.get(r.userId)
    return u === undefined ? [] : [{ ...publicProfile(u), [sinceField]: r.since.toISOString() }]
  })
}

/**
 * Adds a favorite, and opens the pair's 1:1 chat (seed 004: chats begin on favoriting or on
 * a first message). When either blocked the other there is no chat: chat_id is null.
 */
export async function doAddFavorite(core: Core, caller: Caller, userId: string): Promise<{ user_id: string; favorite: true; added: boolean; chat_id: string | null }> {
  await otherUser(core, caller, userId, 'CANNOT_FAVORITE_SELF')
  const { relations } = identityOf(core)
  const added = await relations.addFavorite(caller.userId, userId)
  const chatId = (await relations.blockedEither(caller.userId, userId)) ? null : (await core.sequencer.change(createChat(caller.userId, [userId]))).result.chatId
  return { user_id: userId, favorite: true, added, chat_id: chatId }
}

export async function doRemoveFavorite(core: Core, caller: Caller, userId: string): Promise<{ user_id: string; favorite: false; removed: boolean }> {
  if (userId === caller.userId) throw new ChatError('CANNOT_FAVORITE_SELF')
  const removed = await identityOf(core).relations.removeFavorite(caller.userId, userId)
  return { user_id: userId, favorite: false, removed }
}

export async function doListFavorites(core: Core, caller: Caller): Promise<{ favorites: object[] }> {
  return { favorites: await profiles(core, await identityOf(core).relations.favorites(caller.userId), 'favorited_at') }
}

/** Blocks a user; broker nodes then re-check who may watch the blocker's presence. */
export async function doBlock(core: Core, caller: Caller, userId: string): Promise<{ user_id: string; blocked: true; added: boolean }> {
  await otherUser(core, caller, userId, 'CANNOT_BLOCK_SELF')
  const added = await identityOf(core).relations.block(caller.userId, userId)
  if (added) await announce(core, [{ type: 'presence', userId: caller.userId }])
  return { user_id: userId, blocked: true, added }
}

export async function doUnblock(core: Core, caller: Caller, userId: string): Promise<{ user_id: string; blocked: false; removed: boolean }> {
  if (userId === caller.userId) throw new ChatError('CANNOT_BLOCK_SELF')
  const removed = await identityOf(core).relations.unblock(caller.userId, userId)
  if (removed) await announce(core, [{ type: 'presence', userId: caller.userId }])
  return { user_id: userId, blocked: false, removed }
}

export async function doListBlocks(core: Core, caller: Caller): Promise<{ blocks: object[] }> {
  return { blocks: await profiles(core, await identityOf(core).relations.blocked(caller.userId), 'blocked_at') }
}
