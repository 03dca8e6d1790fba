// Regression: a persistent session (clean = false) subscribing to several filters in one
// SUBSCRIBE waited forever for its SUBACK on the Redis persistence (concurrent
// addSubscriptions calls collided in aedes-persistence's broadcast), and refused filters
// were stored in the session anyway. Both profiles.
import t, { type Test } from 'tap'
import type { Client } from 'aedes'
import { topics } from '../../clients/sdk/src/topics.ts'
import { trySubscribe, type TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'

async function run(t: Test, chime: TestChime): Promise<void> {
  const owner = await chime.register()
  const user = await chime.register()
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const s = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: owner.token, body: { name: `s${i}` } })
    await chime.http('POST', `/api/servers/${s.body.server_id}/join`, { token: user.token })
    ids.push(s.body.server_id, s.body.channel_id)
  }
  const granted = [topics.serverWildcard(ids[0]!), topics.serverWildcard(ids[2]!), topics.serverWildcard(ids[4]!), topics.serverChannel(ids[0]!, ids[1]!), topics.inbox(user.user_id)]
  for (let round = 0; round < 5; round++) {
    const clientId = `multi-${round}-${user.user_id.slice(-6)}`
    const client = await chime.connect(user, { clientId, clean: false })
    const codes = await Promise.race([
      trySubscribe(client, [...granted, '#', topics.inbox(owner.user_id)]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no SUBACK within 5 s')), 5000)),
    ])
    t.same(codes, [1, 1, 1, 1, 1, 128, 128], `round ${round}: one SUBACK for seven filters`)
    const persistence = (chime.running.aedes as unknown as { persistence: { subscriptionsByClient(c: Pick<Client, 'id'>): Promise<{ topic: string }[]> } }).persistence
    const stored = (await persistence.subscriptionsByClient({ id: clientId })).map((s) => s.topic).sort()
    t.same(stored, [...granted].sort(), `round ${round}: only the granted filters are stored in the session`)
    await client.endAsync()
  }
}

await eachProfile(t, 'a persistent session subscribing to several filters at once', run)
