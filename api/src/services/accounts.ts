// Accounts and sign-in (docs/protocol.md, "Accounts and sign-in"): register, login, single
// sign-on, refresh, logout, password change, account deletion. Every sign-in is an
// auth_sessions row; its access tokens carry its id (sid) and die with it.
import { removeFilesOfDeletedUser } from '../files/files.ts'
import { timingSafeEqual } from 'node:crypto'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { announce, identityOf } from '../auth/identity.ts'
import { oidcUsername } from '../auth/oidc.ts'
import { hashPassword, verifyPassword } from '../auth/passwords.ts'
import { refreshTokenSession, sha256Hex, tombstoneUsername } from '../store/accounts.ts'
import { deleteAccount } from '../store/changes.ts'
import { optionalBoolean, requireString, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/
export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 256

export interface AuthAnswer {
  user_id: string
  /** The access token: HTTP Bearer and MQTT CONNECT password. */
  token: string
  /** Exchanged for a new access token (and a new refresh token) at POST /api/auth/refresh. */
  refresh_token: string
  /** The sign-in these tokens belong to. */
  session_id: string
  /** The MQTT CONNECT username. */
  username: string
  /** Seconds until the access token expires. */
  expires_in: number
}

function username(data: Data): string {
  const v = requireString(data, 'username')
  if (!USERNAME.test(v)) throw new ChatError('INVALID_FIELD', 'username must be 3 to 32 letters, digits, dots, dashes or underscores', { field: 'username' })
  return v
}

/** A password being set: 8 to 256 characters. */
function newPassword(data: Data, field: string): string {
  const v = requireString(data, field, { max: PASSWORD_MAX })
  if (v.length < PASSWORD_MIN) throw new ChatError('WEAK_PASSWORD', `${field} must have at least ${PASSWORD_MIN} characters`, { field, min: PASSWORD_MIN })
  return v
}

/** A password being checked. */
function givenPassword(data: Data, field: string): string {
  return requireString(data, field, { max: PASSWORD_MAX })
}

async function signIn(core: Core, user: { id: string; username: string }): Promise<AuthAnswer> {
  const { sessionId, refreshToken } = await identityOf(core).accounts.createSession(user.id, core.config.refreshTtlSeconds)
  const token = await core.tokens.issue({ userId: user.id, username: user.username, sessionId })
  return { user_id: user.id, token, refresh_token: refreshToken, session_id: sessionId, username: user.username, expires_in: core.config.tokenTtlSeconds }
}

export async function doRegister(core: Core, data: Data, from: string): Promise<AuthAnswer> {
  const name = username(data)
  identityOf(core).limiter.attempt(from, name)
  const password = newPassword(data, 'password')
  const user = await core.store.directory.createUser({ username: name, passwordHash: await hashPassword(password) })
  return signIn(core, user)
}

// A dummy hash verified when the user does not exist, so both failures take equal time.
let dummyHash: Promise<string> | undefined

export async function doLogin(core: Core, data: Data, from: string): Promise<AuthAnswer> {
  const name = username(data)
  identityOf(core).limiter.attempt(from, name)
  const password = givenPassword(data, 'password')
  const user = await identityOf(core).accounts.findUserByUsername(name)
  dummyHash ??= hashPassword('chime-dummy-password')
  const hash = user === null || user.passwordHash === '' ? await dummyHash : user.passwordHash
  const ok = await verifyPassword(hash, password)
  if (user === null || user.deletedAt !== null || user.passwordHash === '' || !ok) throw new ChatError('INVALID_CREDENTIALS')
  return signIn(core, user)
}

/** Single sign-on: an ID token of the configured OpenID Connect issuer; the first sign-in makes the account. */
export async function doOidcLogin(core: Core, data: Data, from: string): Promise<AuthAnswer & { created: boolean }> {
  const { limiter, oidc, accounts } = identityOf(core)
  limiter.attempt(from)
  if (oidc === null) throw new ChatError('SSO_NOT_CONFIGURED')
  const idToken = requireString(data, 'id_token', { min: 1, max: 16_384 })
  const who = await oidc.verify(idToken)
  const name = oidcUsername(who.issuer, who.subject)
  limiter.attempt(from, name)
  let user = await accounts.findUserByUsername(name)
  let created = false
  if (user === null) {
    try {
      await core.store.directory.createUser({ username: name, passwordHash: '', displayName: who.displayName ?? 'user' })
      created = true
    } catch (err) {
      if (!(err instanceof ChatError && err.code === 'USERNAME_TAKEN')) throw err
    }
    user = await accounts.findUserByUsername(name)
    if (user === null) throw new ChatError('INTERNAL')
  }
  return { ...(await signIn(core, user)), created }
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/**
 * Exchanges a refresh token for a new access token and a new refresh token. A token that
 * was already rotated revokes its sign-in (whoever holds the newer one is logged out too:
 * one of the two is a thief).
 */
export async function doRefresh(core: Core, data: Data, from: string): Promise<AuthAnswer> {
  const { limiter, accounts } = identityOf(core)
  const token = requireString(data, 'refresh_token', { min: 1, max: 256 })
  const sessionId = refreshTokenSession(token)
  limiter.attempt(from, sessionId === null ? undefined : `refresh:${sessionId}`)
  if (sessionId === null) throw new ChatError('REFRESH_TOKEN_INVALID')
  const session = await accounts.findSession(sessionId)
  if (session === null) throw new ChatError('REFRESH_TOKEN_INVALID')
  if (session.revokedAt !== null) throw new ChatError('SESSION_REVOKED')
  const hash = sha256Hex(token)
  const revoke = async (code: 'REFRESH_TOKEN_REUSED' | 'SESSION_REVOKED'): Promise<never> => {
    await accounts.revokeSession(sessionId)
    await announce(core, [{ type: 'sessions-revoked', userId: session.userId, sessionIds: [sessionId] }])
    throw new ChatError(code)
  }
  if (!sameHash(session.refreshHash, hash)) return revoke('REFRESH_TOKEN_REUSED')
  if (session.expiresAt.getTime() <= Date.now()) throw new ChatError('REFRESH_TOKEN_EXPIRED')
  const user = await accounts.findUser(session.userId)
  if (user === null || user.deletedAt !== null) return revoke('SESSION_REVOKED')
  const refreshToken = await accounts.rotate(sessionId, hash, core.config.refreshTtlSeconds)
  if (refreshToken === null) return revoke('REFRESH_TOKEN_REUSED')
  const access = await core.tokens.issue({ userId: user.id, username: user.username, sessionId })
  return { user_id: user.id, token: access, refresh_token: refreshToken, session_id: sessionId, username: user.username, expires_in: core.config.tokenTtlSeconds }
}

/** Revokes the caller's sign-in (`all: true`: every sign-in of the user); its MQTT connections are closed everywhere. */
export async function doLogout(core: Core, caller: Caller, data: Data): Promise<{ revoked_sessions: number }> {
  const { accounts } = identityOf(core)
  if (optionalBoolean(data, 'all') === true) {
    const ids = await accounts.revokeAllSessions(caller.userId)
    await announce(core, [{ type: 'sessions-revoked', userId: caller.userId }])
    return { revoked_sessions: ids.length }
  }
  if (caller.sessionId === undefined) throw new ChatError('UNAUTHENTICATED', 'log out with the token of the sign-in to end')
  await accounts.revokeSession(caller.sessionId)
  await announce(core, [{ type: 'sessions-revoked', userId: caller.userId, sessionIds: [caller.sessionId] }])
  return { revoked_sessions: 1 }
}

async function checkCurrentPassword(core: Core, caller: Caller, data: Data, field: string, from: string): Promise<{ id: string; passwordHash: string }> {
  const { limiter, accounts } = identityOf(core)
  const user = await accounts.findUser(caller.userId)
  if (user === null || user.deletedAt !== null) throw new ChatError('SESSION_REVOKED')
  if (user.passwordHash === '') {
    // Accounts made by single sign-on have no password; the token is the proof.
    if (data[field] !== undefined) givenPassword(data, field)
    return user
  }
  const password = givenPassword(data, field)
  limiter.attempt(from, user.username)
  if (!(await verifyPassword(user.passwordHash, password))) throw new ChatError('WRONG_PASSWORD')
  return user
}

/** Changes the password and revokes every other sign-in of the user. */
export async function doChangePassword(core: Core, caller: Caller, data: Data, from: string): Promise<{ revoked_sessions: number }> {
  const next = newPassword(data, 'new_password')
  const user = await checkCurrentPassword(core, caller, data, 'current_password', from)
  const others = await identityOf(core).accounts.changePassword(user.id, await hashPassword(next), caller.sessionId)
  if (others.length > 0) await announce(core, [{ type: 'sessions-revoked', userId: user.id, sessionIds: others }])
  return { revoked_sessions: others.length }
}

/**
 * Deletes the caller's account (store/changes.ts deleteAccount): its messages stay, every
 * membership ends as a delta, and the access events reach every node before those deltas.
 * Its uploads that no message carries are removed.
 */
export async function doDeleteAccount(core: Core, caller: Caller, data: Data, from: string): Promise<{ user_id: string; deleted: true }> {
  const user = await checkCurrentPassword(core, caller, data, 'password', from)
  const { result } = await core.sequencer.change(deleteAccount(user.id, tombstoneUsername(user.id)))
  // The bus has them already; this process's sign-in cache must not wait for the echo.
  const { gate } = identityOf(core)
  for (const e of result.events) gate.onAccessEvent(e)
  // Files no message carries go now; files in messages stay with the messages (docs/protocol.md, "Files").
  await removeFilesOfDeletedUser(core, user.id)
  return { user_id: user.id, deleted: true }
}
