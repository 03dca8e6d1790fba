// Servers over HTTP on both profiles: creation, discovery, membership, roles and their
// ranks, bans, mutes, channels (private ones too), invitations; every change is a delta in
// the server's own log and an event on the inboxes it concerns; every refusal a coded
// error that changes nothing.
import t, { type Test } from 'tap'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { PERMISSIONS } from '../../clients/sdk/src/permissions.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'
import { collect, request, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'
import { expectError } from '../helpers/expect.ts'

type Res = { status: number; body: Record<string, unknown> & { data?: { code?: string } } }

function api(chime: TestChime) {
  return (user: TestUser | null, method: string, path: string, body?: unknown): Promise<Res> =>
    chime.http(method, path, { ...(user ? { token: user.token } : {}), ...(body !== undefined ? { body } : {}) }) as Promise<Res>
}

/** The deltas of a server's own log, through SYNC by channel (the log's channel id is the server id). */
async function serverLog(chime: TestChime, user: TestUser, serverId: string): Promise<DeltaJson[]> {
  const res = await chime.http<Envelope<string, { missing_deltas: DeltaJson[] }>>('POST', '/api/sync/', { token: user.token, body: { action: 'SYNC', data: { channel_id: serverId, client_seq: '0' } } })
  return res.body.data.missing_deltas
}

async function run(t: Test, chime: TestChime): Promise<void> {
  const call = api(chime)
  const [owner, admin, mod, member, outsider] = await Promise.all([1, 2, 3, 4, 5].map(() => chime.register()))
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())

  const created = await call(owner!, 'POST', '/api/servers', { name: 'Guild', description: 'a test server' })
  t.equal(created.status, 200)
  const serverId = created.body['server_id'] as string
  const general = created.body['channel_id'] as string
  const base = `/api/servers/${serverId}`

  await t.test('members join; roles are set by rank; the log records each change', async (t) => {
    for (const u of [admin!, mod!, member!]) t.equal((await call(u, 'POST', `${base}/join`)).body['joined'], true)
    t.equal((await call(member!, 'POST', `${base}/join`)).body['joined'], false, 'joining twice changes nothing')
    t.equal((await call(owner!, 'PUT', `${base}/members/${admin!.user_id}/role`, { role: 'admin' })).status, 200)
    t.equal((await call(admin!, 'PUT', `${base}/members/${mod!.user_id}/role`, { role: 'moderator' })).status, 200, 'an admin makes a moderator')
    expectError(t, await call(admin!, 'PUT', `${base}/members/${member!.user_id}/role`, { role: 'admin' }), 403, 'FORBIDDEN', 'an admin cannot make another admin')
    expectError(t, await call(mod!, 'PUT', `${base}/members/${mod!.user_id}/role`, { role: 'admin' }), 403, 'FORBIDDEN', 'a user cannot promote itself')
    expectError(t, await call(member!, 'PUT', `${base}/members/${mod!.user_id}/role`, { role: 'member' }), 403, 'FORBIDDEN', 'a member cannot change roles')
    expectError(t, await call(owner!, 'PUT', `${base}/members/${admin!.user_id}/role`, { role: 'owner' }), 400, 'INVALID_FIELD', 'ownership moves only by transfer')
    expectError(t, await call(owner!, 'PUT', `${base}/members/${admin!.user_id}/role`, { role: 'king' }), 400, 'INVALID_FIELD', 'an unknown role')
    const info = await call(member!, 'GET', base)
    t.equal(info.body['member_count'], 4)
    t.equal(info.body['role'], 'member')
    const log = await serverLog(chime, member!, serverId)
    t.same(log.map((d) => d.type), ['server_created', 'member_joined', 'member_joined', 'member_joined', 'member_role', 'member_role'])
    t.same(log.map((d) => Number(d.seq)), [1, 2, 3, 4, 5, 6], 'a gapless log')
    t.same(JSON.parse(log[4]!.content!), { user_id: admin!.user_id, role: 'admin', by: owner!.user_id })
  })

  await t.test('members are listed in pages; outsiders see nothing of a private server', async (t) => {
    const first = await call(member!, 'GET', `${base}/members?limit=2`)
    t.equal((first.body['members'] as unknown[]).length, 2)
    const next = first.body['next_after'] as string
    const second = await call(member!, 'GET', `${base}/members?limit=2&after=${next}`)
    t.equal((second.body['members'] as unknown[]).length, 2)
    const ids = [...(first.body['members'] as { user_id: string }[]), ...(second.body['members'] as { user_id: string }[])].map((m) => m.user_id)
    t.same([...ids].sort(), [owner!, admin!, mod!, member!].map((u) => u.user_id).sort(), 'every member exactly once')
    expectError(t, await call(outsider!, 'GET', `${base}/members`), 403, 'NOT_A_MEMBER', 'a public server says join first')
    const hidden = await call(owner!, 'POST', '/api/servers', { name: 'Hidden', is_public: false })
    const hid = hidden.body['server_id'] as string
    for (const path of ['', '/members', '/channels']) expectError(t, await call(outsider!, 'GET', `/api/servers/${hid}${path}`), 404, 'SERVER_NOT_FOUND', `private server ${path || 'itself'}`)
    expectError(t, await call(outsider!, 'POST', `/api/servers/${hid}/join`), 404, 'SERVER_NOT_FOUND', 'a private server cannot be joined without an invitation')
    expectError(t, await call(outsider!, 'GET', '/api/servers/NOPE_NOT_THERE'), 404, 'SERVER_NOT_FOUND', 'an unknown server looks the same')
    expectError(t, await call(outsider!, 'GET', '/api/servers/bad%20id'), 400, 'INVALID_FIELD', 'a malformed id')
    const discover = await call(outsider!, 'GET', '/api/servers/public?q=Guild')
    t.ok((discover.body['servers'] as { server_id: string }[]).some((s) => s.server_id === serverId), 'public servers are discoverable')
    const listed = (await call(outsider!, 'GET', '/api/servers/public?limit=100')).body['servers'] as { server_id: string }[]
    t.ok(listed.some((s) => s.server_id === serverId) && !listed.some((s) => s.server_id === hid), 'private ones are not')
    const mine = await call(member!, 'GET', '/api/servers')
    t.same((mine.body['servers'] as { server_id: string; role: string }[]).map((s) => [s.server_id, s.role]), [[serverId, 'member']])
  })

  await t.test('kick, ban, mute: by rank, each with its delta and inbox event', async (t) => {
    const victim = await chime.register()
    await call(victim, 'POST', `${base}/join`)
    const client = await chime.connect(victim)
    const inbox = collect(client, topics.inbox(victim.user_id))
    await client.subscribeAsync(topics.inbox(victim.user_id), { qos: 1 })
    expectError(t, await call(member!, 'POST', `${base}/members/${victim.user_id}/kick`), 403, 'FORBIDDEN', 'a member cannot kick')
    expectError(t, await call(mod!, 'POST', `${base}/members/${admin!.user_id}/kick`), 403, 'FORBIDDEN', 'a moderator cannot kick an admin')
    expectError(t, await call(admin!, 'POST', `${base}/members/${owner!.user_id}/kick`), 403, 'FORBIDDEN', 'an admin cannot remove the owner')
    expectError(t, await call(admin!, 'POST', `${base}/bans`, { user_id: owner!.user_id }), 403, 'FORBIDDEN', 'an admin cannot ban the owner')
    expectError(t, await call(mod!, 'POST', `${base}/members/${outsider!.user_id}/kick`), 404, 'USER_NOT_FOUND', 'kicking a non-member')

    const muted = await call(mod!, 'POST', `${base}/members/${victim.user_id}/mute`, { seconds: 600 })
    t.equal(muted.status, 200)
    const post = await chime.http<Envelope<string, { code: string; details: { until: string } }>>('POST', '/api/post/', { token: victim.token, body: { action: 'POST_MESSAGE', data: { channel_id: general, content: 'let me speak' } } })
    t.equal(post.status, 403)
    t.equal(post.body.data.code, 'MUTED', 'a muted member cannot post')
    t.equal(post.body.data.details.until, muted.body['muted_until'])
    await call(mod!, 'POST', `${base}/members/${victim.user_id}/mute`, { seconds: 0 })
    const again = await chime.http('POST', '/api/post/', { token: victim.token, body: { action: 'POST_MESSAGE', data: { channel_id: general, content: 'thanks' } } })
    t.equal(again.status, 200, 'unmuted, it posts again')

    t.equal((await call(mod!, 'POST', `${base}/members/${victim.user_id}/kick`, { reason: 'spam' })).status, 200)
    expectError(t, await call(victim, 'GET', `${base}/members`), 403, 'NOT_A_MEMBER', 'kicked')
    t.equal((await call(victim, 'POST', `${base}/join`)).body['joined'], true, 'a kicked member may come back')
    t.equal((await call(mod!, 'POST', `${base}/bans`, { user_id: victim.user_id, reason: 'again' })).status, 200)
    expectError(t, await call(victim, 'POST', `${base}/join`), 403, 'BANNED', 'a banned user cannot rejoin')
    const bans = await call(mod!, 'GET', `${base}/bans`)
    t.same((bans.body['bans'] as { user_id: string; reason: string }[]).map((b) => [b.user_id, b.reason]), [[victim.user_id, 'again']])
    expectError(t, await call(member!, 'GET', `${base}/bans`), 403, 'FORBIDDEN', 'members do not see bans')
    t.equal((await call(mod!, 'DELETE', `${base}/bans/${victim.user_id}`)).status, 200)
    t.equal((await call(victim, 'POST', `${base}/join`)).body['joined'], true, 'unbanned, it may join')

    await waitFor('the inbox events', () => (inbox.length >= 7 ? true : undefined))
    t.same(inbox.map((e) => [e.action, (e.data as { change: string }).change]), [
      ['MEMBERSHIP', 'muted'], ['MEMBERSHIP', 'muted'], ['MEMBERSHIP', 'kicked'], ['MEMBERSHIP', 'joined'], ['MEMBERSHIP', 'banned'], ['MEMBERSHIP', 'unbanned'], ['MEMBERSHIP', 'joined'],
    ])
    t.equal((inbox[2]!.data as { reason: string }).reason, 'spam')
    t.match((inbox[2]!.data as { delta_id: string }).delta_id, /^\d+$/, 'the event names the delta that records it')
    const types = (await serverLog(chime, owner!, serverId)).map((d) => d.type)
    t.same(types.slice(-7), ['member_muted', 'member_muted', 'member_kicked', 'member_joined', 'member_banned', 'member_unbanned', 'member_joined'])
  })

  await t.test('channels: create, private, rename, reorder, delete; managed by admins only', async (t) => {
    expectError(t, await call(member!, 'POST', `${base}/channels`, { name: 'nope' }), 403, 'FORBIDDEN', 'a member cannot create channels')
    expectError(t, await call(admin!, 'POST', `${base}/channels`, { name: 'x', type: 'video' }), 400, 'INVALID_FIELD', 'an unknown channel type')
    expectError(t, await call(admin!, 'POST', `${base}/channels`, { name: '   ' }), 400, 'INVALID_FIELD', 'a blank name')
    const voice = (await call(admin!, 'POST', `${base}/channels`, { name: 'lounge', type: 'voice' })).body['channel_id'] as string
    const staff = (await call(admin!, 'POST', `${base}/channels`, { name: 'staff', private: true })).body['channel_id'] as string
    const names = async (u: TestUser): Promise<string[]> => ((await call(u, 'GET', `${base}/channels`)).body['channels'] as { name: string }[]).map((c) => c.name)
    t.same(await names(member!), ['general', 'lounge'], 'a private channel is hidden from members')
    t.same(await names(admin!), ['general', 'lounge', 'staff'])
    expectError(t, (await chime.http('POST', '/api/post/', { token: member!.token, body: { action: 'POST_MESSAGE', data: { channel_id: staff, content: 'peek' } } })) as Res, 404, 'CHANNEL_NOT_FOUND', 'posting into a hidden channel')
    t.equal((await call(admin!, 'PUT', `${base}/channels/${staff}/overrides`, { target_type: 'user', target: mod!.user_id, allow: PERMISSIONS.READ | PERMISSIONS.POST, deny: 0 })).status, 200)
    t.same(await names(mod!), ['general', 'lounge', 'staff'], 'a user override lets the moderator in')
    expectError(t, await call(admin!, 'PUT', `${base}/channels/${staff}/overrides`, { target_type: 'role', target: 'admin', allow: 0, deny: 1 }), 400, 'INVALID_FIELD', 'admins cannot be overridden')
    expectError(t, await call(admin!, 'PUT', `${base}/channels/${staff}/overrides`, { target_type: 'role', target: 'member', allow: 1 << 30, deny: 0 }), 400, 'INVALID_FIELD', 'unknown permission bits')
    t.equal((await call(admin!, 'PATCH', `${base}/channels/${voice}`, { name: 'hangout' })).status, 200)
    expectError(t, await call(admin!, 'PUT', `${base}/channels/order`, { channel_ids: [voice, general] }), 400, 'INVALID_FIELD', 'an order must name every channel')
    t.equal((await call(admin!, 'PUT', `${base}/channels/order`, { channel_ids: [staff, voice, general] })).status, 200)
    t.same(await names(admin!), ['staff', 'hangout', 'general'])
    t.equal((await call(admin!, 'DELETE', `${base}/channels/${voice}`)).status, 200)
    t.same(await names(admin!), ['staff', 'general'])
    expectError(t, (await chime.http('POST', '/api/post/', { token: owner!.token, body: { action: 'POST_MESSAGE', data: { channel_id: voice, content: 'hello?' } } })) as Res, 404, 'CHANNEL_NOT_FOUND', 'a deleted channel takes no posts')
    expectError(t, await call(admin!, 'PATCH', `${base}/channels/${voice}`, { name: 'back' }), 404, 'CHANNEL_NOT_FOUND', 'nor renames')
    const types = (await serverLog(chime, owner!, serverId)).map((d) => d.type)
    t.same(types.slice(-6), ['channel_created', 'channel_created', 'channel_permissions', 'channel_updated', 'channels_reordered', 'channel_deleted'])
  })

  await t.test('invitations: private servers, expiry, maximum uses, revocation, bans', async (t) => {
    const priv = (await call(owner!, 'POST', '/api/servers', { name: 'Club', is_public: false })).body['server_id'] as string
    expectError(t, await call(outsider!, 'POST', `/api/servers/${priv}/invites`, {}), 404, 'SERVER_NOT_FOUND', 'an outsider cannot invite')
    const inv = await call(owner!, 'POST', `/api/servers/${priv}/invites`, { max_uses: 2, expires_in_s: 3600 })
    const code = inv.body['code'] as string
    t.match(code, /^[A-Za-z0-9]{12}$/)
    const preview = await call(outsider!, 'GET', `/api/invites/${code}`)
    t.same([preview.body['server_id'], preview.body['name']], [priv, 'Club'], 'the preview names the server')
    t.same((await call(outsider!, 'POST', `/api/invites/${code}/accept`)).body, { server_id: priv, joined: true })
    t.same((await call(outsider!, 'POST', `/api/invites/${code}/accept`)).body, { server_id: priv, joined: false }, 'accepting twice uses nothing up')
    const third = await chime.register()
    const fourth = await chime.register()
    t.equal((await call(third, 'POST', `/api/invites/${code}/accept`)).status, 200)
    expectError(t, await call(fourth, 'POST', `/api/invites/${code}/accept`), 410, 'INVITE_USED_UP', 'the third use')
    const expiring = (await call(owner!, 'POST', `/api/servers/${priv}/invites`, { expires_in_s: 60 })).body['code'] as string
    await db.prisma.invite.update({ where: { code: expiring }, data: { expiresAt: new Date(Date.now() - 1000) } })
    expectError(t, await call(fourth, 'POST', `/api/invites/${expiring}/accept`), 410, 'INVITE_EXPIRED', 'an expired invitation')
    const revoked = (await call(owner!, 'POST', `/api/servers/${priv}/invites`, {})).body['code'] as string
    expectError(t, await call(fourth, 'DELETE', `/api/invites/${revoked}`), 404, 'SERVER_NOT_FOUND', 'a stranger cannot revoke it')
    t.equal((await call(owner!, 'DELETE', `/api/invites/${revoked}`)).status, 200)
    expectError(t, await call(fourth, 'POST', `/api/invites/${revoked}/accept`), 404, 'INVITE_NOT_FOUND', 'a revoked invitation')
    expectError(t, await call(fourth, 'POST', '/api/invites/nothere12345/accept'), 404, 'INVITE_NOT_FOUND', 'an unknown code')
    expectError(t, await call(fourth, 'POST', '/api/invites/a-b!/accept'), 400, 'INVALID_FIELD', 'a malformed code')
    const open = (await call(owner!, 'POST', `/api/servers/${priv}/invites`, {})).body['code'] as string
    await call(owner!, 'POST', `/api/servers/${priv}/bans`, { user_id: fourth.user_id, reason: 'pre-emptive' })
    expectError(t, await call(fourth, 'POST', `/api/invites/${open}/accept`), 403, 'BANNED', 'an invitation does not get round a ban')
    t.equal((await db.prisma.invite.findUnique({ where: { code: open } }))!.uses, 0, 'a refused acceptance uses nothing up')
  })

  await t.test('ownership: transfer, the owner cannot leave, delete ends all access', async (t) => {
    expectError(t, await call(owner!, 'POST', `${base}/leave`), 409, 'OWNER_CANNOT_LEAVE', 'the owner leaving')
    expectError(t, await call(admin!, 'POST', `${base}/transfer`, { user_id: admin!.user_id }), 403, 'FORBIDDEN', 'only the owner transfers')
    expectError(t, await call(owner!, 'POST', `${base}/transfer`, { user_id: outsider!.user_id }), 404, 'USER_NOT_FOUND', 'to a non-member')
    t.equal((await call(owner!, 'POST', `${base}/transfer`, { user_id: admin!.user_id })).status, 200)
    t.equal((await call(admin!, 'GET', base)).body['role'], 'owner')
    t.equal((await call(owner!, 'GET', base)).body['role'], 'admin', 'the old owner becomes an admin')
    t.equal((await call(owner!, 'POST', `${base}/leave`)).status, 200, 'and may leave now')
    expectError(t, await call(member!, 'DELETE', base), 403, 'FORBIDDEN', 'a member cannot delete the server')
    t.equal((await call(admin!, 'DELETE', base)).status, 200)
    expectError(t, await call(member!, 'GET', base), 404, 'SERVER_NOT_FOUND', 'a deleted server is gone')
    const sync = await chime.http<Envelope<string, { code: string }>>('POST', '/api/sync/', { token: member!.token, body: { action: 'SYNC', data: { channel_id: general } } })
    t.equal(sync.body.data.code, 'CHANNEL_NOT_FOUND', 'its channels cannot be read')
  })

  await t.test('bad bodies are coded errors', async (t) => {
    expectError(t, await call(owner!, 'POST', '/api/servers', { name: 42 }), 400, 'INVALID_FIELD', 'a name that is not a string')
    expectError(t, await call(owner!, 'POST', '/api/servers', { name: 'x'.repeat(101) }), 400, 'INVALID_FIELD', 'an over-long name')
    expectError(t, await call(owner!, 'POST', '/api/servers', { name: 'ok', is_public: 'yes' }), 400, 'INVALID_FIELD', 'is_public not a boolean')
    expectError(t, await call(null, 'POST', '/api/servers', { name: 'anon' }), 401, 'UNAUTHENTICATED', 'no token')
    expectError(t, await call(owner!, 'GET', '/api/servers/public?limit=-3'), 400, 'INVALID_FIELD', 'a negative limit')
    const srv = (await call(owner!, 'POST', '/api/servers', { name: 'Bodies' })).body['server_id'] as string
    expectError(t, await call(owner!, 'PATCH', `/api/servers/${srv}`, {}), 400, 'INVALID_FIELD', 'a patch with nothing in it')
    expectError(t, await call(owner!, 'POST', `/api/servers/${srv}/members/${member!.user_id}/mute`, { seconds: -1 }), 400, 'INVALID_FIELD', 'a negative mute')
    expectError(t, await call(owner!, 'POST', `/api/servers/${srv}/members`, { user_ids: 'all' }), 400, 'INVALID_FIELD', 'user_ids not a list')
    const before = (await serverLog(chime, owner!, srv)).length
    t.equal(before, 1, 'nothing was recorded by the refused requests')
  })
}

await eachProfile(t, 'servers', run)

t.test('membership over MQTT: the inbox tells a user it joined; JOIN_SERVER, LEAVE_SERVER, CREATE_CHAT, ACCEPT_INVITE, LEAVE_CHAT requests', async (t) => {
  const { startTestChime } = await import('../helpers/chime.ts')
  const chime = await startTestChime(t)
  const owner = await chime.register()
  const friend = await chime.register()
  const client = await chime.connect(friend)
  const inbox = topics.inbox(friend.user_id)
  const events = collect(client, inbox)
  await request(client, friend.user_id, 'SYNC', {})
  const srv = await chime.http<{ server_id: string }>('POST', '/api/servers', { token: owner.token, body: { name: 'Hub' } })
  const invite = await chime.http<{ code: string }>('POST', `/api/servers/${srv.body.server_id}/invites`, { token: owner.token, body: {} })
  await chime.http('POST', `/api/invites/${invite.body.code}/accept`, { token: friend.token })
  const joined = await waitFor('the join event', () => events.find((e) => e.action === 'MEMBERSHIP'))
  t.same({ ...(joined.data as object), delta_id: 'x' }, { change: 'joined', server_id: srv.body.server_id, role: 'member', delta_id: 'x' })

  const other = await chime.http<{ server_id: string }>('POST', '/api/servers', { token: owner.token, body: { name: 'Open' } })
  const join = await request(client, friend.user_id, 'JOIN_SERVER', { server_id: other.body.server_id })
  t.same([join.action, (join.data as { joined: boolean }).joined], ['JOIN_SERVER_RESPONSE', true])
  const leave = await request(client, friend.user_id, 'LEAVE_SERVER', { server_id: other.body.server_id })
  t.same([leave.action, (leave.data as { left: boolean }).left], ['LEAVE_SERVER_RESPONSE', true])
  const chat = await request(client, friend.user_id, 'CREATE_CHAT', { user_ids: [owner.user_id] })
  t.same([chat.action, (chat.data as { type: string }).type], ['CREATE_CHAT_RESPONSE', 'dm'])
  const bad = await request(client, friend.user_id, 'ACCEPT_INVITE', { code: '../../etc' })
  t.same([bad.action, (bad.data as { code: string }).code], ['ERROR', 'INVALID_FIELD'], 'a malformed code over MQTT')
  const none = await request(client, friend.user_id, 'LEAVE_CHAT', { chat_id: (chat.data as { chat_id: string }).chat_id })
  t.same([none.action, (none.data as { code: string }).code], ['ERROR', 'INVALID_FIELD'], 'a 1:1 chat is not left, over MQTT either')
})
