// The access matrix, generated: users of every role, a user let into a private channel by
// an override, an outsider who shares only a group chat, a banned user and a blocked one;
// every topic kind, exact and with wildcards (`#`, `+`, `$SYS`). An oracle written from the
// rules in docs/protocol.md says, for every (user, filter), whether the subscription is
// granted, and for every (user, topic) of the traffic that follows whether it is
// delivered; the broker must agree on every cell, on both profiles. Forbidden publishes
// must reach nobody.
import t, { type Test } from 'tap'
import type { MqttClient } from 'mqtt'
import { PERMISSIONS } from '../../clients/sdk/src/permissions.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import { request, trySubscribe, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { openDatabase } from '../../api/src/db/open-database.ts'

const ROLES = ['owner', 'admin', 'moderator', 'member', 'insider', 'outsider', 'banned', 'blocked'] as const
type Who = (typeof ROLES)[number]

async function run(t: Test, chime: TestChime): Promise<void> {
  const u = {} as Record<Who, TestUser>
  for (const who of ROLES) u[who] = await chime.register()
  const http = async <T>(who: Who, method: string, path: string, body?: unknown): Promise<T> => {
    const res = await chime.http<T>(method, path, { token: u[who].token, ...(body !== undefined ? { body } : {}) })
    if (res.status !== 200) throw new Error(`${who} ${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  const S = await http<{ server_id: string; channel_id: string }>('owner', 'POST', '/api/servers', { name: 'Matrix' })
  const P = await http<{ server_id: string; channel_id: string }>('owner', 'POST', '/api/servers', { name: 'Private', is_public: false })
  for (const who of ['admin', 'moderator', 'member', 'insider', 'banned', 'blocked'] as const) await http(who, 'POST', `/api/servers/${S.server_id}/join`)
  await http('owner', 'PUT', `/api/servers/${S.server_id}/members/${u.admin.user_id}/role`, { role: 'admin' })
  await http('owner', 'PUT', `/api/servers/${S.server_id}/members/${u.moderator.user_id}/role`, { role: 'moderator' })
  const staff = (await http<{ channel_id: string }>('admin', 'POST', `/api/servers/${S.server_id}/channels`, { name: 'staff', private: true })).channel_id
  await http('admin', 'PUT', `/api/servers/${S.server_id}/channels/${staff}/overrides`, { target_type: 'user', target: u.insider.user_id, allow: PERMISSIONS.READ | PERMISSIONS.POST, deny: 0 })
  await http('moderator', 'POST', `/api/servers/${S.server_id}/bans`, { user_id: u.banned.user_id, reason: 'matrix' })
  const dm = (await http<{ chat_id: string }>('owner', 'POST', '/api/chats', { user_ids: [u.member.user_id] })).chat_id
  const group = (await http<{ chat_id: string }>('owner', 'POST', '/api/chats', { user_ids: [u.admin.user_id, u.outsider.user_id], name: 'mixed' })).chat_id
  // member blocks blocked: blocked may not watch member's presence.
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  await db.prisma.block.create({ data: { userId: u.member.user_id, blockedId: u.blocked.user_id } })

  // ---- the oracle, from the documented rules
  const inS = new Set<Who>(['owner', 'admin', 'moderator', 'member', 'insider', 'blocked'])
  const seesStaff = new Set<Who>(['owner', 'admin', 'insider'])
  const chatsOf: Record<Who, string[]> = { owner: [dm, group], admin: [group], moderator: [], member: [dm], insider: [], outsider: [group], banned: [], blocked: [] }
  const shares = (a: Who, b: Who): boolean => (inS.has(a) && inS.has(b)) || chatsOf[a].some((c) => chatsOf[b].includes(c))
  const blockedBy = (watcher: Who, subject: Who): boolean => watcher === 'blocked' && subject === 'member'

  const general = topics.serverChannel(S.server_id, S.channel_id)
  const staffTopic = topics.serverChannel(S.server_id, staff)
  const sLog = topics.serverChannel(S.server_id, S.server_id)
  const privateGeneral = topics.serverChannel(P.server_id, P.channel_id)

  /** Whether who may read a concrete topic. */
  const mayRead = (who: Who, topic: string): boolean => {
    if (topic === general || topic === sLog || topic === topics.typing(S.server_id, S.channel_id)) return inS.has(who)
    if (topic === staffTopic || topic === topics.typing(S.server_id, staff)) return seesStaff.has(who)
    if (topic === privateGeneral || topic === topics.typing(P.server_id, P.channel_id) || topic === topics.serverChannel(P.server_id, P.server_id)) return who === 'owner'
    if (topic === topics.chat(dm)) return chatsOf[who].includes(dm)
    if (topic === topics.chat(group)) return chatsOf[who].includes(group)
    for (const other of ROLES) {
      if (topic === topics.inbox(u[other].user_id)) return who === other
      if (topic === topics.presence(u[other].user_id)) return who === other || (shares(who, other) && !blockedBy(who, other))
    }
    return false
  }
  const maySubscribe = (who: Who, filter: string): boolean => {
    if (filter === topics.serverWildcard(S.server_id)) return inS.has(who)
    if (filter === topics.serverWildcard(P.server_id)) return who === 'owner'
    if (filter.includes('#') || filter.includes('+') || filter.startsWith('$')) return false
    if (filter.startsWith('chime/v1/requests/')) return false
    return mayRead(who, filter)
  }

  const concrete = [
    general, staffTopic, sLog, privateGeneral, topics.serverChannel(P.server_id, P.server_id),
    topics.typing(S.server_id, S.channel_id), topics.typing(S.server_id, staff), topics.typing(P.server_id, P.channel_id),
    topics.chat(dm), topics.chat(group),
    ...ROLES.flatMap((w) => [topics.inbox(u[w].user_id), topics.presence(u[w].user_id)]),
  ]
  const filters = [
    ...concrete,
    topics.serverWildcard(S.server_id), topics.serverWildcard(P.server_id),
    '#', '+', '+/#', 'chime/#', 'chime/v1/#', 'chime/v1/+/#', `chime/v1/servers/+/channels/+`, `chime/v1/servers/${S.server_id}/channels/+`,
    `chime/v1/servers/${S.server_id}/+/${S.channel_id}`, 'chime/v1/chats/+', 'chime/v1/users/+/inbox', 'chime/v1/users/#', `chime/v1/users/${u.member.user_id}/#`,
    '$SYS/#', '$SYS/+/heartbeat', '$chime/access', 'chime/v1/requests/someone-else', 'chime/v1/requests/#',
  ]

  const nameOf = (id: string): string => {
    for (const who of ROLES) if (u[who].user_id === id) return `{${who}}`
    if (id === S.server_id) return '{S}'
    if (id === P.server_id) return '{P}'
    if (id === S.channel_id) return '{general}'
    if (id === staff) return '{staff}'
    if (id === dm) return '{dm}'
    if (id === group) return '{group}'
    return '{id}'
  }

  // ---- subscriptions
  const clients = {} as Record<Who, MqttClient>
  const got = {} as Record<Who, Set<string>>
  await t.test(`subscribe: ${ROLES.length} users x ${filters.length} filters`, async (t) => {
    for (const who of ROLES) {
      const client = await chime.connect(u[who], { clientId: `matrix-${who}-${u[who].user_id.slice(-6)}` })
      clients[who] = client
      got[who] = new Set()
      client.on('message', (topic, payload) => {
        // Replies to this client's own requests are not traffic.
        if (topic === topics.inbox(u[who].user_id) && /"request_id"/.test(payload.toString())) return
        got[who].add(topic)
      })
      for (const f of filters) {
        const [code] = await trySubscribe(client, f, 1)
        t.equal(code !== 128, maySubscribe(who, f), `${who} subscribe ${f.replace(/[A-Z0-9]{26}/g, (id) => nameOf(id))}: ${maySubscribe(who, f) ? 'granted' : 'refused'}`)
      }
    }
  })
  // ---- traffic: platform deltas in every channel, typing, presence, inbox events
  await t.test('deliveries: every user receives exactly what it may read', async (t) => {
    const post = (who: Who, channelId: string) => http('owner' === who ? 'owner' : who, 'POST', '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content: `from ${who}` } })
    await post('owner', S.channel_id)
    await post('owner', staff)
    await post('owner', P.channel_id)
    await post('owner', dm)
    await post('owner', group)
    await http('owner', 'PATCH', `/api/servers/${S.server_id}/channels/${S.channel_id}`, { name: 'general-renamed' })
    await http('owner', 'PATCH', `/api/servers/${P.server_id}/channels/${P.channel_id}`, { name: 'p-renamed' })
    for (const who of ROLES) await clients[who].publishAsync(topics.presence(u[who].user_id), JSON.stringify({ action: 'PRESENCE', data: { status: 'online' } }), { qos: 1 })
    await clients.owner.publishAsync(topics.typing(S.server_id, S.channel_id), JSON.stringify({ action: 'TYPING', data: { state: 'typing' } }), { qos: 1 })
    await clients.owner.publishAsync(topics.typing(S.server_id, staff), JSON.stringify({ action: 'TYPING', data: { state: 'typing' } }), { qos: 1 })
    await clients.owner.publishAsync(topics.typing(P.server_id, P.channel_id), JSON.stringify({ action: 'TYPING', data: { state: 'typing' } }), { qos: 1 })
    await http('moderator', 'POST', `/api/servers/${S.server_id}/members/${u.member.user_id}/mute`, { seconds: 0 })
    // Forbidden publishes: they must reach nobody.
    for (const who of ROLES) {
      const c = clients[who]
      await c.publishAsync(general, 'forged delta', { qos: 1 })
      await c.publishAsync(topics.inbox(u.owner.user_id), 'forged inbox', { qos: 1 })
      await c.publishAsync(topics.presence(u.owner.user_id), 'forged presence', { qos: 1 })
      if (who !== 'owner' && who !== 'admin' && who !== 'insider') await c.publishAsync(topics.typing(S.server_id, staff), 'forged typing', { qos: 1 })
      await c.publishAsync('$chime/access', JSON.stringify({ type: 'membership', userId: u[who].user_id }), { qos: 1 })
    }
    // A request round trip per client: everything published before it has been delivered.
    for (const who of ROLES) await request(clients[who], u[who].user_id, 'SYNC', {})
    const traffic = [general, staffTopic, sLog, privateGeneral, topics.serverChannel(P.server_id, P.server_id), topics.chat(dm), topics.chat(group),
      topics.typing(S.server_id, S.channel_id), topics.typing(S.server_id, staff), topics.typing(P.server_id, P.channel_id),
      ...ROLES.map((w) => topics.presence(u[w].user_id)), topics.inbox(u.member.user_id)]
    for (const who of ROLES) {
      for (const topic of traffic) {
        t.equal(got[who].has(topic), mayRead(who, topic), `${who} ${mayRead(who, topic) ? 'receives' : 'does not receive'} ${topic.replace(/[A-Z0-9]{26}/g, (id) => nameOf(id))}`)
      }
      const stray = [...got[who]].filter((topic) => !traffic.includes(topic) && topic !== topics.inbox(u[who].user_id))
      t.same(stray, [], `${who} receives nothing else`)
    }
  })

  await t.test('forged payloads reached nobody', async (t) => {
    const forged: string[] = []
    for (const who of ROLES) clients[who].on('message', (_topic, p) => /^forged/.test(p.toString()) && forged.push(who))
    for (const who of ROLES) await request(clients[who], u[who].user_id, 'SYNC', {})
    t.same(forged, [])
  })
}

await eachProfile(t, 'access matrix', run)
