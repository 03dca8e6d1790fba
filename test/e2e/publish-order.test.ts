// Deltas leave the broker in commit order. The publisher hands a run of deltas on one topic
// to the broker at once (one round trip per run, not per delta) and waits between runs on
// different topics; this proves that nothing overtakes anything, on both profiles, when the
// runs take different paths through the broker: a channel with a persistent session away
// (its deltas are queued for it first, in Redis on the production profile) and a chat with
// nobody away (no queueing). A live subscriber of both must see every delta_id in increasing
// order, and the session that was away gets its queue in seq order.
import t, { type Test } from 'tap'
import { channelTopic } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'
import type { Config } from '../../config/schema.ts'
import { startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { waitFor } from '../helpers/wait.ts'

async function eachProfile(t: Test, fn: (t: Test, chime: TestChime) => Promise<void>): Promise<void> {
  await t.test('embedded', async (t) => fn(t, await startTestChime(t)))
  await t.test('production (Redis persistence)', async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    await fn(t, await startTestChime(t, { databaseUrl, redisUrl: redis.url } satisfies Partial<Config>))
  })
}

const ROUNDS = 6
const RUN = 40

await eachProfile(t, async (t, chime) => {
  const [ann, bob, cat] = (await Promise.all([chime.register(), chime.register(), chime.register()])) as [TestUser, TestUser, TestUser]
  const call = async <T>(user: TestUser, method: string, path: string, body?: unknown): Promise<T> => {
    const res = await chime.http<T>(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) })
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  const server = await call<{ server_id: string; channel_id: string }>(ann, 'POST', '/api/servers', { name: 'order' })
  for (const u of [bob, cat]) await call(u, 'POST', `/api/servers/${server.server_id}/join`)
  const chat = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [bob.user_id] })).chat_id
  const channelOf = channelTopic({ id: server.channel_id, serverId: server.server_id })
  const chatOf = channelTopic({ id: chat, serverId: null })

  // cat: a persistent session on the channel, then away, so every channel delta is queued for her first.
  const catId = `cat-${process.pid}-${Date.now()}`
  const away = await chime.connect(cat, { clientId: catId, clean: false })
  await away.subscribeAsync(channelOf, { qos: 1 })
  await away.endAsync()

  const bobClient = await chime.connect(bob)
  const live: DeltaJson[] = []
  bobClient.on('message', (topic, payload) => {
    if (topic === channelOf || topic === chatOf) live.push((JSON.parse(payload.toString()) as Envelope<string, DeltaJson>).data)
  })
  await bobClient.subscribeAsync([channelOf, chatOf], { qos: 1 })

  // Runs alternate between the two topics; two lists race so transactions mix them too.
  const list = (tag: string) => Array.from({ length: ROUNDS * RUN }, (_, i) => ({
    action: 'POST_MESSAGE',
    data: { channel_id: Math.floor(i / RUN) % 2 === 0 ? server.channel_id : chat, content: `${tag} ${i}` },
  }))
  const replies = (await Promise.all([call<Envelope[]>(ann, 'POST', '/api/requests', list('a')), call<Envelope[]>(ann, 'POST', '/api/requests', list('b'))])).flat()
  t.ok(replies.every((r) => r.action === 'POST_MESSAGE_RESPONSE'), 'every post committed')
  const total = replies.length
  await waitFor(`bob receives ${total} deltas`, () => (live.length >= total ? true : undefined))
  const ids = live.map((d) => BigInt(d.delta_id))
  t.equal(live.length, total, 'each delta once')
  t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'delta_ids strictly increasing across both topics: nothing overtook anything')

  const back = await chime.connect(cat, { clientId: catId, clean: false })
  const queued: DeltaJson[] = []
  back.on('message', (topic, payload) => {
    if (topic === channelOf) queued.push((JSON.parse(payload.toString()) as Envelope<string, DeltaJson>).data)
  })
  const channelPosts = live.filter((d) => d.channel_id === server.channel_id).length
  await waitFor(`cat's queue of ${channelPosts}`, () => (queued.length >= channelPosts ? true : undefined))
  const seqs = queued.map((d) => Number(d.seq))
  t.ok(seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1), 'the session that was away gets its queue gapless, in seq order')
})
