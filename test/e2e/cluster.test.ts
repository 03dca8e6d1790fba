// A real cluster: two API sidecars and two broker nodes as separate processes sharing
// MariaDB and Redis. A delta posted through one node reaches subscribers on the other.
import t from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { randomBytes } from 'node:crypto'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { spawnChime } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'

t.test('two brokers and two API sidecars over MariaDB and Redis', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, CHIME_JWT_SECRET: randomBytes(32).toString('hex') }
  const [api1, api2] = await Promise.all([spawnChime(t, 'api', env), spawnChime(t, 'api', env)])
  const [brokerA, brokerB] = await Promise.all([
    spawnChime(t, 'broker', { ...env, CHIME_API_URL: `http://127.0.0.1:${api1!.httpPort}` }),
    spawnChime(t, 'broker', { ...env, CHIME_API_URL: `http://127.0.0.1:${api2!.httpPort}` }),
  ])
  const api = async <T>(port: number, path: string, body: unknown, token?: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })
    t.equal(res.status, 200, `POST ${path}`)
    return (await res.json()) as T
  }
  const alice = await api<{ user_id: string; token: string }>(api1!.httpPort, '/api/auth/register', { username: 'alice', password: 'correct horse battery' })
  // The sidecars share the database and the token secret: either one logs Alice in.
  const again = await api<{ user_id: string; token: string }>(api2!.httpPort, '/api/auth/login', { username: 'alice', password: 'correct horse battery' })
  t.equal(again.user_id, alice.user_id)
  const bob = await api<{ user_id: string; token: string }>(api2!.httpPort, '/api/auth/register', { username: 'bob', password: 'correct horse battery' })
  const { server_id: serverId, channel_id: channelId } = await api<{ server_id: string; channel_id: string }>(api1!.httpPort, '/api/servers', { name: 'Cluster' }, alice.token)
  await api(api2!.httpPort, `/api/servers/${serverId}/join`, {}, bob.token)
  const topic = topics.serverChannel(serverId, channelId)

  const clients: MqttClient[] = []
  t.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))))
  const connect = async (port: number, user: { token: string }, username: string, clientId: string, clean = true): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username, password: user.token, clientId, clean, reconnectPeriod: 0 })
    clients.push(c)
    return c
  }
  // Bob listens on broker B (websocket for one of them), Alice posts through broker A.
  const bobOnB = await connect(brokerB!.mqttPort!, bob, 'bob', 'bob-phone')
  const bobWs = await mqtt.connectAsync(`ws://127.0.0.1:${brokerB!.httpPort}/mqtt`, { username: 'bob', password: bob.token, clientId: 'bob-browser', reconnectPeriod: 0 })
  clients.push(bobWs)
  const got: DeltaJson[] = []
  const gotWs: DeltaJson[] = []
  bobOnB.on('message', (tp, p) => tp === topic && got.push((JSON.parse(p.toString()) as Envelope<string, DeltaJson>).data))
  bobWs.on('message', (tp, p) => tp === topic && gotWs.push((JSON.parse(p.toString()) as Envelope<string, DeltaJson>).data))
  await bobOnB.subscribeAsync(topics.serverWildcard(serverId), { qos: 1 })
  await bobWs.subscribeAsync(topic, { qos: 1 })

  const aliceOnA = await connect(brokerA!.mqttPort!, alice, 'alice', 'alice-laptop')
  const inbox: Envelope[] = []
  aliceOnA.on('message', (tp, p) => tp === topics.inbox(alice.user_id) && inbox.push(JSON.parse(p.toString()) as Envelope))
  await aliceOnA.subscribeAsync(topics.inbox(alice.user_id), { qos: 1 })
  for (let i = 1; i <= 50; i++) {
    await aliceOnA.publishAsync(topics.requests('alice-laptop'), JSON.stringify({ action: 'POST_MESSAGE', request_id: `p${i}`, data: { channel_id: channelId, content: `via A ${i}`, client_msg_id: `a${i}` } }), { qos: 1 })
  }
  // and one over HTTP through the other sidecar
  await api(api2!.httpPort, '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content: 'via api-2' } }, alice.token)

  await waitFor('51 deltas on broker B', () => (got.length >= 51 && gotWs.length >= 51 ? true : undefined), 30_000)
  t.same(got.map((d) => d.seq), Array.from({ length: 51 }, (_, i) => String(i + 1)), 'broker B (TCP) saw seq 1..51 in order')
  t.same(gotWs.map((d) => d.delta_id), got.map((d) => d.delta_id), 'broker B (WebSocket) saw the same order')
  t.equal(got.at(-1)!.content, 'via api-2')
  await waitFor('50 replies on the inbox', () => (inbox.filter((e) => e.action === 'POST_MESSAGE_RESPONSE').length >= 50 ? true : undefined))

  // Both sidecars commit into the same channel at once: every subscriber, on either node,
  // still sees one gapless order (the publish lock keeps publishes in commit order).
  const onA = await connect(brokerA!.mqttPort!, bob, 'bob', 'bob-desktop')
  const gotA: DeltaJson[] = []
  onA.on('message', (tp, p) => tp === topic && gotA.push((JSON.parse(p.toString()) as Envelope<string, DeltaJson>).data))
  await onA.subscribeAsync(topic, { qos: 1 })
  const posterB = await connect(brokerB!.mqttPort!, bob, 'bob', 'bob-poster')
  const burst = (client: MqttClient, clientId: string, who: string) =>
    Promise.all(Array.from({ length: 150 }, (_, i) => client.publishAsync(topics.requests(clientId), JSON.stringify({ action: 'POST_MESSAGE', data: { channel_id: channelId, content: `${who} ${i}` } }), { qos: 1 })))
  await Promise.all([burst(aliceOnA, 'alice-laptop', 'A'), burst(posterB, 'bob-poster', 'B')])
  await waitFor('300 more deltas everywhere', () => (got.length >= 351 && gotWs.length >= 351 && gotA.length >= 300 ? true : undefined), 30_000)
  t.same(got.map((d) => Number(d.seq)), Array.from({ length: 351 }, (_, i) => i + 1), 'broker B (TCP): gapless 1..351 in order')
  t.same(gotWs.map((d) => d.delta_id), got.map((d) => d.delta_id), 'broker B (WebSocket): the same order')
  t.same(gotA.map((d) => d.delta_id), got.slice(51).map((d) => d.delta_id), 'broker A: the same order')
  const mixed = got.slice(51).map((d) => d.content!.split(' ')[0])
  t.ok(mixed.includes('A') && mixed.includes('B'), 'both sidecars committed into the channel')

  // A persistent session (clean: false) opened on B gets what arrived while away, through A.
  const offline = await connect(brokerB!.mqttPort!, bob, 'bob', 'bob-tablet', false)
  await offline.subscribeAsync(topic, { qos: 1 })
  await offline.endAsync()
  await api(api1!.httpPort, '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content: 'while the tablet slept' } }, alice.token)
  const back = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerA!.mqttPort}`, { username: 'bob', password: bob.token, clientId: 'bob-tablet', clean: false, reconnectPeriod: 0 })
  clients.push(back)
  const queued = await new Promise<DeltaJson>((resolve) => back.on('message', (tp, p) => tp === topic && resolve((JSON.parse(p.toString()) as Envelope<string, DeltaJson>).data)))
  t.equal(queued.content, 'while the tablet slept', 'the queued delta arrives on reconnect to the other node')

  // Another user's CONNECT with a client id live on the other node is refused, and the live
  // connection stays (aedes would otherwise close it across the cluster).
  const refused = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerA!.mqttPort}`, { username: 'alice', password: alice.token, clientId: 'bob-phone', reconnectPeriod: 0 }).then(
    async (c) => {
      await c.endAsync(true)
      return null
    },
    (e: { code?: number }) => e,
  )
  t.equal(refused?.code, 2, "alice with bob's client id on broker A: CONNACK 2")
  await api(api1!.httpPort, '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content: 'bob-phone still here' } }, alice.token)
  await waitFor("bob's phone on broker B still receives", () => (got.some((d) => d.content === 'bob-phone still here') ? true : undefined))
  t.ok(bobOnB.connected, "bob's connection on broker B is untouched")

  // A kick through one sidecar stops delivery on both broker nodes before the next delta.
  const carol = await api<{ user_id: string; token: string }>(api1!.httpPort, '/api/auth/register', { username: 'carol', password: 'correct horse battery' })
  await api(api1!.httpPort, `/api/servers/${serverId}/join`, {}, carol.token)
  const carolGot: Record<string, string[]> = { A: [], B: [] }
  const carolOn: Record<string, MqttClient> = {}
  for (const [node, port] of [['A', brokerA!.mqttPort!], ['B', brokerB!.mqttPort!]] as const) {
    const c = await connect(port, carol, 'carol', `carol-${node}`)
    c.on('message', (tp, p) => tp === topic && carolGot[node]!.push((JSON.parse(p.toString()) as Envelope<string, DeltaJson>).data.content!))
    await c.subscribeAsync([topics.serverWildcard(serverId), topic, topics.inbox(carol.user_id)], { qos: 1 })
    carolOn[node] = c
  }
  await api(api2!.httpPort, '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content: 'before the kick' } }, alice.token)
  await waitFor('carol receives on both nodes', () => (carolGot['A']!.includes('before the kick') && carolGot['B']!.includes('before the kick') ? true : undefined))
  await api(api2!.httpPort, `/api/servers/${serverId}/members/${carol.user_id}/kick`, {}, alice.token)
  await api(api1!.httpPort, '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content: 'after the kick' } }, alice.token)
  for (const node of ['A', 'B']) {
    const c = carolOn[node]!
    const reply = new Promise<void>((resolve) => c.on('message', (tp, p) => tp === topics.inbox(carol.user_id) && p.toString().includes('"marker"') && resolve()))
    await c.publishAsync(topics.requests(`carol-${node}`), JSON.stringify({ action: 'SYNC', request_id: 'marker', data: {} }), { qos: 1 })
    await reply
    t.notOk(carolGot[node]!.includes('after the kick'), `broker ${node}: nothing after the kick`)
  }
})
