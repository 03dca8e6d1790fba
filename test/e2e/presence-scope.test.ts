// Presence reaches only users allowed to see it, also after what made them allowed is gone:
// a watcher who leaves the only server it shared with a user, or is removed from the only
// chat it shared, stops receiving that user's presence at once, while a watcher still allowed
// misses nothing (both profiles). The rest of
// presence (who may watch, blocks, the will) is in presence.test.ts.
import t, { type Test } from 'tap'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { Envelope } from '../../clients/sdk/src/protocol.ts'
import { collect, request, trySubscribe, type TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'

const presence = (status: string, text: string): string => JSON.stringify({ action: 'PRESENCE', data: { status, text } })
const texts = (seen: Envelope[]): string[] => seen.map((e) => (e.data as { text: string }).text)

async function run(t: Test, chime: TestChime): Promise<void> {
  const [ann, bea, cyd] = [await chime.register(), await chime.register(), await chime.register()]
  const server = (await chime.http<{ server_id: string }>('POST', '/api/servers', { token: ann.token, body: { name: 'Shared' } })).body.server_id
  await chime.http('POST', `/api/servers/${server}/join`, { token: bea.token })
  const group = (await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: ann.token, body: { user_ids: [cyd.user_id, bea.user_id], name: 'pair' } })).body.chat_id
  const annTopic = topics.presence(ann.user_id)
  const annClient = await chime.connect(ann)
  await annClient.publishAsync(annTopic, presence('online', 'first'), { qos: 1, retain: true })

  const beaClient = await chime.connect(bea)
  const beaSeen = collect(beaClient, annTopic)
  const cydClient = await chime.connect(cyd)
  const cydSeen = collect(cydClient, annTopic)
  t.same(await trySubscribe(beaClient, annTopic), [1], 'a server co-member watches')
  t.same(await trySubscribe(cydClient, annTopic), [1], 'a chat co-member watches')
  await waitFor('both have the retained presence', () => (beaSeen.length === 1 && cydSeen.length === 1 ? true : undefined))

  await t.test('a watcher that still shares a chat keeps watching after leaving the server', async (t) => {
    t.equal((await chime.http('POST', `/api/servers/${server}/leave`, { token: bea.token })).status, 200)
    // Ann keeps updating its presence; bea, still allowed through the group, keeps receiving.
    // (A single update published while the broker re-checks bea's watch can still be missed
    // on the Redis-backed broker: known, see docs/protocol.md "Presence".)
    let n = 0
    await waitFor('bea sees it through the shared group', async () => {
      n += 1
      await annClient.publishAsync(annTopic, presence('away', `after leaving the server ${n}`), { qos: 1, retain: true })
      await new Promise((r) => setTimeout(r, 100))
      return texts(beaSeen).some((x) => x.startsWith('after leaving the server')) ? true : undefined
    })
    t.pass('still allowed: bea and ann share the group')
  })

  await t.test('leaving the last shared chat ends the watch at once', async (t) => {
    t.equal((await chime.http('POST', `/api/chats/${group}/leave`, { token: bea.token })).status, 200)
    await annClient.publishAsync(annTopic, presence('online', 'after bea left'), { qos: 1, retain: true })
    await waitFor('cyd, who still shares the group, sees it', () => (texts(cydSeen).includes('after bea left') ? true : undefined))
    await request(beaClient, bea.user_id, 'SYNC', {})
    t.notOk(texts(beaSeen).includes('after bea left'), 'bea no longer receives ann’s presence')
    t.same(await trySubscribe(beaClient, annTopic), [128], 'nor may subscribe again')
  })

  await t.test('a removed member stops watching too', async (t) => {
    t.equal((await chime.http('DELETE', `/api/chats/${group}/members/${cyd.user_id}`, { token: ann.token })).status, 200)
    await annClient.publishAsync(annTopic, presence('away', 'after cyd was removed'), { qos: 1, retain: true })
    const annSelf = collect(annClient, annTopic)
    await annClient.subscribeAsync(annTopic, { qos: 1 })
    await waitFor('ann sees its own presence', () => (texts(annSelf).includes('after cyd was removed') ? true : undefined))
    await request(cydClient, cyd.user_id, 'SYNC', {})
    t.notOk(texts(cydSeen).includes('after cyd was removed'), 'cyd got nothing after its removal')
  })
}

await eachProfile(t, 'presence scope', run)
