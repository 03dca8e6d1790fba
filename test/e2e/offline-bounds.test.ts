// Bounded offline delivery (broker/src/offline-bounds.ts) and the QoS of deltas by server
// size (api/src/publish/qos-policy.ts), on the embedded profile (in-memory persistence) and
// on a Redis-backed broker (aedes-persistence-redis):
//  - a persistent session away while more than CHIME_OFFLINE_MAX_MESSAGES arrive gets the
//    newest ones on reconnect, and SYNC the rest; the Redis list never grows beyond the cap;
//  - queued packets carry the TTL in Redis, and are dropped in memory once it has passed;
//  - an expired session loses its subscriptions and queue, on a sweep or by the timer, while
//    a connected one is kept; two nodes sweeping the same Redis at once clean each once;
//  - with CHIME_QOS1_MAX_MEMBERS small, a big server's deltas arrive at QoS 0 and are not
//    queued, a chat's still at QoS 1 and queued.
import t, { type Test } from 'tap'
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Client } from 'aedes'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'
import type { Config } from '../../config/schema.ts'
import { offlineSweeperOf, type OfflineSweeper } from '../../broker/src/offline-bounds.ts'
import { outgoingListKey, SESSION_SEEN_KEY } from '../../broker/src/offline-redis.ts'
import { startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { waitFor } from '../helpers/wait.ts'
import { defer } from '../helpers/cleanup.ts'

const CAP = 5
const TTL = 3600
const EXPIRY = 7200

interface Got {
  topic: string
  qos: number
  delta: DeltaJson
}

interface Conn {
  client: MqttClient
  got: Got[]
  sessionPresent: boolean
}

interface Persistence {
  subscriptionsByClient(c: Pick<Client, 'id'>): Promise<{ topic: string }[]>
  subscriptionsByTopic(topic: string): Promise<{ clientId: string }[]>
}

/** Runs fn on the embedded profile and on MariaDB + a private Redis (admin: a client of it). */
async function eachProfile(t: Test, name: string, overrides: Partial<Config>, fn: (t: Test, chime: TestChime, admin: Redis | null) => Promise<void>): Promise<void> {
  await t.test(`${name} [embedded]`, async (t) => fn(t, await startTestChime(t, overrides), null))
  await t.test(`${name} [redis]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    const chime = await startTestChime(t, { ...overrides, databaseUrl, redisUrl: redis.url })
    const admin = new Redis(redis.url)
    defer(t, () => admin.quit())
    await fn(t, chime, admin)
  })
}

/** Connects with the message handler in place before CONNACK, so no replayed packet is missed. */
async function open(t: Test, chime: TestChime, user: TestUser, clientId: string, clean: boolean): Promise<Conn> {
  const client = mqtt.connect(chime.mqttUrl, { username: user.username, password: user.token, clientId, clean, reconnectPeriod: 0, connectTimeout: 5000 })
  const got: Got[] = []
  client.on('message', (topic, payload, packet) => {
    const env = JSON.parse(payload.toString()) as Envelope
    if (env.action === 'PUBLISH_DELTA') got.push({ topic, qos: packet.qos, delta: env.data as DeltaJson })
  })
  defer(t, () => client.endAsync(true).catch(() => undefined))
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  return { client, got, sessionPresent: connack.sessionPresent }
}

function sweeperOf(chime: TestChime): OfflineSweeper {
  const s = offlineSweeperOf(chime.running.aedes!)
  if (s === undefined) throw new Error('the broker has no offline sweeper')
  return s
}

function persistenceOf(chime: TestChime): Persistence {
  return (chime.running.aedes as unknown as { persistence: Persistence }).persistence
}

const suffix = (): string => randomBytes(4).toString('hex')

async function post(chime: TestChime, user: TestUser, channelId: string, content: string): Promise<void> {
  const res = await chime.http('POST', '/api/post/', { token: user.token, body: { action: 'POST_MESSAGE', data: { channel_id: channelId, content } } })
  if (res.status !== 200) throw new Error(`post failed: ${res.status} ${JSON.stringify(res.body)}`)
}

async function sync(chime: TestChime, user: TestUser, data: object): Promise<{ missing_deltas: DeltaJson[]; recovered: boolean; has_more: boolean }> {
  const res = await chime.http<Envelope<string, { missing_deltas: DeltaJson[]; recovered: boolean; has_more: boolean }>>('POST', '/api/sync/', { token: user.token, body: { action: 'SYNC', data } })
  if (res.status !== 200) throw new Error(`sync failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.data
}

async function chatWith(chime: TestChime, owner: TestUser, others: TestUser[]): Promise<string> {
  const res = await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: owner.token, body: { user_ids: others.map((u) => u.user_id) } })
  if (res.status !== 200) throw new Error(`chat failed: ${res.status}`)
  return res.body.chat_id
}

const messages = (got: Got[], topic: string): Got[] => got.filter((g) => g.topic === topic && g.delta.type === 'message')

/** Every key of aedes-persistence-redis's packets carries a TTL within (0, max]. */
async function packetKeysExpire(t: Test, admin: Redis, max: number): Promise<void> {
  const keys = await admin.keys('packet:*')
  t.ok(keys.length > 0, 'queued packets are stored')
  const ttls = await Promise.all(keys.map((k) => admin.ttl(k)))
  t.ok(
    ttls.every((s) => s > 0 && s <= max),
    `every packet key expires within ${max} s (${keys.length} keys)`,
  )
}

await eachProfile(t, 'a session away for more than the cap', { offlineMaxMessages: CAP, offlineTtlSeconds: TTL, sessionExpirySeconds: EXPIRY }, async (t, chime, admin) => {
  const sweeper = sweeperOf(chime)
  t.same(sweeper.bounds, { maxMessages: CAP, ttlSeconds: TTL, sessionExpirySeconds: EXPIRY }, 'the configured bounds reach the broker')
  const [alice, bob, carol] = await Promise.all([chime.register(), chime.register(), chime.register()])
  const chatId = await chatWith(chime, alice!, [bob!])
  const topic = topics.chat(chatId)
  const watcher = await open(t, chime, alice!, `alice-watch-${suffix()}`, true)
  await watcher.client.subscribeAsync(topic, { qos: 1 })
  const bobId = `bob-phone-${suffix()}`

  await t.test('gets exactly the newest cap packets on reconnect, and SYNC gives the rest', async (t) => {
    const first = await open(t, chime, bob!, bobId, false)
    await first.client.subscribeAsync(topic, { qos: 1 })
    const lastSeq = (await sync(chime, bob!, { channel_id: chatId, client_seq: '0' })).missing_deltas.at(-1)!.seq
    await first.client.endAsync()

    const total = CAP + 3
    let longest = 0
    for (let i = 1; i <= total; i++) {
      await post(chime, alice!, chatId, `away ${i}`)
      // The live subscriber has it: the broker queued it for Bob before fanning it out.
      await waitFor(`post ${i} live`, () => (messages(watcher.got, topic).length >= i ? true : undefined))
      longest = Math.max(longest, admin === null ? await sweeper.queued(bobId) : await admin.llen(outgoingListKey(bobId)))
    }
    t.equal(longest, CAP, `the queue never held more than ${CAP}`)
    t.equal(await sweeper.queued(bobId), CAP, 'the cap is what is queued')
    if (admin !== null) {
      const listTtl = await admin.ttl(outgoingListKey(bobId))
      t.ok(listTtl > 0 && listTtl <= TTL, `the queue list expires (TTL ${listTtl} s)`)
      await packetKeysExpire(t, admin, TTL)
    }

    const posted = messages(watcher.got, topic).map((g) => g.delta)
    t.equal(posted.length, total)
    const again = await open(t, chime, bob!, bobId, false)
    t.ok(again.sessionPresent, 'the session is still there')
    await waitFor('the queue delivered and acknowledged', async () => (messages(again.got, topic).length >= CAP && (await sweeper.queued(bobId)) === 0 ? true : undefined))
    const newest = posted.slice(-CAP)
    t.same(
      messages(again.got, topic).map((g) => g.delta.delta_id),
      newest.map((d) => d.delta_id),
      'the newest ones, in order',
    )
    t.ok(
      again.got.every((g) => g.qos === 1),
      'at QoS 1',
    )
    // Anything else queued would have arrived before a message posted now.
    await post(chime, alice!, chatId, 'marker')
    await waitFor('the marker', () => (messages(again.got, topic).some((g) => g.delta.content === 'marker') ? true : undefined))
    t.same(
      messages(again.got, topic).map((g) => g.delta.content),
      [...newest.map((d) => d.content), 'marker'],
      'nothing older came',
    )
    const missed = await sync(chime, bob!, { channel_id: chatId, client_seq: lastSeq })
    t.ok(missed.recovered, 'SYNC recovers')
    t.same(
      missed.missing_deltas.map((d) => d.content),
      [...posted.map((d) => d.content), 'marker'],
      'SYNC returns every missed delta, the dropped ones too',
    )
  })

  await t.test('queued packets expire; an expired session loses subscriptions and queue', async (t) => {
    const carolChat = await chatWith(chime, alice!, [carol!])
    const carolTopic = topics.chat(carolChat)
    const carolId = `carol-tab-${suffix()}`
    const first = await open(t, chime, carol!, carolId, false)
    await first.client.subscribeAsync(carolTopic, { qos: 1 })
    await first.client.endAsync()
    // Another device of Carol's stays connected all along.
    const deskId = `carol-desk-${suffix()}`
    const desk = await open(t, chime, carol!, deskId, false)
    await desk.client.subscribeAsync(carolTopic, { qos: 1 })
    await post(chime, alice!, carolChat, 'one')
    await post(chime, alice!, carolChat, 'two')
    await waitFor('two packets queued for Carol', async () => ((await sweeper.queued(carolId)) === 2 ? true : undefined))
    t.same((await persistenceOf(chime).subscriptionsByClient({ id: carolId })).map((s) => s.topic), [carolTopic], 'the session is stored')

    if (admin === null) {
      const swept = await sweeper.sweep(Date.now() + (TTL + 1) * 1000)
      t.ok(swept.dropped >= 2, `a sweep past the TTL drops them (${swept.dropped})`)
      t.equal(swept.expired, 0, 'the session itself is not expired yet')
      t.equal(await sweeper.queued(carolId), 0, 'nothing is queued any more')
    } else {
      const listTtl = await admin.ttl(outgoingListKey(carolId))
      t.ok(listTtl > 0 && listTtl <= TTL, `Redis expires the queue list (TTL ${listTtl} s)`)
      await packetKeysExpire(t, admin, TTL)
    }

    const swept = await sweeper.sweep(Date.now() + (EXPIRY + 1) * 1000)
    t.equal(swept.expired, 2, "two sessions expired: Carol's tablet and Bob's phone (gone with the previous test)")
    t.same(await persistenceOf(chime).subscriptionsByClient({ id: bobId }), [], "Bob's phone lost its subscriptions too")
    t.same((await persistenceOf(chime).subscriptionsByClient({ id: deskId })).map((s) => s.topic), [carolTopic], 'the connected desk keeps its session')
    t.same(await persistenceOf(chime).subscriptionsByClient({ id: carolId }), [], 'its subscriptions are gone')
    t.equal(await sweeper.queued(carolId), 0, 'and its queue')
    if (admin !== null) {
      t.equal(await admin.exists(`client:${carolId}`, outgoingListKey(carolId)), 0, 'no keys of it are left')
      t.equal(await admin.sismember('clients', carolId), 0, 'nor its entry among the sessions')
      t.equal(await admin.zscore(SESSION_SEEN_KEY, carolId), null, 'nor its last-seen record')
    }
    const back = await open(t, chime, carol!, carolId, false)
    t.notOk(back.sessionPresent, 'a reconnect starts a new session')
  })
})

await eachProfile(t, 'a packet older than the TTL is not delivered', { offlineTtlSeconds: 1 }, async (t, chime, admin) => {
  const sweeper = sweeperOf(chime)
  const [alice, gus] = await Promise.all([chime.register(), chime.register()])
  const chatId = await chatWith(chime, alice!, [gus!])
  const topic = topics.chat(chatId)
  const gusId = `gus-${suffix()}`
  const first = await open(t, chime, gus!, gusId, false)
  await first.client.subscribeAsync(topic, { qos: 1 })
  await first.client.endAsync()
  await post(chime, alice!, chatId, 'stale')
  await waitFor('the packet queued', async () => ((await sweeper.queued(gusId)) === 1 ? true : undefined))
  // Memory filters by age when reading; Redis expires the list and the packet keys.
  await waitFor('the packet to age out', async () => ((await sweeper.queued(gusId)) === 0 ? true : undefined), 10_000)
  if (admin !== null) t.same(await admin.keys('packet:*'), [], 'Redis dropped the packet keys')
  const back = await open(t, chime, gus!, gusId, false)
  t.ok(back.sessionPresent, 'the session itself is kept')
  await post(chime, alice!, chatId, 'fresh')
  await waitFor('the live message', () => (messages(back.got, topic).length > 0 ? true : undefined))
  t.same(
    messages(back.got, topic).map((g) => g.delta.content),
    ['fresh'],
    'the expired packet was not delivered',
  )
})

await eachProfile(t, 'session expiry by the timer', { sessionExpirySeconds: 1 }, async (t, chime) => {
  const sweeper = sweeperOf(chime)
  const [alice, dave, erin] = await Promise.all([chime.register(), chime.register(), chime.register()])
  const chatId = await chatWith(chime, alice!, [dave!, erin!])
  const topic = topics.chat(chatId)
  const daveId = `dave-${suffix()}`
  const erinId = `erin-${suffix()}`
  const gone = await open(t, chime, dave!, daveId, false)
  await gone.client.subscribeAsync(topic, { qos: 1 })
  const stays = await open(t, chime, erin!, erinId, false)
  await stays.client.subscribeAsync(topic, { qos: 1 })
  await gone.client.endAsync()
  const persistence = persistenceOf(chime)
  await waitFor(
    'the away session to expire',
    async () => ((await persistence.subscriptionsByClient({ id: daveId })).length === 0 ? true : undefined),
    10_000,
  )
  t.pass('the away session expired')
  t.equal(await sweeper.sessions(), 1, 'only the connected session keeps a record')
  t.same((await persistence.subscriptionsByClient({ id: erinId })).map((s) => s.topic), [topic], 'the connected one is kept')
  await post(chime, alice!, chatId, 'still here')
  await waitFor('a live delivery', () => (messages(stays.got, topic).some((g) => g.delta.content === 'still here') ? true : undefined))
  t.pass('and still receives')
})

t.test('two Redis-backed nodes sweeping at once clean each session once', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  const shared = { databaseUrl, redisUrl: redis.url, jwtSecret: randomBytes(32).toString('hex'), sessionExpirySeconds: EXPIRY }
  const [a, b] = await Promise.all([startTestChime(t, shared), startTestChime(t, shared)])
  const admin = new Redis(redis.url)
  defer(t, () => admin.quit())
  const users = await Promise.all([1, 2, 3, 4].map(() => a.register()))
  const sessions: { id: string; topic: string }[] = []
  for (const user of users) {
    for (let d = 0; d < 3; d++) {
      const id = `dev-${d}-${suffix()}`
      const c = await open(t, a, user, id, false)
      await c.client.subscribeAsync(topics.inbox(user.user_id), { qos: 1 })
      await c.client.endAsync()
      sessions.push({ id, topic: topics.inbox(user.user_id) })
    }
  }
  t.equal(await admin.zcard(SESSION_SEEN_KEY), sessions.length, 'every session has a last-seen record')
  await waitFor('node B knows the sessions', async () => {
    const subs = await Promise.all(sessions.map((s) => persistenceOf(b).subscriptionsByTopic(s.topic)))
    return subs.every((list, i) => list.some((x) => x.clientId === sessions[i]!.id)) ? true : undefined
  })

  const later = Date.now() + (EXPIRY + 1) * 1000
  const [ra, rb] = await Promise.all([sweeperOf(a).sweep(later), sweeperOf(b).sweep(later)])
  t.equal(ra.expired + rb.expired, sessions.length, `each session cleaned once (${ra.expired} + ${rb.expired})`)
  t.equal(await admin.zcard(SESSION_SEEN_KEY), 0, 'no records left')
  t.equal(await admin.scard('clients'), 0, 'no sessions left in the store')
  for (const node of [a, b]) {
    await waitFor('both nodes forget the subscriptions', async () => {
      const subs = await Promise.all(sessions.map((s) => persistenceOf(node).subscriptionsByTopic(s.topic)))
      return subs.every((list) => list.length === 0) ? true : undefined
    })
  }
  t.pass('both nodes route nothing to the expired sessions')
})

await eachProfile(t, 'QoS by server size', { qos1MaxMembers: 2 }, async (t, chime, admin) => {
  const sweeper = sweeperOf(chime)
  const [owner, u1, u2] = await Promise.all([chime.register(), chime.register(), chime.register()])
  const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: owner!.token, body: { name: 'Big' } })).body
  const channelTopic = topics.serverChannel(server.server_id, server.channel_id)
  await chime.http('POST', `/api/servers/${server.server_id}/join`, { token: u1!.token })
  const chatId = await chatWith(chime, owner!, [u1!, u2!])
  const chatTopic = topics.chat(chatId)
  const live = await open(t, chime, u1!, `u1-live-${suffix()}`, true)
  await live.client.subscribeAsync([topics.serverWildcard(server.server_id), chatTopic], { qos: 1 })
  const seen = (topic: string, content: string): Promise<Got> =>
    waitFor(content, () => messages(live.got, topic).find((g) => g.delta.content === content))

  await post(chime, owner!, server.channel_id, 'two members')
  t.equal((await seen(channelTopic, 'two members')).qos, 1, 'a server at the limit: QoS 1')

  await chime.http('POST', `/api/servers/${server.server_id}/join`, { token: u2!.token })
  const u2Id = `u2-phone-${suffix()}`
  const away = await open(t, chime, u2!, u2Id, false)
  await away.client.subscribeAsync([topics.serverWildcard(server.server_id), chatTopic], { qos: 1 })
  await away.client.endAsync()

  await post(chime, owner!, server.channel_id, 'three members')
  await post(chime, owner!, chatId, 'in the chat')
  t.equal((await seen(channelTopic, 'three members')).qos, 0, 'above the limit (the join was noticed at once): QoS 0')
  t.equal((await seen(chatTopic, 'in the chat')).qos, 1, 'a chat: QoS 1')
  t.equal(await sweeper.queued(u2Id), 1, 'only the chat delta is queued for the session that is away')
  if (admin !== null) t.equal(await admin.llen(outgoingListKey(u2Id)), 1, 'one entry in its Redis list')

  const back = await open(t, chime, u2!, u2Id, false)
  await waitFor('the queued chat delta', async () => (messages(back.got, chatTopic).length >= 1 && (await sweeper.queued(u2Id)) === 0 ? true : undefined))
  t.same(
    messages(back.got, chatTopic).map((g) => [g.delta.content, g.qos]),
    [['in the chat', 1]],
    'the chat delta arrives, at QoS 1',
  )
  await post(chime, owner!, server.channel_id, 'live again')
  await waitFor('a live server delta', () => (messages(back.got, channelTopic).some((g) => g.delta.content === 'live again') ? true : undefined))
  t.same(
    messages(back.got, channelTopic).map((g) => [g.delta.content, g.qos]),
    [['live again', 0]],
    'the server delta from while it was away was not queued; live ones arrive at QoS 0',
  )
  const missed = await sync(chime, u2!, { channel_id: server.channel_id, client_seq: '0' })
  t.ok(
    missed.missing_deltas.some((d) => d.content === 'three members'),
    'SYNC has it',
  )
})
