// The walking skeleton end to end on the embedded profile (SQLite, in-memory broker):
// register, create a server, subscribe over MQTT, post over MQTT and HTTP, sync, restore.
import t from 'tap'
import { collect, request, startTestChime, trySubscribe } from '../helpers/chime.ts'
import { waitFor } from '../helpers/wait.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'

t.test('a post over HTTP reaches an MQTT subscriber of the channel as PUBLISH_DELTA', async (t) => {
  const chime = await startTestChime(t)
  const alice = await chime.register()
  const bob = await chime.register()
  const created = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'Garden' } })
  t.equal(created.status, 200)
  const { server_id: serverId } = created.body
  const channel = await chime.http<{ channel_id: string }>('POST', `/api/servers/${serverId}/channels`, { token: alice.token, body: { name: 'roses', type: 'text' } })
  t.equal(channel.status, 200)
  const channelId = channel.body.channel_id
  t.equal((await chime.http('POST', `/api/servers/${serverId}/join`, { token: bob.token })).status, 200)

  for (const transport of ['tcp', 'ws'] as const) {
    const sub = await chime.connect(bob, { transport })
    const topic = topics.serverChannel(serverId, channelId)
    const got = collect(sub, topic)
    const granted = await sub.subscribeAsync(topic, { qos: 1 })
    t.equal(granted[0]?.qos, 1, `${transport}: subscription granted`)
    const post = await chime.http<Envelope<string, { delta_id: string; seq: string; status: string }>>('POST', '/api/post/', {
      token: alice.token,
      body: { action: 'POST_MESSAGE', data: { 'channel-id': channelId, content: `hello over ${transport}` } },
    })
    t.equal(post.status, 200)
    t.equal(post.body.action, 'POST_MESSAGE_RESPONSE')
    t.equal(post.body.data.status, 'success')
    const [env] = await waitFor(`${transport}: the delta`, () => (got.length > 0 ? got : undefined))
    t.equal(env!.action, 'PUBLISH_DELTA')
    const delta = env!.data as DeltaJson
    t.match(delta, { delta_id: post.body.data.delta_id, type: 'message', channel_id: channelId, server_id: serverId, user_id: alice.user_id, content: `hello over ${transport}` })
    t.ok(!Number.isNaN(Date.parse(delta.timestamp)), 'timestamp is ISO 8601')
    await sub.endAsync()
  }
})

t.test('POST, SYNC and RESTORE over MQTT requests, replies on the inbox with the request_id', async (t) => {
  const chime = await startTestChime(t)
  const alice = await chime.register()
  const { body: server } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'Home' } })
  const client = await chime.connect(alice, { clientId: 'alice-laptop' })
  await client.subscribeAsync([topics.inbox(alice.user_id), topics.serverWildcard(server.server_id)], { qos: 1 })
  const deltas = collect(client, topics.serverChannel(server.server_id, server.channel_id))

  const posted: string[] = []
  for (let i = 1; i <= 3; i++) {
    const reply = await request(client, alice.user_id, 'POST_MESSAGE', { channel_id: server.channel_id, content: `m${i}`, client_msg_id: `c${i}` })
    t.equal(reply.action, 'POST_MESSAGE_RESPONSE')
    const data = reply.data as { seq: string; delta_id: string; duplicate: boolean }
    t.equal(data.seq, String(i), 'seq counts 1, 2, 3 in the channel')
    t.equal(data.duplicate, false)
    posted.push(data.delta_id)
  }
  await waitFor('three deltas', () => (deltas.length === 3 ? true : undefined))
  t.same(deltas.map((d) => (d.data as DeltaJson).content), ['m1', 'm2', 'm3'])

  const sync = await request(client, alice.user_id, 'SYNC', { client_delta_id: posted[0] })
  t.equal(sync.action, 'SYNC_RESPONSE')
  const s = sync.data as { server_delta_id: string; missing_deltas: DeltaJson[]; recovered: boolean; has_more: boolean }
  t.same(s.missing_deltas.map((d) => d.delta_id), posted.slice(1), 'SYNC returns exactly the deltas after the client id')
  t.equal(s.server_delta_id, posted[2])
  t.equal(s.recovered, true)

  // From just before the first post (the server's own log holds server_created before it).
  const paged = await request(client, alice.user_id, 'SYNC', { client_delta_id: String(BigInt(posted[0]!) - 1n), limit: 2 })
  const p = paged.data as { missing_deltas: DeltaJson[]; has_more: boolean; next_client_delta_id: string; recovered: boolean }
  t.equal(p.missing_deltas.length, 2)
  t.equal(p.has_more, true)
  t.equal(p.recovered, false)
  t.equal(p.next_client_delta_id, posted[1])

  const restore = await request(client, alice.user_id, 'RESTORE_HISTORY', { channel_id: server.channel_id })
  t.equal(restore.action, 'RESTORE_HISTORY_RESPONSE')
  const r = restore.data as { deltas: DeltaJson[]; last_seq: string; has_more: boolean }
  t.same(r.deltas.map((d) => d.content), ['m1', 'm2', 'm3'])
  t.equal(r.last_seq, '3')
  t.equal(r.has_more, false)
})

t.test('CONNECT without a token, with a bad token, or with another user name is refused (not authorized)', async (t) => {
  const chime = await startTestChime(t)
  const alice = await chime.register()
  const mqtt = (await import('mqtt')).default
  for (const [what, opts] of [
    ['no password', { username: alice.username }],
    ['a forged token', { username: alice.username, password: alice.token.slice(0, -4) + 'AAAA' }],
    ['another username', { username: 'mallory', password: alice.token }],
  ] as const) {
    const err = await mqtt.connectAsync(chime.mqttUrl, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 }).then(
      (c) => {
        c.end(true)
        return null
      },
      (e: { code?: number }) => e,
    )
    t.equal(err?.code, 5, `${what}: CONNACK 5 not authorized`)
  }
})

t.test('typing events: members publish and receive them at QoS 0; outsiders may not', async (t) => {
  const chime = await startTestChime(t)
  const alice = await chime.register()
  const bob = await chime.register()
  const eve = await chime.register()
  const { body: server } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'Typing', is_public: false } })
  await chime.http('POST', '/api/servers', { token: bob.token, body: { name: 'other' } })
  const typing = topics.typing(server.server_id, server.channel_id)
  const a = await chime.connect(alice)
  const got: string[] = []
  a.on('message', (tp, p) => tp === typing && got.push(p.toString()))
  await a.subscribeAsync(topics.serverWildcard(server.server_id), { qos: 0 })
  const e = await chime.connect(eve)
  t.same(await trySubscribe(e, typing, 0), [128], 'an outsider cannot listen to typing')
  await e.publishAsync(typing, JSON.stringify({ action: 'TYPING', data: { state: 'typing' } }), { qos: 0 })
  const sameUser = await chime.connect(alice)
  await sameUser.publishAsync(typing, JSON.stringify({ action: 'TYPING', data: { state: 'typing' } }), { qos: 0 })
  await waitFor('the member typing event', () => (got.length >= 1 ? true : undefined))
  // a later event proves the outsider's earlier one was not merely slow
  await sameUser.publishAsync(typing, JSON.stringify({ action: 'TYPING', data: { state: 'stopped' } }), { qos: 0 })
  await waitFor('the second event', () => (got.length >= 2 ? true : undefined))
  t.same(got.map((g) => JSON.parse(g).data.user_id), [alice.user_id, alice.user_id], 'only members\' typing events arrive')
})
