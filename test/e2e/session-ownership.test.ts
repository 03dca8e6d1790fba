// A persistent session belongs to the user who made it: a client id is the device of its
// user, so another user's CONNECT with it is refused (CONNACK 2) whether the session is
// live or waiting; the owner reconnecting gets everything that was queued.
import t from 'tap'
import mqtt from 'mqtt'
import { startTestChime } from '../helpers/chime.ts'
import { waitFor } from '../helpers/wait.ts'
import { topics } from '../../clients/sdk/src/topics.ts'

t.test('queued deltas go only to the session owner', async (t) => {
  const chime = await startTestChime(t)
  const alice = await chime.register()
  const mallory = await chime.register()
  const { body: server } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'Secret', is_public: false } })
  const topic = topics.serverChannel(server.server_id, server.channel_id)
  const phone = await chime.connect(alice, { clientId: 'alice-phone', clean: false })
  await phone.subscribeAsync([topic, topics.inbox(alice.user_id)], { qos: 1 })
  await phone.endAsync()

  const post = (content: string) => chime.http('POST', '/api/post/', { token: alice.token, body: { action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content } } })
  await post('queued 1')
  await post('queued 2')

  // Mallory reuses the client id with clean: false: the client id is the device of another
  // user, so the CONNECT is refused before any session is restored.
  const err = await mqtt.connectAsync(chime.mqttUrl, { username: mallory.username, password: mallory.token, clientId: 'alice-phone', clean: false, reconnectPeriod: 0 }).then(
    async (c) => {
      await c.endAsync(true)
      return null
    },
    (e: { code?: number }) => e,
  )
  t.equal(err?.code, 2, "another user's client id: CONNACK 2 (identifier rejected)")
  await post('while refused')

  // Alice's session is intact: her queue arrives on reconnect.
  const got: string[] = []
  const back = await mqtt.connectAsync(chime.mqttUrl, { username: alice.username, password: alice.token, clientId: 'alice-phone', clean: false, reconnectPeriod: 0 })
  t.teardown(() => back.endAsync(true))
  back.on('message', (tp, p) => tp === topic && got.push((JSON.parse(p.toString()) as { data: { content: string } }).data.content))
  await waitFor('the queue', () => (got.length >= 3 ? true : undefined))
  t.same(got.slice(0, 3), ['queued 1', 'queued 2', 'while refused'], 'everything queued, in order')
  await post('after')
  await waitFor('the new delta', () => (got.includes('after') ? true : undefined))
})

t.test('the owner gets its queue on reconnect', async (t) => {
  const chime = await startTestChime(t)
  const alice = await chime.register()
  const { body: server } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'Home' } })
  const topic = topics.serverChannel(server.server_id, server.channel_id)
  const phone = await chime.connect(alice, { clientId: 'alice-phone', clean: false })
  await phone.subscribeAsync(topic, { qos: 1 })
  await phone.endAsync()
  for (const content of ['q1', 'q2', 'q3']) await chime.http('POST', '/api/post/', { token: alice.token, body: { action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content } } })
  const got: string[] = []
  const back = await mqtt.connectAsync(chime.mqttUrl, { username: alice.username, password: alice.token, clientId: 'alice-phone', clean: false, reconnectPeriod: 0 })
  back.on('message', (tp, p) => tp === topic && got.push((JSON.parse(p.toString()) as { data: { content: string } }).data.content))
  await waitFor('the three queued deltas', () => (got.length >= 3 ? true : undefined))
  t.same(got, ['q1', 'q2', 'q3'])
  await back.endAsync()
})

t.test('a live connection cannot be taken over under another user: CONNACK 2', async (t) => {
  const chime = await startTestChime(t)
  const alice = await chime.register()
  const mallory = await chime.register()
  const live = await chime.connect(alice, { clientId: 'alice-laptop' })
  const err = await mqtt.connectAsync(chime.mqttUrl, { username: mallory.username, password: mallory.token, clientId: 'alice-laptop', reconnectPeriod: 0 }).then(
    (c) => {
      c.end(true)
      return null
    },
    (e: { code?: number }) => e,
  )
  t.equal(err?.code, 2, 'identifier rejected')
  t.ok(live.connected, "Alice's connection is untouched")
})
