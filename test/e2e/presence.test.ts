// Presence on both profiles: a user publishes its own, retained; the will says offline when
// the connection drops; only users who share a server or a chat with it and are not blocked
// by it may watch; a malformed presence is refused with a code and reaches nobody.
import t, { type Test } from 'tap'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { Envelope } from '../../clients/sdk/src/protocol.ts'
import { collect, request, trySubscribe, type TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'

const presence = (status: string): string => JSON.stringify({ action: 'PRESENCE', data: { status } })

async function run(t: Test, chime: TestChime): Promise<void> {
  const [ann, bea, cyd] = [await chime.register(), await chime.register(), await chime.register()]
  const server = await chime.http<{ server_id: string }>('POST', '/api/servers', { token: ann.token, body: { name: 'Presence' } })
  await chime.http('POST', `/api/servers/${server.body.server_id}/join`, { token: bea.token })
  const annTopic = topics.presence(ann.user_id)

  const annClient = await chime.connect(ann, { will: { topic: annTopic, payload: Buffer.from(presence('offline')), qos: 1, retain: true } })
  const annInbox = collect(annClient, topics.inbox(ann.user_id))
  await annClient.subscribeAsync(topics.inbox(ann.user_id), { qos: 1 })
  await annClient.publishAsync(annTopic, presence('online'), { qos: 1, retain: true })

  const beaClient = await chime.connect(bea)
  const seen = collect(beaClient, annTopic)
  t.same(await trySubscribe(beaClient, annTopic), [1], 'a co-member may watch')
  await waitFor('the retained presence', () => (seen.length >= 1 ? true : undefined))
  t.equal((seen[0]!.data as { status: string }).status, 'online')

  const cydClient = await chime.connect(cyd)
  t.same(await trySubscribe(cydClient, annTopic), [128], 'a stranger may not')

  for (const bad of ['not json', JSON.stringify({ action: 'PRESENCE', data: { status: 'asleep' } }), JSON.stringify({ status: 'online' }), 'x'.repeat(2000)]) {
    await annClient.publishAsync(annTopic, bad, { qos: 1, retain: true })
  }
  await request(annClient, ann.user_id, 'SYNC', {})
  await request(beaClient, bea.user_id, 'SYNC', {})
  t.equal(seen.length, 1, 'malformed presence reached nobody')
  const codes = annInbox.filter((e: Envelope) => e.action === 'ERROR').map((e) => (e.data as { code: string }).code)
  t.same(codes, ['BAD_JSON', 'INVALID_FIELD', 'INVALID_ENVELOPE', 'PAYLOAD_TOO_LARGE'], 'each answered with its code')

  await annClient.publishAsync(annTopic, presence('away'), { qos: 1, retain: true })
  await waitFor('away', () => (seen.some((e) => (e.data as { status: string }).status === 'away') ? true : undefined))
  annClient.stream.destroy()
  await waitFor('the will: offline', () => (seen.some((e) => (e.data as { status: string }).status === 'offline') ? true : undefined))
  const later = await chime.connect(bea)
  const retained = collect(later, annTopic)
  await later.subscribeAsync(annTopic, { qos: 1 })
  await waitFor('the retained offline', () => retained[0])
  t.equal((retained[0]!.data as { status: string }).status, 'offline', 'offline is what a newcomer sees')

  await t.test('a block ends the watch at once', async (t) => {
    const blocked = await chime.http('PUT', `/api/blocks/${bea.user_id}`, { token: ann.token })
    t.equal(blocked.status, 200)
    const annAgain = await chime.connect(ann)
    const before = seen.length
    await annAgain.publishAsync(annTopic, presence('online'), { qos: 1, retain: true })
    await request(beaClient, bea.user_id, 'SYNC', {})
    t.equal(seen.length, before, 'the blocked user no longer receives it')
    t.same(await trySubscribe(beaClient, annTopic), [128], 'nor may subscribe again')
  })
}

await eachProfile(t, 'presence', run)
