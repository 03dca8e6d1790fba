// Adding members in bulk (POST /api/servers/{id}/members) tells every broker node at once:
// a user refused a moment before it was added may subscribe right after, without waiting for
// a cache to expire (regression: the bulk add announced no membership change).
import t from 'tap'
import { channelTopic } from '../../clients/sdk/src/topics.ts'
import { startTestChime, trySubscribe } from '../helpers/chime.ts'

t.test('a user added in bulk may subscribe at once, even after a refusal', async (t) => {
  const chime = await startTestChime(t)
  const [owner, late] = await Promise.all([chime.register(), chime.register()])
  const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: owner.token, body: { name: 'bulk', private: true } })).body
  const topic = channelTopic({ id: server.channel_id, serverId: server.server_id })
  const client = await chime.connect(late)
  t.same(await trySubscribe(client, topic), [128], 'refused while not a member')
  const added = await chime.http<{ added: number }>('POST', `/api/servers/${server.server_id}/members`, { token: owner.token, body: { user_ids: [late.user_id] } })
  t.equal(added.status, 200)
  t.equal(added.body.added, 1)
  t.same(await trySubscribe(client, topic), [1], 'granted right after the bulk add')
})
