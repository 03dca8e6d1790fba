// A persistent session belongs to the user who made it. Another user connecting with the
// same client id gets none of its queued deltas or inbox replies, and cannot take over a
// live connection; the owner reconnecting gets everything that was queued.
import t from 'tap'
import mqtt from 'mqtt'
import { request, startTestChime } from '../helpers/chime.ts'
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

  // Mallory reuses the client id with clean: false: the session is restored, but nothing
  // of Alice's is delivered to her.
  const stolen: string[] = []
  const thief = await mqtt.connectAsync(chime.mqttUrl, { username: mallory.username, password: mallory.token, clientId: 'alice-phone', clean: false, reconnectPeriod: 0 })
  thief.on('message', (tp, p) => tp !== topics.inbox(mallory.user_id) && stolen.push(`${tp} ${p.toString()}`))
  await post('while stolen')
  // A reply on the same connection comes after the queue drain and after the fan-out of
  // everything published before the request: a marker instead of a sleep.
  const marker = await request(thief, mallory.user_id, 'SYNC', {})
  t.equal(marker.action, 'SYNC_RESPONSE')
  t.same(stolen, [], 'nothing of Alice reached Mallory')
  await thief.endAsync()

  // Mallory's visit refused the restored subscriptions; Alice resubscribes and SYNC has it all.
  const back = await chime.connect(alice, { clientId: 'alice-phone', clean: false })
  const got: string[] = []
  back.on('message', (tp, p) => tp === topic && got.push((JSON.parse(p.toString()) as { data: { content: string } }).data.content))
  await back.subscribeAsync(topic, { qos: 1 })
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
