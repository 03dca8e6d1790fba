// Revocation stops delivery at once, on both profiles: after a kick, ban, leave, removal
// from a group or a channel made private has been answered, the next delta in that channel
// reaches nobody who lost access, through exact and wildcard subscriptions alike, and not
// through an offline queue either. Access that survives a change (a new role) comes back.
import t, { type Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { PERMISSIONS } from '../../clients/sdk/src/permissions.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import { request, trySubscribe, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'

interface Watcher {
  client: MqttClient
  contents: string[]
}

async function run(t: Test, chime: TestChime): Promise<void> {
  const ok = async <T>(user: TestUser, method: string, path: string, body?: unknown): Promise<T> => {
    const res = await chime.http<T>(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) })
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  const post = (user: TestUser, channelId: string, content: string) => ok(user, 'POST', '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content } })

  /** A connection subscribed to `filters`, recording the content of every message delta it gets. */
  const watch = async (user: TestUser, filters: string[], opts: { clientId?: string; clean?: boolean } = {}): Promise<Watcher> => {
    const client = await chime.connect(user, opts)
    const contents: string[] = []
    client.on('message', (_topic, payload) => {
      const env = JSON.parse(payload.toString()) as { action: string; data: { type?: string; content?: string } }
      if (env.action === 'PUBLISH_DELTA' && env.data.type === 'message') contents.push(env.data.content!)
    })
    const granted = await client.subscribeAsync(filters, { qos: 1 })
    if (granted.some((g) => g.qos === 128)) throw new Error(`refused: ${JSON.stringify(granted)}`)
    return { client, contents }
  }
  /** Everything published before this returns has been delivered to the watcher. */
  const settle = async (user: TestUser, w: Watcher): Promise<void> => {
    await request(w.client, user.user_id, 'SYNC', {})
  }
  /** Posts until one arrives (access that is re-granted after a fresh check comes back within moments). */
  const arrives = async (poster: TestUser, channelId: string, w: Watcher, tag: string): Promise<void> => {
    let n = 0
    await waitFor(`${tag} to arrive again`, async () => {
      const content = `${tag} ${++n}`
      await post(poster, channelId, content)
      return (await waitFor(content, () => (w.contents.includes(content) ? true : undefined), 300).catch(() => undefined))
    }, 8000)
  }

  const owner = await chime.register()
  const server = await ok<{ server_id: string; channel_id: string }>(owner, 'POST', '/api/servers', { name: 'Revocations' })
  const S = server.server_id
  const general = server.channel_id
  const join = (u: TestUser) => ok(u, 'POST', `/api/servers/${S}/join`)
  const filtersFor = [topics.serverWildcard(S), topics.serverChannel(S, general)]

  for (const how of ['kick', 'ban', 'leave'] as const) {
    await t.test(`${how}: the next delta reaches neither the wildcard nor the exact subscription`, async (t) => {
      const victim = await chime.register()
      await join(victim)
      const w = await watch(victim, filtersFor)
      await post(owner, general, `${how} before`)
      await waitFor('the delta before', () => (w.contents.includes(`${how} before`) ? true : undefined))
      if (how === 'kick') await ok(owner, 'POST', `/api/servers/${S}/members/${victim.user_id}/kick`)
      else if (how === 'ban') await ok(owner, 'POST', `/api/servers/${S}/bans`, { user_id: victim.user_id })
      else await ok(victim, 'POST', `/api/servers/${S}/leave`)
      const refused = await chime.http<{ data: { code: string } }>('POST', '/api/post/', { token: victim.token, body: { action: 'POST_MESSAGE', data: { channel_id: general, content: 'still here?' } } })
      t.same([refused.status, refused.body.data.code], [403, 'NOT_A_MEMBER'], 'and it can no longer post there')
      await post(owner, general, `${how} after`)
      await settle(victim, w)
      t.same(w.contents, [`${how} before`], 'nothing after the change')
      const [code] = await trySubscribe(w.client, topics.serverWildcard(S))
      t.equal(code, 128, 'subscribing again is refused')
      const typing: string[] = []
      const ownerClient = await watch(owner, [topics.typing(S, general)])
      ownerClient.client.on('message', (topic) => topic === topics.typing(S, general) && typing.push(topic))
      await w.client.publishAsync(topics.typing(S, general), JSON.stringify({ action: 'TYPING', data: { state: 'typing' } }), { qos: 1 })
      await settle(owner, ownerClient)
      t.same(typing, [], 'and it no longer publishes typing events there')
    })
  }

  await t.test('a channel made private: hidden at once from wildcard and exact subscribers; a user override keeps one in; lifting it brings the rest back', async (t) => {
    const [m1, insider] = [await chime.register(), await chime.register()]
    await join(m1)
    await join(insider)
    const w1 = await watch(m1, filtersFor)
    const wi = await watch(insider, [topics.serverWildcard(S)])
    await ok(owner, 'PUT', `/api/servers/${S}/channels/${general}/overrides`, { target_type: 'user', target: insider.user_id, allow: PERMISSIONS.READ, deny: 0 })
    await ok(owner, 'PUT', `/api/servers/${S}/channels/${general}/overrides`, { target_type: 'role', target: 'member', allow: 0, deny: PERMISSIONS.READ })
    await post(owner, general, 'private now')
    await settle(m1, w1)
    t.same(w1.contents, [], 'the member gets nothing')
    await waitFor('the insider gets it', () => (wi.contents.includes('private now') ? true : undefined))
    await ok(owner, 'PUT', `/api/servers/${S}/channels/${general}/overrides`, { target_type: 'role', target: 'member', allow: 0, deny: 0 })
    await arrives(owner, general, w1, 'public again')
    t.pass('the member receives again through its wildcard')
  })

  await t.test('a new role keeps access: revoked for a moment, granted again after the fresh check', async (t) => {
    const m = await chime.register()
    await join(m)
    const w = await watch(m, filtersFor)
    await ok(owner, 'PUT', `/api/servers/${S}/members/${m.user_id}/role`, { role: 'moderator' })
    await arrives(owner, general, w, 'still here')
    t.pass('the moderator still receives')
  })

  await t.test('a kicked persistent session gets nothing queued after the kick', async (t) => {
    const victim = await chime.register()
    await join(victim)
    const clientId = `persistent-${victim.user_id.slice(-8)}`
    const w = await watch(victim, filtersFor, { clientId, clean: false })
    await w.client.endAsync()
    await post(owner, general, 'queued before')
    await ok(owner, 'POST', `/api/servers/${S}/members/${victim.user_id}/kick`)
    await post(owner, general, 'queued after')
    const back = await mqtt.connectAsync(chime.mqttUrl, { username: victim.username, password: victim.token, clientId, clean: false, reconnectPeriod: 0 })
    t.teardown(() => back.endAsync(true))
    const got: string[] = []
    back.on('message', (_topic, payload) => {
      const env = JSON.parse(payload.toString()) as { action: string; data: { type?: string; content?: string } }
      if (env.action === 'PUBLISH_DELTA' && env.data.type === 'message') got.push(env.data.content!)
    })
    await request(back, victim.user_id, 'SYNC', {})
    t.notOk(got.includes('queued after'), 'the post after the kick was not delivered from the queue')
  })

  await t.test('removed from a group: the chat goes quiet for that user', async (t) => {
    const [admin, gone, stays] = [await chime.register(), await chime.register(), await chime.register()]
    const chat = (await ok<{ chat_id: string }>(admin, 'POST', '/api/chats', { user_ids: [gone.user_id, stays.user_id], name: 'g' })).chat_id
    const wg = await watch(gone, [topics.chat(chat)])
    const ws = await watch(stays, [topics.chat(chat)])
    await ok(admin, 'DELETE', `/api/chats/${chat}/members/${gone.user_id}`)
    await post(admin, chat, 'after removal')
    await waitFor('the remaining member gets it', () => (ws.contents.includes('after removal') ? true : undefined))
    await settle(gone, wg)
    t.same(wg.contents, [], 'the removed member does not')
  })
}

await eachProfile(t, 'revocation', run)
