// A broker node whose Redis subscriber connection drops may miss access events. When the
// connection comes back, the node re-checks every grant of its connections: a membership
// that ended while it was away (here: removed in the database behind its back) stops being
// delivered, while members keep receiving.
import t from 'tap'
import { Redis } from 'ioredis'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import { collect, request, startTestChime, trySubscribe } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('after a Redis reconnect, grants that lapsed meanwhile are taken away', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  const chime = await startTestChime(t, { databaseUrl, redisUrl: redis.url })
  const db = await openDatabase(databaseUrl)
  t.teardown(() => db.close())
  const owner = await chime.register()
  const victim = await chime.register()
  const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: owner.token, body: { name: 'Reconnect' } })).body
  await chime.http('POST', `/api/servers/${server.server_id}/join`, { token: victim.token })
  const topic = topics.serverChannel(server.server_id, server.channel_id)
  const ownerClient = await chime.connect(owner)
  const victimClient = await chime.connect(victim)
  const ownerGot = collect(ownerClient, topic)
  const victimGot = collect(victimClient, topic)
  await ownerClient.subscribeAsync(topics.serverWildcard(server.server_id), { qos: 1 })
  await victimClient.subscribeAsync([topics.serverWildcard(server.server_id), topic], { qos: 1 })
  const content = (e: { data: object }): string => (e.data as { content: string }).content
  const post = (text: string) => chime.http('POST', '/api/post/', { token: owner.token, body: { action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content: text } } })

  // The membership ends without an access event: as if this node had missed it.
  await db.prisma.serverMember.delete({ where: { serverId_userId: { serverId: server.server_id, userId: victim.user_id } } })
  await post('missed')
  await waitFor('the stale grant still delivers', () => (victimGot.some((e) => content(e) === 'missed') ? true : undefined))

  const admin = new Redis(redis.url)
  t.teardown(() => admin.quit())
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')

  let n = 0
  await waitFor('the re-check after the reconnect', async () => {
    const probe = `probe ${++n}`
    await post(probe)
    // Pub/sub keeps nothing for a subscriber that is reconnecting: a probe may be lost.
    const seen = await waitFor(probe, () => (ownerGot.some((e) => content(e) === probe) ? true : undefined), 500).catch(() => false)
    if (!seen) return undefined
    await request(victimClient, victim.user_id, 'SYNC', {})
    return victimGot.some((e) => content(e) === probe) ? undefined : true
  }, 15_000)
  await post('after')
  await waitFor('the owner still receives', () => (ownerGot.some((e) => content(e) === 'after') ? true : undefined))
  await request(victimClient, victim.user_id, 'SYNC', {})
  t.notOk(victimGot.some((e) => content(e) === 'after'), 'the former member receives nothing more')
  t.same(await trySubscribe(victimClient, topics.serverWildcard(server.server_id)), [128], 'and may not subscribe again')
})
