// Accounts and sign-in: auth sessions with rotating refresh tokens, logout, password change
// and account deletion, and their revocation honoured by the HTTP API and by every broker
// node (live connections closed, CONNACK 5 on reconnect). The revocation suite runs on the
// embedded profile, on MariaDB + Redis in one process, and on a real cluster of processes.
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { createHash, randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { SessionGate } from '../../api/src/auth/session-gate.ts'
import { startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { spawnChime } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'
import { defer } from '../helpers/cleanup.ts'
import { connackCode, disconnected, expectError } from '../helpers/expect.ts'
import type { AuthAnswer } from '../../api/src/services/accounts.ts'

type Auth = AuthAnswer

interface ErrorBody {
  action: string
  data: { code: string; message: string; details?: Record<string, unknown> }
}

const PASSWORD = 'correct horse battery'
const REFRESH_TTL = 7200

let counter = 0
const uniqueName = (prefix: string): string => `${prefix}${process.pid % 10000}x${++counter}`

async function login(chime: TestChime, username: string, password = PASSWORD): Promise<Auth> {
  const res = await chime.http<Auth>('POST', '/api/auth/login', { body: { username, password } })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

async function register(chime: TestChime, prefix = 'acct'): Promise<Auth & TestUser> {
  const username = uniqueName(prefix)
  const res = await chime.http<Auth>('POST', '/api/auth/register', { body: { username, password: PASSWORD } })
  if (res.status !== 200) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`)
  return { ...res.body, username }
}

const asUser = (a: Auth): TestUser => ({ user_id: a.user_id, token: a.token, username: a.username })

/** The revocation suite: the same checks on every profile. */
async function revocationSuite(t: Test, chime: TestChime): Promise<void> {
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())

  await t.test('register and login answer tokens of a new auth session', async (t) => {
    const reg = await register(chime)
    t.match(reg, { user_id: String, token: String, refresh_token: String, session_id: String, username: reg.username }, 'register answers the public contract and more')
    t.equal(decodeJwt(reg.token)['sid'], reg.session_id, 'the access token carries the session id as sid')
    const row = await db.prisma.authSession.findUnique({ where: { id: reg.session_id } })
    t.ok(row, 'an auth_sessions row')
    t.equal(row!.userId, reg.user_id)
    t.equal(row!.refreshHash, createHash('sha256').update(reg.refresh_token).digest('hex'), 'the refresh token is stored as its SHA-256')
    t.not(row!.refreshHash, reg.refresh_token)
    const ttl = (row!.expiresAt.getTime() - Date.now()) / 1000
    t.ok(ttl > REFRESH_TTL - 120 && ttl <= REFRESH_TTL + 5, `expires after CHIME_REFRESH_TTL_SECONDS (${Math.round(ttl)} s)`)
    t.equal(row!.revokedAt, null)
    const again = await login(chime, reg.username)
    t.equal(again.user_id, reg.user_id)
    t.not(again.session_id, reg.session_id, 'each login is a new auth session')
    for (const token of [reg.token, again.token]) t.equal((await chime.http('GET', '/api/users/me', { token })).status, 200, 'both tokens work')
  })

  await t.test('refresh rotates; a reused refresh token revokes the sign-in everywhere', async (t) => {
    const user = await register(chime)
    const s1 = await login(chime, user.username)
    const phone = await chime.connect(asUser(s1), { clientId: uniqueName('rot') })
    const r2 = await chime.http<Auth>('POST', '/api/auth/refresh', { body: { refresh_token: s1.refresh_token } })
    t.equal(r2.status, 200, 'refresh answers')
    const s2 = r2.body
    t.equal(s2.session_id, s1.session_id, 'same auth session')
    t.not(s2.refresh_token, s1.refresh_token, 'a new refresh token')
    t.equal(decodeJwt(s2.token)['sid'], s1.session_id)
    t.equal((await chime.http('GET', '/api/users/me', { token: s2.token })).status, 200, 'the new access token works')
    const s3 = (await chime.http<Auth>('POST', '/api/auth/refresh', { body: { refresh_token: s2.refresh_token } })).body
    t.ok(s3.refresh_token, 'the rotated token refreshes again')
    t.equal(phone.connected, true, 'refreshing does not disconnect')

    expectError(t, await chime.http('POST', '/api/auth/refresh', { body: { refresh_token: s1.refresh_token } }), 401, 'REFRESH_TOKEN_REUSED', 'the first refresh token again')
    t.ok((await db.prisma.authSession.findUnique({ where: { id: s1.session_id } }))!.revokedAt, 'the auth session is revoked')
    expectError(t, await chime.http('POST', '/api/auth/refresh', { body: { refresh_token: s3.refresh_token } }), 401, 'SESSION_REVOKED', 'the newest refresh token of that sign-in')
    expectError(t, await chime.http('GET', '/api/users/me', { token: s3.token }), 401, 'SESSION_REVOKED', 'its access token on the next request')
    await disconnected(phone, 'the live connection of the sign-in to close')
    t.equal(await connackCode(chime.mqttUrl, { username: user.username, password: s1.token, clientId: uniqueName('rot') }), 5, 'reconnecting with its token: CONNACK 5')
    t.equal((await chime.http('GET', '/api/users/me', { token: user.token })).status, 200, "the user's other sign-in still works")
  })

  await t.test('logout closes the sign-in on HTTP and on every MQTT transport, and nothing else', async (t) => {
    const user = await register(chime)
    const a = await login(chime, user.username)
    const b = await login(chime, user.username)
    const aTcp = await chime.connect(asUser(a), { clientId: uniqueName('lo-tcp') })
    const aWs = await chime.connect(asUser(a), { clientId: uniqueName('lo-ws'), transport: 'ws' })
    const bTcp = await chime.connect(asUser(b), { clientId: uniqueName('lo-b') })
    t.equal((await chime.http('GET', '/api/users/me', { token: a.token })).status, 200, 'the token works (and is cached)')

    const out = await chime.http<{ revoked_sessions: number }>('POST', '/api/auth/logout', { token: a.token })
    t.equal(out.status, 200, 'logout answers')
    expectError(t, await chime.http('GET', '/api/users/me', { token: a.token }), 401, 'SESSION_REVOKED', 'the very next request with the logged-out token')
    await disconnected(aTcp, 'the TCP connection of the sign-in to close')
    await disconnected(aWs, 'the WebSocket connection of the sign-in to close')
    t.equal(await connackCode(chime.mqttUrl, { username: user.username, password: a.token }), 5, 'reconnect with the old token: CONNACK 5')
    t.equal(await connackCode(chime.wsUrl, { username: user.username, password: a.token }), 5, 'over WebSocket too')
    expectError(t, await chime.http('POST', '/api/auth/refresh', { body: { refresh_token: a.refresh_token } }), 401, 'SESSION_REVOKED', 'its refresh token')

    t.equal(bTcp.connected, true, 'the other sign-in stays connected')
    t.equal((await chime.http('GET', '/api/users/me', { token: b.token })).status, 200, 'and its token works')
    t.equal(await connackCode(chime.mqttUrl, { username: user.username, password: b.token }), 0, 'and connects')

    const all = await chime.http<{ revoked_sessions: number }>('POST', '/api/auth/logout', { token: b.token, body: { all: true } })
    t.equal(all.status, 200)
    t.ok(all.body.revoked_sessions >= 2, 'logout everywhere revokes every sign-in of the user')
    await disconnected(bTcp, 'every connection of the user to close')
    expectError(t, await chime.http('GET', '/api/users/me', { token: user.token }), 401, 'SESSION_REVOKED', 'the registration token too')
  })

  await t.test('a password change revokes every other sign-in; refused changes change nothing', async (t) => {
    const user = await register(chime)
    const a = await login(chime, user.username)
    const b = await login(chime, user.username)
    const bClient = await chime.connect(asUser(b), { clientId: uniqueName('pw-b') })
    const change = (body: object) => chime.http('POST', '/api/auth/password', { token: a.token, body })
    expectError(t, await change({ current_password: 'not the password', new_password: 'another good one' }), 403, 'WRONG_PASSWORD', 'a wrong current password')
    expectError(t, await change({ current_password: PASSWORD, new_password: 'short' }), 400, 'WEAK_PASSWORD', 'a new password under 8 characters')
    expectError(t, await change({ current_password: PASSWORD, new_password: 'x'.repeat(257) }), 400, 'INVALID_FIELD', 'a new password over 256 characters')
    expectError(t, await change({ new_password: 'another good one' }), 400, 'INVALID_FIELD', 'no current password')
    t.equal(bClient.connected, true, 'refused changes revoke nothing')
    t.equal((await chime.http('POST', '/api/auth/login', { body: { username: user.username, password: PASSWORD } })).status, 200, 'the old password still works')

    const ok = await change({ current_password: PASSWORD, new_password: 'a brand new password' })
    t.equal(ok.status, 200, 'the change answers')
    t.ok((ok.body as { revoked_sessions: number }).revoked_sessions >= 3, 'the other sign-ins were revoked')
    await disconnected(bClient, "another sign-in's connection to close")
    expectError(t, await chime.http('GET', '/api/users/me', { token: b.token }), 401, 'SESSION_REVOKED', "another sign-in's token")
    t.equal(await connackCode(chime.mqttUrl, { username: user.username, password: b.token }), 5, 'another sign-in reconnecting: CONNACK 5')
    t.equal((await chime.http('GET', '/api/users/me', { token: a.token })).status, 200, "the changer's own sign-in goes on")
    t.equal(await connackCode(chime.mqttUrl, { username: user.username, password: a.token }), 0, 'and connects')
    expectError(t, await chime.http('POST', '/api/auth/login', { body: { username: user.username, password: PASSWORD } }), 401, 'INVALID_CREDENTIALS', 'the old password')
    t.equal((await chime.http('POST', '/api/auth/login', { body: { username: user.username, password: 'a brand new password' } })).status, 200, 'the new password')
  })

  await t.test('deleting an account keeps its messages and removes everything else', async (t) => {
    const alice = await register(chime, 'alice')
    const bob = await register(chime, 'bob')
    const carol = await register(chime, 'carol')
    const post = async <T>(path: string, token: string, body: object = {}): Promise<T> => {
      const res = await chime.http<T>('POST', path, { token, body })
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`)
      return res.body
    }
    const own = await post<{ server_id: string; channel_id: string }>('/api/servers', alice.token, { name: 'Alice server' })
    await post(`/api/servers/${own.server_id}/join`, bob.token)
    const lonely = await post<{ server_id: string }>('/api/servers', alice.token, { name: 'Only Alice' })
    const bobs = await post<{ server_id: string; channel_id: string }>('/api/servers', bob.token, { name: 'Bob server' })
    await post(`/api/servers/${bobs.server_id}/join`, alice.token)
    const dm = await post<{ chat_id: string }>('/api/chats', alice.token, { user_ids: [bob.user_id] })
    const group = await post<{ chat_id: string }>('/api/chats', alice.token, { user_ids: [bob.user_id, carol.user_id] })
    const msg = await post<{ data: { delta_id: string } }>('/api/post/', alice.token, { action: 'POST_MESSAGE', data: { channel_id: bobs.channel_id, content: 'I was here' } })
    await post('/api/post/', alice.token, { action: 'POST_MESSAGE', data: { channel_id: dm.chat_id, content: 'hi bob' } })
    t.equal((await chime.http('PUT', `/api/favorites/${bob.user_id}`, { token: alice.token })).status, 200)
    t.equal((await chime.http('PUT', `/api/favorites/${alice.user_id}`, { token: bob.token })).status, 200)
    t.equal((await chime.http('PUT', `/api/blocks/${carol.user_id}`, { token: alice.token })).status, 200)
    const client = await chime.connect(asUser(alice), { clientId: uniqueName('del') })
    const deltasBefore = await db.prisma.delta.count({ where: { userId: alice.user_id, type: 'message' } })
    t.ok(deltasBefore >= 2)

    expectError(t, await chime.http('DELETE', '/api/users/me', { token: alice.token, body: { password: 'not the password' } }), 403, 'WRONG_PASSWORD', 'a wrong password')
    expectError(t, await chime.http('DELETE', '/api/users/me', { token: alice.token }), 400, 'INVALID_FIELD', 'no password')
    t.equal((await db.prisma.user.findUnique({ where: { id: alice.user_id } }))!.deletedAt, null, 'refused deletions change nothing')
    t.equal(client.connected, true)

    const del = await chime.http('DELETE', '/api/users/me', { token: alice.token, body: { password: PASSWORD } })
    t.equal(del.status, 200, 'deletion answers')
    const row = (await db.prisma.user.findUnique({ where: { id: alice.user_id } }))!
    t.ok(row.deletedAt, 'deleted_at is set')
    t.not(row.username, alice.username, 'the username is replaced by a tombstone')
    t.equal(row.passwordHash, '', 'no password hash')
    t.same([row.statusText, row.timezone, row.iconFileId], [null, null, null], 'no profile fields')
    t.equal(await db.prisma.favorite.count({ where: { OR: [{ userId: alice.user_id }, { favoriteId: alice.user_id }] } }), 0, 'favorites gone')
    t.equal(await db.prisma.block.count({ where: { OR: [{ userId: alice.user_id }, { blockedId: alice.user_id }] } }), 0, 'blocks gone')
    t.equal(await db.prisma.serverMember.count({ where: { userId: alice.user_id } }), 0, 'server memberships gone')
    t.equal(await db.prisma.chatMember.count({ where: { userId: alice.user_id } }), 0, 'chat memberships gone')
    t.equal(await db.prisma.authSession.count({ where: { userId: alice.user_id, revokedAt: null } }), 0, 'every sign-in revoked')
    t.equal(await db.prisma.delta.count({ where: { userId: alice.user_id, type: 'message' } }), deltasBefore, 'her messages stay')
    const recorded = async (channelId: string): Promise<string[]> =>
      (await db.prisma.delta.findMany({ where: { channelId, userId: alice.user_id, type: { not: 'message' } }, orderBy: { id: 'asc' } })).map((d) => d.type).filter((type) => type !== 'server_created' && type !== 'chat_created' && type !== 'member_joined')
    t.same(await recorded(own.server_id), ['owner_transferred', 'member_left'], "her server's log records the hand-over and her leaving")
    t.same(await recorded(bobs.server_id), ['member_left'], "Bob's server log records her leaving")
    t.same(await recorded(lonely.server_id), ['server_deleted'], 'the server she was alone in records its deletion')
    t.same(await recorded(group.chat_id), ['chat_member_left', 'chat_admin'], 'the group records her leaving and its new admin')
    t.same(await recorded(dm.chat_id), ['chat_member_left'], 'so does the 1:1 chat')
    t.ok(await db.prisma.delta.findUnique({ where: { id: BigInt(msg.data.delta_id) } }), 'the very delta is untouched')
    const server = (await db.prisma.server.findUnique({ where: { id: own.server_id } }))!
    t.equal(server.ownerId, bob.user_id, 'her server passes to its remaining member')
    t.equal((await db.prisma.serverMember.findUnique({ where: { serverId_userId: { serverId: own.server_id, userId: bob.user_id } } }))!.role, 'owner')
    t.equal(server.memberCount, 1, 'member count follows')
    t.ok((await db.prisma.server.findUnique({ where: { id: lonely.server_id } }))!.deletedAt, 'a server she was alone in is deleted')
    t.equal((await db.prisma.chatMember.findUnique({ where: { channelId_userId: { channelId: group.chat_id, userId: bob.user_id } } }))!.role, 'admin', 'her group gets a new admin')

    await disconnected(client, 'her connection to close')
    t.equal(await connackCode(chime.mqttUrl, { username: alice.username, password: alice.token }), 5, 'her token: CONNACK 5')
    expectError(t, await chime.http('GET', '/api/users/me', { token: alice.token }), 401, 'SESSION_REVOKED', 'her token over HTTP')
    const seen = await chime.http<{ display_name: string; username: string | null }>('GET', `/api/users/${alice.user_id}`, { token: bob.token })
    t.equal(seen.status, 200)
    t.equal(seen.body.display_name, 'deleted user', 'others see "deleted user"')
    t.equal(seen.body.username, null)
    expectError(t, await chime.http('GET', `/api/users?username=${alice.username}`, { token: bob.token }), 404, 'USER_NOT_FOUND', 'her old username')
    expectError(t, await chime.http('PUT', `/api/favorites/${alice.user_id}`, { token: bob.token }), 410, 'USER_DELETED', 'favoriting her')
    expectError(t, await chime.http('PUT', `/api/blocks/${alice.user_id}`, { token: bob.token }), 410, 'USER_DELETED', 'blocking her')
    expectError(t, await chime.http('POST', '/api/auth/login', { body: { username: alice.username, password: PASSWORD } }), 401, 'INVALID_CREDENTIALS', 'logging in as her')
    const reborn = await chime.http<Auth>('POST', '/api/auth/register', { body: { username: alice.username, password: 'someone else entirely' } })
    t.equal(reborn.status, 200, 'her username can be taken again')
    t.not(reborn.body.user_id, alice.user_id, 'by a new account')
  })

  await t.test('bad refresh tokens and passwords are coded errors that change nothing', async (t) => {
    const user = await register(chime)
    const refresh = (body: object) => chime.http('POST', '/api/auth/refresh', { body })
    expectError(t, await refresh({}), 400, 'INVALID_FIELD', 'no refresh_token')
    expectError(t, await refresh({ refresh_token: 42 }), 400, 'INVALID_FIELD', 'a number')
    expectError(t, await refresh({ refresh_token: 'nonsense' }), 401, 'REFRESH_TOKEN_INVALID', 'a malformed token')
    // Another sign-in id: the last character changed (to one it is not: 1 in 32 ids ends in Z).
    const unknownId = `${user.session_id.slice(0, 25)}${user.session_id.endsWith('Z') ? 'Y' : 'Z'}`
    expectError(t, await refresh({ refresh_token: `${unknownId}.${randomBytes(32).toString('base64url')}` }), 401, 'REFRESH_TOKEN_INVALID', 'an unknown sign-in')
    await db.prisma.authSession.update({ where: { id: user.session_id }, data: { expiresAt: new Date(Date.now() - 1000) } })
    expectError(t, await refresh({ refresh_token: user.refresh_token }), 401, 'REFRESH_TOKEN_EXPIRED', 'an expired sign-in')
    const name = uniqueName('weak')
    expectError(t, await chime.http('POST', '/api/auth/register', { body: { username: name, password: 'seven77' } }), 400, 'WEAK_PASSWORD', 'a 7-character password')
    expectError(t, await chime.http('POST', '/api/auth/register', { body: { username: name, password: 'p'.repeat(257) } }), 400, 'INVALID_FIELD', 'a 257-character password')
    t.equal(await db.prisma.user.count({ where: { username: name } }), 0, 'no account was made')
    expectError(t, await chime.http('POST', '/api/auth/logout'), 401, 'UNAUTHENTICATED', 'logout without a token')
    expectError(t, await chime.http('POST', '/api/auth/logout', { token: 'not.a.token' }), 401, 'UNAUTHENTICATED', 'logout with a forged token')
  })
}

t.test('embedded profile (SQLite, in-memory broker)', async (t) => {
  const chime = await startTestChime(t, { refreshTtlSeconds: REFRESH_TTL })
  await revocationSuite(t, chime)
})

t.test('production stores (MariaDB + Redis) in one process', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  const chime = await startTestChime(t, { databaseUrl, redisUrl: redis.url, refreshTtlSeconds: REFRESH_TTL })
  await revocationSuite(t, chime)
})

t.test('a cluster: logout at one API sidecar closes connections on a broker node and refuses the token at another sidecar', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, CHIME_JWT_SECRET: randomBytes(32).toString('hex') }
  const [api1, api2] = await Promise.all([spawnChime(t, 'api', env), spawnChime(t, 'api', env)])
  const broker = await spawnChime(t, 'broker', { ...env, CHIME_API_URL: `http://127.0.0.1:${api2.httpPort}` })
  const call = async <T>(port: number, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: (await res.json()) as T }
  }
  const reg = (await call<Auth>(api1.httpPort, 'POST', '/api/auth/register', undefined, { username: 'dora', password: PASSWORD })).body
  const clients: MqttClient[] = []
  defer(t, () => Promise.all(clients.map((c) => c.endAsync(true))))
  const tcp = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.mqttPort}`, { username: 'dora', password: reg.token, clientId: 'dora-phone', reconnectPeriod: 0 })
  const ws = await mqtt.connectAsync(`ws://127.0.0.1:${broker.httpPort}/mqtt`, { username: 'dora', password: reg.token, clientId: 'dora-browser', reconnectPeriod: 0 })
  clients.push(tcp, ws)
  t.equal((await call(api2.httpPort, 'GET', '/api/users/me', reg.token)).status, 200, 'the other sidecar accepts (and caches) the token')

  t.equal((await call(api1.httpPort, 'POST', '/api/auth/logout', reg.token)).status, 200, 'logout at sidecar 1')
  t.equal((await call<ErrorBody>(api1.httpPort, 'GET', '/api/users/me', reg.token)).body.data.code, 'SESSION_REVOKED', 'sidecar 1 refuses the next request')
  await disconnected(tcp, 'the TCP connection on the broker node to close')
  await disconnected(ws, 'the WebSocket connection on the broker node to close')
  t.equal(await connackCode(`mqtt://127.0.0.1:${broker.mqttPort}`, { username: 'dora', password: reg.token }), 5, 'reconnecting to the broker node: CONNACK 5')
  const code = await waitFor('sidecar 2 to refuse the token', async () => {
    const res = await call<ErrorBody>(api2.httpPort, 'GET', '/api/users/me', reg.token)
    return res.status === 401 ? res.body.data.code : undefined
  }, 5000)
  t.equal(code, 'SESSION_REVOKED', 'sidecar 2 refuses it too (told through the access bus)')
})

t.test('rate limits: per account and per address, with retry_after_s', async (t) => {
  const chime = await startTestChime(t, { authRatePerAccount: 3, authRatePerIp: 8, authRateWindowSeconds: 600 })
  const victim = await register(chime, 'victim') // 1 attempt from this address, 1 for the account
  const tryLogin = (username: string, password: string) => chime.http<ErrorBody>('POST', '/api/auth/login', { body: { username, password } })
  expectError(t, await tryLogin(victim.username, 'wrong password 1'), 401, 'INVALID_CREDENTIALS', 'attempt 2')
  expectError(t, await tryLogin(victim.username, 'wrong password 2'), 401, 'INVALID_CREDENTIALS', 'attempt 3')
  const limited = await tryLogin(victim.username, PASSWORD)
  expectError(t, limited, 429, 'RATE_LIMITED', 'attempt 4 for the account, even with the right password')
  const retry = limited.body.data.details?.['retry_after_s']
  t.ok(typeof retry === 'number' && retry >= 1 && retry <= 600, `details.retry_after_s (${String(retry)})`)
  expectError(t, await tryLogin(victim.username.toUpperCase(), PASSWORD), 429, 'RATE_LIMITED', 'the account in other letter case')
  t.equal((await tryLogin(uniqueName('other'), 'whatever password')).status, 401, 'another account is not limited')
  // Attempts so far from this address: 1 + 2 + 1 (the other account); the limited ones were not counted.
  const r = await chime.http('POST', '/api/auth/refresh', { body: { refresh_token: victim.refresh_token } })
  t.equal(r.status, 200, 'refresh counts toward the address (5)')
  for (let i = 6; i <= 8; i++) t.equal((await tryLogin(uniqueName('spray'), 'whatever password')).status, 401, `attempt ${i} from the address`)
  expectError(t, await tryLogin(uniqueName('spray'), 'whatever password'), 429, 'RATE_LIMITED', 'attempt 9 from the address')
  expectError(t, await chime.http('POST', '/api/auth/register', { body: { username: uniqueName('late'), password: PASSWORD } }), 429, 'RATE_LIMITED', 'register from the address')
  expectError(t, await chime.http('POST', '/api/auth/refresh', { body: { refresh_token: (r.body as Auth).refresh_token } }), 429, 'RATE_LIMITED', 'refresh from the address')
  t.equal((await chime.http('GET', '/api/users/me', { token: victim.token })).status, 200, 'signed-in requests are not limited')
})

t.test('behind a trusted proxy the forwarded address is limited, not the proxy', async (t) => {
  const chime = await startTestChime(t, { authRatePerIp: 2, authRatePerAccount: 0, trustProxyHops: 1 })
  const attempt = (forwarded: string) => chime.http('POST', '/api/auth/login', { body: { username: 'nobody', password: 'whatever password' }, headers: { 'x-forwarded-for': forwarded } })
  t.equal((await attempt('203.0.113.1')).status, 401)
  t.equal((await attempt('203.0.113.1')).status, 401)
  expectError(t, await attempt('203.0.113.1'), 429, 'RATE_LIMITED', 'the third attempt from one client')
  t.equal((await attempt('203.0.113.2')).status, 401, 'another client behind the same proxy')
  t.equal((await attempt('198.51.100.7, 203.0.113.3')).status, 401, 'a forged left-most entry does not count: the proxy-added one does')
})

t.test('the HTTP sign-in cache: a few seconds at most, dropped at once on revocation', async (t) => {
  let now = 1_000_000
  const reads: string[] = []
  const live = new Map<string, boolean>([['S1', true], ['S2', true], ['S3', true]])
  let release: (() => void) | undefined
  const gate = new SessionGate({
    async sessionLive(sessionId) {
      reads.push(sessionId)
      const answer = live.get(sessionId) ?? false
      if (release === undefined && sessionId === 'S3') await new Promise<void>((r) => (release = r))
      return answer
    },
  }, 3000, () => now)
  const claims = (sessionId: string, userId = 'U1') => ({ userId, username: 'u', sessionId })
  await gate.check(claims('S1'))
  await gate.check(claims('S1'))
  t.same(reads, ['S1'], 'a second check within the cache time reads nothing')
  now += 3001
  await gate.check(claims('S1'))
  t.same(reads, ['S1', 'S1'], 'after the cache time the database is asked again')
  live.set('S1', false)
  gate.onAccessEvent({ type: 'sessions-revoked', userId: 'U1', sessionIds: ['S1'] })
  await t.rejects(gate.check(claims('S1')), { code: 'SESSION_REVOKED' }, 'a revoked sign-in is refused at once')
  await gate.check(claims('S2'))
  gate.onAccessEvent({ type: 'sessions-revoked', userId: 'U1', clientIds: ['phone'] })
  const before = reads.length
  await gate.check(claims('S2'))
  t.equal(reads.length, before, 'a device revocation leaves sign-ins cached')
  live.set('S2', false)
  gate.onAccessEvent({ type: 'sessions-revoked', userId: 'U1' })
  await t.rejects(gate.check(claims('S2')), { code: 'SESSION_REVOKED' }, 'revoking all of a user drops its cached sign-ins')
  // A read in flight when a revocation arrives is not cached.
  const pending = gate.live(claims('S3', 'U2'))
  await waitFor('the read to start', () => (release !== undefined ? true : undefined))
  gate.onAccessEvent({ type: 'sessions-revoked', userId: 'U2' })
  live.set('S3', false)
  release!()
  t.equal(await pending, true, 'the read in flight answers what it read before the revocation')
  await t.rejects(gate.check(claims('S3', 'U2')), { code: 'SESSION_REVOKED' }, 'the next check reads again')
})
