// Secret chats on both profiles: a secret 1:1 chat beside the pair's normal one, secret
// groups, the chat timer (who may change it, recorded as chat_updated, taken by the next
// post at once), and expiry: the sweeper purges content, meta, attachments, edits,
// reactions, votes and mentions, appends one `expired` delta per message that subscribers
// receive live, and SYNC and RESTORE_HISTORY never return the content again. Two sweepers
// on one database at once (two API sidecars) never purge twice nor append two `expired`.
import t, { type Test } from 'tap'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { sweepExpired } from '../../api/src/services/expiry.ts'
import { Sequencer, type DeltaPublisher } from '../../api/src/sequencer/sequencer.ts'
import type { PurgedMessage } from '../../api/src/store/secret-chats.ts'
import { openStore, type Store } from '../../api/src/store/store.ts'
import type { DeltaRecord } from '../../api/src/store/types.ts'
import type { Config } from '../../config/schema.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson } from '../../clients/sdk/src/protocol.ts'
import { collect, request, startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { expectError } from '../helpers/expect.ts'
import { waitFor } from '../helpers/wait.ts'
import { uploadFile } from '../helpers/files.ts'

type Res = { status: number; body: Record<string, unknown> & { data?: Record<string, unknown> & { code?: string } } }

/** eachProfile with configuration overrides (a fast sweeper, or none at all). */
async function bothProfiles(t: Test, name: string, overrides: Partial<Config>, fn: (t: Test, chime: TestChime) => Promise<void>): Promise<void> {
  await t.test(`${name} [embedded]`, async (t) => fn(t, await startTestChime(t, overrides)))
  await t.test(`${name} [production]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    await fn(t, await startTestChime(t, { ...overrides, databaseUrl, redisUrl: redis.url }))
  })
}

function helpers(chime: TestChime) {
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Res> =>
    chime.http(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) }) as Promise<Res>
  const act = (user: TestUser, action: string, data: object): Promise<Res> => call(user, 'POST', '/api/requests', { action, data })
  const post = async (user: TestUser, data: object): Promise<DeltaJson> => {
    const res = await act(user, 'POST_MESSAGE', data)
    if (res.body['action'] !== 'POST_MESSAGE_RESPONSE') throw new Error(`post failed: ${JSON.stringify(res.body)}`)
    return (res.body['data'] as { delta: DeltaJson }).delta
  }
  const sync = async (user: TestUser, channelId: string): Promise<DeltaJson[]> =>
    ((await act(user, 'SYNC', { channel_id: channelId, client_seq: '0' })).body['data'] as { missing_deltas: DeltaJson[] }).missing_deltas
  const restore = async (user: TestUser, channelId: string): Promise<DeltaJson[]> =>
    ((await act(user, 'RESTORE_HISTORY', { channel_id: channelId })).body['data'] as { deltas: DeltaJson[] }).deltas
  return { call, act, post, sync, restore }
}

async function run(t: Test, chime: TestChime): Promise<void> {
  const { call, act, post, sync, restore } = helpers(chime)
  const [ann, bob, cat, eve] = await Promise.all([1, 2, 3, 4].map(() => chime.register()))
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())

  await t.test('a secret 1:1 chat lives beside the normal one; one per pair', async (t) => {
    const normal = await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id] })
    const secret = await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id], secret: true, message_ttl_seconds: 60 })
    t.equal(secret.status, 200)
    t.not(secret.body['chat_id'], normal.body['chat_id'], 'a chat of its own')
    t.same([secret.body['type'], secret.body['secret'], secret.body['message_ttl_seconds'], secret.body['created']], ['dm', true, 60, true])
    t.same([normal.body['secret'], normal.body['message_ttl_seconds']], [false, null], 'the normal chat has no timer')
    const again = await call(bob!, 'POST', '/api/chats', { user_ids: [ann!.user_id], secret: true, message_ttl_seconds: 30 })
    t.same([again.body['chat_id'], again.body['created'], again.body['message_ttl_seconds']], [secret.body['chat_id'], false, 60], 'the pair’s secret chat is returned with its own timer')
    const fresh = await call(ann!, 'POST', '/api/chats', { user_ids: [cat!.user_id], secret: true })
    t.equal(fresh.body['message_ttl_seconds'], 86_400, 'a day by default')
    const info = await call(bob!, 'GET', `/api/chats/${secret.body['chat_id'] as string}`)
    t.same([info.body['type'], info.body['secret'], info.body['message_ttl_seconds']], ['dm', true, 60])
    const listed = (await call(bob!, 'GET', '/api/chats')).body['chats'] as { chat_id: string; secret: boolean }[]
    t.same(listed.filter((c) => c.chat_id === secret.body['chat_id'] || c.chat_id === normal.body['chat_id']).map((c) => c.secret).sort(), [false, true], 'both listed, told apart')
    const created = (await sync(bob!, secret.body['chat_id'] as string))[0]!
    t.same(JSON.parse(created.content!), { type: 'dm', member_ids: [ann!.user_id, bob!.user_id], secret: true, message_ttl_seconds: 60 }, 'chat_created says it is secret')

    const group = await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id, cat!.user_id], name: 'hush', secret: true, message_ttl_seconds: 5 })
    t.same([group.body['type'], group.body['secret'], group.body['message_ttl_seconds']], ['group', true, 5], 'a secret group')

    const before = await db.prisma.channel.count()
    for (const [body, what] of [
      [{ user_ids: [eve!.user_id], secret: true, message_ttl_seconds: 4 }, 'under 5 s'],
      [{ user_ids: [eve!.user_id], secret: true, message_ttl_seconds: 604_801 }, 'over 7 days'],
      [{ user_ids: [eve!.user_id], secret: true, message_ttl_seconds: 1.5 }, 'a fraction'],
      [{ user_ids: [eve!.user_id], secret: true, message_ttl_seconds: '60' }, 'a string'],
      [{ user_ids: [eve!.user_id], secret: true, message_ttl_seconds: null }, 'null'],
      [{ user_ids: [eve!.user_id], message_ttl_seconds: 60 }, 'a timer without secret'],
      [{ user_ids: [eve!.user_id], secret: false, message_ttl_seconds: 60 }, 'a timer with secret false'],
      [{ user_ids: [eve!.user_id], secret: 'yes' }, 'secret not a boolean'],
    ] as const) expectError(t, await call(ann!, 'POST', '/api/chats', body), 400, 'INVALID_FIELD', what)
    t.equal(await db.prisma.channel.count(), before, 'no chat was made by a refused request')
  })

  await t.test('posts in a secret chat expire after its timer; the timer is changed as a delta', async (t) => {
    const chatId = (await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id], secret: true, message_ttl_seconds: 60 })).body['chat_id'] as string
    const m = await post(ann!, { channel_id: chatId, content: 'gone in a minute' })
    t.ok(Math.abs(Date.parse(m.meta!.expires_at!) - Date.parse(m.timestamp) - 60_000) < 5_000, 'expires_at is the timer after sending')
    const short = await post(ann!, { channel_id: chatId, content: 'sooner', expires_in: 30 })
    t.ok(Date.parse(short.meta!.expires_at!) - Date.parse(short.timestamp) < 35_000, 'expires_in still sets its own lifetime')

    // Either member of a 1:1 chat changes the timer; the next post takes it at once.
    const set = await call(bob!, 'PUT', `/api/chats/${chatId}/timer`, { message_ttl_seconds: 3600 })
    t.same(set.body, { chat_id: chatId, message_ttl_seconds: 3600, changed: true })
    const later = await post(ann!, { channel_id: chatId, content: 'an hour now' })
    t.ok(Math.abs(Date.parse(later.meta!.expires_at!) - Date.parse(later.timestamp) - 3_600_000) < 5_000, 'the new timer applies to the next post')
    t.equal((await call(ann!, 'PUT', `/api/chats/${chatId}/timer`, { message_ttl_seconds: 3600 })).body['changed'], false, 'the same timer again changes nothing')
    const client = await chime.connect(ann!)
    const overMqtt = await request(client, ann!.user_id, 'SET_CHAT_TIMER', { chat_id: chatId, message_ttl_seconds: 120 })
    t.same([overMqtt.action, (overMqtt.data as { message_ttl_seconds: number }).message_ttl_seconds], ['SET_CHAT_TIMER_RESPONSE', 120], 'also a request over MQTT')
    const updates = (await sync(ann!, chatId)).filter((d) => d.type === 'chat_updated')
    t.same(updates.map((d) => [d.user_id, JSON.parse(d.content!)]), [
      [bob!.user_id, { message_ttl_seconds: 3600, by: bob!.user_id }],
      [ann!.user_id, { message_ttl_seconds: 120, by: ann!.user_id }],
    ], 'each change is one chat_updated delta')

    const seqBefore = (await sync(ann!, chatId)).length
    expectError(t, await call(ann!, 'PUT', `/api/chats/${chatId}/timer`, { message_ttl_seconds: null }), 400, 'INVALID_FIELD', 'a secret 1:1 chat keeps a timer')
    expectError(t, await call(ann!, 'PUT', `/api/chats/${chatId}/timer`, { message_ttl_seconds: 2 }), 400, 'INVALID_FIELD', 'too short')
    expectError(t, await call(ann!, 'PUT', `/api/chats/${chatId}/timer`, { message_ttl_seconds: 'x' }), 400, 'INVALID_FIELD', 'not a number')
    expectError(t, await call(ann!, 'PUT', `/api/chats/${chatId}/timer`, {}), 400, 'INVALID_FIELD', 'missing')
    expectError(t, await call(eve!, 'PUT', `/api/chats/${chatId}/timer`, { message_ttl_seconds: 60 }), 404, 'CHANNEL_NOT_FOUND', 'a stranger')
    expectError(t, await call(ann!, 'PUT', '/api/chats/NO_SUCH_CHAT_000000000000/timer', { message_ttl_seconds: 60 }), 404, 'CHANNEL_NOT_FOUND', 'an unknown chat')
    t.equal((await sync(ann!, chatId)).length, seqBefore, 'refused changes record nothing')
    t.equal((await call(ann!, 'GET', `/api/chats/${chatId}`)).body['message_ttl_seconds'], 120)

    // Groups: only the admin; null turns the timer off. A normal 1:1 chat can get a timer too.
    const group = (await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id, cat!.user_id], name: 'timed' })).body['chat_id'] as string
    expectError(t, await call(bob!, 'PUT', `/api/chats/${group}/timer`, { message_ttl_seconds: 60 }), 403, 'FORBIDDEN', 'a group member')
    t.equal((await call(ann!, 'PUT', `/api/chats/${group}/timer`, { message_ttl_seconds: 60 })).status, 200, 'the group admin')
    t.ok((await post(cat!, { channel_id: group, content: 'timed' })).meta?.expires_at, 'group posts expire now')
    t.equal((await call(ann!, 'PUT', `/api/chats/${group}/timer`, { message_ttl_seconds: null })).body['message_ttl_seconds'], null, 'and the admin turns it off')
    t.equal((await post(cat!, { channel_id: group, content: 'kept' })).meta?.expires_at, undefined, 'posts stay again')
    const normal = (await call(cat!, 'POST', '/api/chats', { user_ids: [eve!.user_id] })).body['chat_id'] as string
    t.equal((await call(eve!, 'PUT', `/api/chats/${normal}/timer`, { message_ttl_seconds: 30 })).status, 200, 'a normal 1:1 chat takes a timer from either member')
    await call(ann!, 'POST', `/api/chats/${group}/end`)
    expectError(t, await call(ann!, 'PUT', `/api/chats/${group}/timer`, { message_ttl_seconds: 60 }), 409, 'CHANNEL_CLOSED', 'an ended group')
  })

  await t.test('expiry purges everything and tells every client; SYNC and RESTORE never return it', async (t) => {
    const chatId = (await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id, cat!.user_id], name: 'vanishing', secret: true, message_ttl_seconds: 3600 })).body['chat_id'] as string
    const bobClient = await chime.connect(bob!)
    const live = collect(bobClient, topics.chat(chatId))
    await bobClient.subscribeAsync(topics.chat(chatId), { qos: 1 })

    const file = await uploadFile(chime, ann!, chatId, Buffer.from('a zebra, drawn in words'), 'zebra-photo.txt')
    const text = await post(ann!, { channel_id: chatId, content: `zebra secret for <@${bob!.user_id}>`, attachments: [{ file_id: file.file_id }], expires_in: 2 })
    const poll = await post(ann!, { channel_id: chatId, poll: { question: 'zebra or okapi?', options: ['zebra', 'okapi'] }, expires_in: 2 })
    const kept = await post(ann!, { channel_id: chatId, content: 'this one lasts the hour' })
    t.equal((await act(ann!, 'EDIT_MESSAGE', { message_id: text.delta_id, content: `zebra edited for <@${bob!.user_id}>` })).body['action'], 'EDIT_MESSAGE_RESPONSE')
    t.equal((await act(bob!, 'ADD_REACTION', { message_id: text.delta_id, emoji: '👍' })).body['action'], 'ADD_REACTION_RESPONSE')
    t.equal((await act(cat!, 'VOTE_POLL', { message_id: poll.delta_id, options: [0] })).body['action'], 'VOTE_POLL_RESPONSE')
    t.equal((await act(ann!, 'PIN_MESSAGE', { message_id: text.delta_id })).body['action'], 'PIN_MESSAGE_RESPONSE')
    t.ok((await db.prisma.messageMention.count({ where: { messageId: BigInt(text.delta_id) } })) > 0, 'the mention is counted before expiry')

    const expired = await waitFor('both expired deltas arrive live', () => {
      const got = live.filter((e) => e.action === 'PUBLISH_DELTA' && (e.data as DeltaJson).type === 'expired')
      return got.length >= 2 ? got.map((e) => e.data as DeltaJson) : undefined
    }, 15_000)
    t.same(expired.map((d) => d.target_id).sort(), [text.delta_id, poll.delta_id].sort(), 'one expired delta per message, target_id = the message id')
    t.ok(expired.every((d) => d.content === null && d.user_id === ann!.user_id), 'content null; the author’s timer')

    for (const [what, deltas] of [['SYNC', await sync(bob!, chatId)], ['RESTORE_HISTORY', await restore(cat!, chatId)]] as const) {
      const all = JSON.stringify(deltas)
      t.notOk(/zebra/.test(all), `${what} returns no trace of the purged content, edits, poll or file`)
      const original = deltas.find((d) => d.delta_id === text.delta_id)!
      t.same([original.content, original.attachments, original.meta], [null, undefined, { kind: 'file', expires_at: text.meta!.expires_at }], `${what}: the message delta keeps only its kind and when it expired`)
      t.same(deltas.find((d) => d.delta_id === poll.delta_id)!.meta, { kind: 'poll', expires_at: poll.meta!.expires_at }, `${what}: a poll keeps its kind`)
      t.same(deltas.filter((d) => d.type === 'edit').map((d) => [d.content, d.meta ?? null]), [[null, null]], `${what}: the edit lost its content`)
      t.equal(deltas.filter((d) => d.type === 'expired').length, 2, `${what}: the expired deltas are in the log`)
      t.equal(deltas.find((d) => d.delta_id === kept.delta_id)!.content, 'this one lasts the hour', `${what}: other messages are untouched`)
    }
    const everything = ((await act(bob!, 'SYNC', { client_delta_id: '0' })).body['data'] as { missing_deltas: DeltaJson[] }).missing_deltas
    t.notOk(/zebra/.test(JSON.stringify(everything)), 'nor does a SYNC of everything')
    t.equal(await db.prisma.delta.count({ where: { OR: [{ content: { contains: 'zebra' } }, { meta: { contains: 'zebra' } }] } }), 0, 'no delta row holds it')

    const row = (await db.prisma.message.findUnique({ where: { id: BigInt(text.delta_id) } }))!
    t.same([row.content, row.meta, row.attachments, row.pinnedAt], [null, null, null, null], 'the messages row is purged and unpinned')
    t.ok(row.purgedAt !== null, 'and marked purged')
    t.equal(await db.prisma.messageReaction.count({ where: { messageId: BigInt(text.delta_id) } }), 0, 'reactions are gone')
    t.equal(await db.prisma.pollVote.count({ where: { messageId: BigInt(poll.delta_id) } }), 0, 'votes are gone')
    t.equal(await db.prisma.messageMention.count({ where: { messageId: { in: [BigInt(text.delta_id), BigInt(poll.delta_id)] } } }), 0, 'mentions are gone')
    const read = await act(bob!, 'GET_MESSAGE', { message_id: text.delta_id })
    t.same([read.body['action'], read.body.data?.code], ['ERROR', 'MESSAGE_DELETED'], 'reading it is MESSAGE_DELETED')
    await waitFor('the purged message’s file to be removed', async () => ((await db.prisma.file.count({ where: { id: file.file_id } })) === 0 ? true : undefined), 10_000)
    const gone = await act(ann!, 'DOWNLOAD_FILE', { file_id: file.file_id })
    t.same([gone.body['action'], gone.body.data?.code], ['ERROR', 'FILE_NOT_FOUND'], 'its file is gone with it, for its uploader too')
    t.equal(await db.prisma.attachment.count({ where: { fileId: file.file_id } }), 0, 'no attachments row names it')
    const keptRow = (await db.prisma.message.findUnique({ where: { id: BigInt(kept.delta_id) } }))!
    t.same([keptRow.content, keptRow.purgedAt], ['this one lasts the hour', null], 'a message still to expire is untouched')
  })
}

t.test('secret chats', async (t) => {
  await bothProfiles(t, 'secret chats', { expirySweepMs: 100 }, run)

  await bothProfiles(t, 'two sweepers at once never purge twice', { expirySweepMs: 0 }, async (t, chime) => {
    const { call, post } = helpers(chime)
    const [ann, bob] = await Promise.all([chime.register(), chime.register()])
    const chats = await Promise.all([0, 1].map(async (i) => (await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id], name: `race ${i}`, secret: true })).body['chat_id'] as string))
    const posted: DeltaJson[] = []
    const fileOf = new Map<number, string>()
    for (let i = 0; i < 30; i += 5) fileOf.set(i, (await uploadFile(chime, ann!, chats[i % 2]!, Buffer.from(`file ${i}`), `f${i}.txt`)).file_id)
    for (let i = 0; i < 30; i++) {
      const fileId = fileOf.get(i)
      posted.push(await post(ann!, { channel_id: chats[i % 2]!, content: `short-lived ${i}`, expires_in: 1, ...(fileId !== undefined ? { attachments: [{ file_id: fileId }] } : {}) }))
    }
    const latest = Math.max(...posted.map((d) => Date.parse(d.meta!.expires_at!)))
    await waitFor('every message is past its expiry', () => (Date.now() > latest + 50 ? true : undefined), 5_000)

    // Two API sidecars: each its own store (own connections) and sequencer on the same database.
    const published: DeltaRecord[][] = [[], []]
    const files: PurgedMessage[] = []
    const stores: Store[] = []
    const sidecars = await Promise.all([0, 1].map(async (i) => {
      const store = await openStore(chime.running.databaseUrl, { maxDeltas: 10_000, maxBytes: 10 * 1024 * 1024 })
      stores.push(store)
      const publisher: DeltaPublisher = { publish: async (d) => void published[i]!.push(...d), announce: async () => {}, publishInbox: async () => {} }
      const sequencer = new Sequencer(store.log, publisher, 500, () => {})
      return { store, sequencer, objects: chime.running.objects!, config: { expiryBatchMax: 7 } }
    }))
    t.teardown(async () => {
      for (const s of sidecars) await s.sequencer.close()
      for (const s of stores) await s.close()
    })
    const counts = await Promise.all(sidecars.map((s) => sweepExpired(s, { onPurgedFiles: async (p) => void files.push(...p) })))
    t.equal(counts[0]! + counts[1]!, 30, `together they purged every message once (${counts.join(' + ')})`)
    const all = [...published[0]!, ...published[1]!]
    t.equal(all.length, 30, 'and published 30 expired deltas')
    t.equal(new Set(all.map((d) => d.targetId!.toString())).size, 30, 'one per message')
    const db = await openDatabase(chime.running.databaseUrl)
    t.teardown(() => db.close())
    const logged = await db.prisma.delta.findMany({ where: { type: 'expired', channelId: { in: chats } } })
    t.equal(logged.length, 30, 'the log holds exactly 30 expired deltas')
    t.same(logged.map((d) => d.targetId!.toString()).sort(), posted.map((d) => d.delta_id).sort(), 'each names its message')
    for (const chatId of chats) {
      const seqs = (await db.prisma.delta.findMany({ where: { channelId: chatId }, orderBy: { seq: 'asc' }, select: { seq: true } })).map((d) => Number(d.seq))
      t.same(seqs, seqs.map((_, i) => i + 1), 'seq stays gapless')
    }
    t.same(files.flatMap((p) => p.fileIds).sort(), [...fileOf.values()].sort(), 'the files of the purged messages are handed over once each')
    t.equal(await sweepExpired(sidecars[0]!), 0, 'a later sweep finds nothing')
    t.equal(await db.prisma.message.count({ where: { channelId: { in: chats }, purgedAt: null } }), 0, 'every message is marked purged')
  })
})
