import type { Test } from 'tap'
import type { MqttClient } from 'mqtt'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'
import { collect, request, type TestChime, type TestUser } from '../helpers/chime.ts'
import { waitFor } from '../helpers/wait.ts'

async function serverWithMembers(chime: TestChime, n: number): Promise<{ owner: TestUser; members: TestUser[]; serverId: string; channelId: string }> {
  const owner = await chime.register()
  const { body } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: owner.token, body: { name: 'Invariants' } })
  const members = [owner]
  for (let i = 1; i < n; i++) {
    const u = await chime.register()
    await chime.http('POST', `/api/servers/${body.server_id}/join`, { token: u.token })
    members.push(u)
  }
  return { owner, members, serverId: body.server_id, channelId: body.channel_id }
}

/** Shared by the embedded and the production profile. */
export async function runInvariantSuite(t: Test, chime: TestChime): Promise<void> {
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  const committed = async (where: { clientMsgId?: string; deltaId?: bigint }): Promise<number> =>
    db.prisma.delta.count({ where: where.deltaId !== undefined ? { id: where.deltaId } : { clientMsgId: where.clientMsgId! } })

  await t.test('1. durable before acknowledged: at PUBACK and at the HTTP answer the delta is committed', async (t) => {
    const { owner, channelId } = await serverWithMembers(chime, 1)
    const client = await chime.connect(owner)
    const requestsTopic = topics.requests(client.options.clientId!)
    for (let i = 0; i < 30; i++) {
      const clientMsgId = `ack-${i}`
      // publishAsync resolves when the PUBACK arrives.
      await client.publishAsync(requestsTopic, JSON.stringify({ action: 'POST_MESSAGE', request_id: clientMsgId, data: { channel_id: channelId, content: `durable ${i}`, client_msg_id: clientMsgId } }), { qos: 1 })
      t.equal(await committed({ clientMsgId }), 1, `PUBACK ${i}: committed`)
      const res = await chime.http<Envelope<string, { delta_id: string }>>('POST', '/api/post/', { token: owner.token, body: { action: 'POST_MESSAGE', data: { channel_id: channelId, content: `http ${i}` } } })
      t.equal(await committed({ deltaId: BigInt(res.body.data.delta_id) }), 1, `HTTP answer ${i}: committed`)
    }
  })

  await t.test('2. one order: 20 clients x 200 posts into one channel; every subscriber sees the same gapless 1..4000', async (t) => {
    const { members, serverId, channelId } = await serverWithMembers(chime, 20)
    const topic = topics.serverChannel(serverId, channelId)
    const subscribers: { client: MqttClient; got: Envelope[] }[] = []
    for (const m of members.slice(0, 3)) {
      const client = await chime.connect(m, { clientId: `order-sub-${m.user_id.slice(-8)}` })
      const got = collect(client, topic)
      await client.subscribeAsync(topic, { qos: 1 })
      subscribers.push({ client, got })
    }
    const posters = await Promise.all(members.map((m) => chime.connect(m)))
    await Promise.all(
      posters.map(async (client, p) => {
        const req = topics.requests(client.options.clientId!)
        const sends: Promise<unknown>[] = []
        for (let i = 0; i < 200; i++) {
          sends.push(client.publishAsync(req, JSON.stringify({ action: 'POST_MESSAGE', request_id: `${p}-${i}`, data: { channel_id: channelId, content: `${p}:${i}` } }), { qos: 1 }))
        }
        await Promise.all(sends)
      }),
    )
    for (const [k, s] of subscribers.entries()) {
      await waitFor(`subscriber ${k}: 4000 deltas`, () => (s.got.length >= 4000 ? true : undefined), 60_000)
      const seqs = s.got.map((e) => Number((e.data as DeltaJson).seq))
      t.equal(s.got.length, 4000, `subscriber ${k}: no duplicates`)
      t.ok(seqs.every((seq, i) => seq === i + 1), `subscriber ${k}: seq is exactly 1..4000 in order`)
      const ids = s.got.map((e) => BigInt((e.data as DeltaJson).delta_id))
      t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), `subscriber ${k}: delta_id grows`)
    }
    const first = subscribers[0]!.got.map((e) => (e.data as DeltaJson).delta_id).join(',')
    for (const s of subscribers.slice(1)) t.equal(s.got.map((e) => (e.data as DeltaJson).delta_id).join(','), first, 'identical order on every subscriber')
    // each poster's own messages keep the order they were sent in
    for (let p = 0; p < 20; p++) {
      const mine = subscribers[0]!.got.map((e) => (e.data as DeltaJson).content!).filter((c) => c.startsWith(`${p}:`)).map((c) => Number(c.split(':')[1]))
      t.ok(mine.every((n, i) => n === i), `poster ${p}: its 200 posts in sending order`)
    }
  })

  await t.test('3. exactly-once append: a retried client_msg_id returns the first delta and creates nothing', async (t) => {
    const { owner, channelId } = await serverWithMembers(chime, 1)
    const client = await chime.connect(owner)
    const body = { channel_id: channelId, content: 'only once', client_msg_id: 'retry-me' }
    const first = await request(client, owner.user_id, 'POST_MESSAGE', body)
    const again = await request(client, owner.user_id, 'POST_MESSAGE', body)
    const viaHttp = await chime.http<Envelope<string, { delta_id: string; duplicate: boolean }>>('POST', '/api/post/', { token: owner.token, body: { action: 'POST_MESSAGE', data: body } })
    const f = first.data as { delta_id: string; duplicate: boolean }
    t.equal(f.duplicate, false)
    t.equal((again.data as { delta_id: string }).delta_id, f.delta_id)
    t.equal((again.data as { duplicate: boolean }).duplicate, true)
    t.equal(viaHttp.body.data.delta_id, f.delta_id)
    // concurrent retries in one batch, too
    const burst = await Promise.all(Array.from({ length: 10 }, () => request(client, owner.user_id, 'POST_MESSAGE', { ...body, client_msg_id: 'burst' })))
    t.equal(new Set(burst.map((r) => (r.data as { delta_id: string }).delta_id)).size, 1, 'ten concurrent retries, one delta')
    t.equal(await committed({ clientMsgId: 'retry-me' }), 1)
    t.equal(await committed({ clientMsgId: 'burst' }), 1)
  })

  await t.test('4. publish after commit: every delta a subscriber receives is already in the database', async (t) => {
    const { owner, serverId, channelId } = await serverWithMembers(chime, 1)
    const sub = await chime.connect(owner)
    const topic = topics.serverChannel(serverId, channelId)
    const checks: Promise<number>[] = []
    sub.on('message', (tp, payload) => {
      if (tp !== topic) return
      const d = (JSON.parse(payload.toString()) as Envelope<string, DeltaJson>).data
      checks.push(committed({ deltaId: BigInt(d.delta_id) }))
    })
    await sub.subscribeAsync(topic, { qos: 1 })
    const poster = await chime.connect(owner)
    const req = topics.requests(poster.options.clientId!)
    await Promise.all(Array.from({ length: 200 }, (_, i) => poster.publishAsync(req, JSON.stringify({ action: 'POST_MESSAGE', data: { channel_id: channelId, content: `c${i}` } }), { qos: 1 })))
    await waitFor('200 deltas', () => (checks.length >= 200 ? true : undefined), 30_000)
    const found = await Promise.all(checks)
    t.equal(found.filter((n) => n === 1).length, 200, 'all 200 were committed when they arrived')
  })
}
