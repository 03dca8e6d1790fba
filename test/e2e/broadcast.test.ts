// BROADCAST_MESSAGE on both profiles: one message to several chats and channels, each a
// normal `message` delta in its own log, delivered live on each topic; a retry with the same
// client_msg_id returns the first commit and posts nothing; one target the sender may not post
// in refuses the whole request, naming it, and nothing is posted anywhere; bad input is coded.
import t, { type Test } from 'tap'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson } from '../../clients/sdk/src/protocol.ts'
import { collect, request, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'
import { uploadFile } from '../helpers/files.ts'

type Res = { status: number; body: Record<string, unknown> & { data?: Record<string, unknown> & { code?: string; details?: Record<string, unknown> } } }
interface Sent { channel_id: string; delta_id: string; seq: string; message_id: string; timestamp: string }
interface BroadcastReply { status: string; duplicate: boolean; client_msg_id?: string; messages: Sent[] }

async function run(t: Test, chime: TestChime): Promise<void> {
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Res> =>
    chime.http(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) }) as Promise<Res>
  const act = (user: TestUser, action: string, data: object): Promise<Res> => call(user, 'POST', '/api/requests', { action, data })
  const broadcast = (user: TestUser, data: object): Promise<Res> => act(user, 'BROADCAST_MESSAGE', data)
  const lastSeq = async (user: TestUser, channelId: string): Promise<string> =>
    ((await act(user, 'RESTORE_HISTORY', { channel_id: channelId, limit: 1 })).body['data'] as { last_seq: string }).last_seq
  const sync = async (user: TestUser, channelId: string): Promise<DeltaJson[]> =>
    ((await act(user, 'SYNC', { channel_id: channelId, client_seq: '0' })).body['data'] as { missing_deltas: DeltaJson[] }).missing_deltas

  const [ann, bob, cat, dan, eve] = await Promise.all([1, 2, 3, 4, 5].map(() => chime.register()))
  const chat = async (owner: TestUser, body: object): Promise<string> => (await call(owner, 'POST', '/api/chats', body)).body['chat_id'] as string
  const withBob = await chat(ann!, { user_ids: [bob!.user_id] })
  const withCat = await chat(ann!, { user_ids: [cat!.user_id] })
  const group = await chat(ann!, { user_ids: [bob!.user_id, cat!.user_id], name: 'crew' })
  const secret = await chat(ann!, { user_ids: [dan!.user_id], secret: true, message_ttl_seconds: 3600 })
  const server = (await call(ann!, 'POST', '/api/servers', { name: 'broadcasting' })).body as { server_id: string; channel_id: string }
  const notMine = await chat(bob!, { user_ids: [eve!.user_id] })
  const targets = [withBob, withCat, group, server.channel_id, secret]
  const seqsOf = async (): Promise<string[]> => Promise.all(targets.map((c) => lastSeq(ann!, c)))

  await t.test('one message to five chats and channels, each a normal delta there, delivered live', async (t) => {
    const bobClient = await chime.connect(bob!)
    const toBob = collect(bobClient, topics.chat(withBob))
    const inGroup = collect(bobClient, topics.chat(group))
    await bobClient.subscribeAsync([topics.chat(withBob), topics.chat(group)], { qos: 1 })
    const annClient = await chime.connect(ann!)
    const reply = await request(annClient, ann!.user_id, 'BROADCAST_MESSAGE', { channel_ids: targets, content: 'hello everyone', client_msg_id: 'bc-1' })
    t.equal(reply.action, 'BROADCAST_MESSAGE_RESPONSE', 'answered over MQTT')
    const data = reply.data as BroadcastReply
    t.same([data.status, data.duplicate, data.client_msg_id], ['success', false, 'bc-1'])
    t.same(data.messages.map((m) => m.channel_id), targets, 'one per target, in order')
    t.ok(data.messages.every((m) => m.message_id === m.delta_id), 'the message id is the delta id')
    for (const [i, m] of data.messages.entries()) {
      const d = (await sync(ann!, m.channel_id)).find((x) => x.delta_id === m.delta_id)!
      t.same([d.type, d.content, d.seq, d.client_msg_id, d.user_id], ['message', 'hello everyone', m.seq, `bc-1:${i}`, ann!.user_id], `a normal message in target ${i}`)
    }
    const secretDelta = (await sync(dan!, secret)).find((d) => d.type === 'message')!
    t.ok(secretDelta.meta?.expires_at, 'the secret chat’s timer applies there')
    t.equal((await sync(ann!, server.channel_id)).find((d) => d.type === 'message')!.server_id, server.server_id, 'the server channel’s delta names its server')
    await waitFor('bob gets it in both chats', () => (toBob.some((e) => (e.data as DeltaJson).content === 'hello everyone') && inGroup.some((e) => (e.data as DeltaJson).content === 'hello everyone') ? true : undefined))
    t.pass('published on each chat topic')
  })

  await t.test('a retry with the same client_msg_id answers the first commit and posts nothing', async (t) => {
    const first = (await broadcast(ann!, { channel_ids: [withBob, group], content: 'once only', client_msg_id: 'bc-retry' })).body['data'] as unknown as BroadcastReply
    const before = await seqsOf()
    const again = (await broadcast(ann!, { channel_ids: [withBob, group], content: 'once only', client_msg_id: 'bc-retry' })).body['data'] as unknown as BroadcastReply
    t.equal(again.duplicate, true)
    t.same(again.messages, first.messages, 'the same deltas')
    const concurrent = await Promise.all([1, 2, 3].map(() => broadcast(ann!, { channel_ids: [withCat, group], content: 'racing', client_msg_id: 'bc-race' })))
    const answers = concurrent.map((r) => r.body['data'] as unknown as BroadcastReply)
    t.same(answers.map((a) => a.duplicate).sort(), [false, true, true], 'retries racing the first one are duplicates')
    t.ok(answers.every((a) => JSON.stringify(a.messages) === JSON.stringify(answers[0]!.messages)), 'all answer the same deltas')
    const after = await seqsOf()
    t.same([after[0], after[2]], [before[0], String(Number(before[2]) + 1)], 'the retry posted nothing; the race posted once')
    const reordered = await broadcast(ann!, { channel_ids: [group, withBob], content: 'once only', client_msg_id: 'bc-retry' })
    t.same([reordered.body['action'], reordered.body.data?.code, reordered.body.data?.details?.['field']], ['ERROR', 'INVALID_FIELD', 'client_msg_id'], 'a retry must name the targets in the same order')
    t.same(await seqsOf(), after, 'and posts nothing')
  })

  await t.test('one refused target refuses the whole broadcast and names it; nothing is posted', async (t) => {
    const ended = await chat(ann!, { user_ids: [bob!.user_id, cat!.user_id], name: 'over' })
    await call(ann!, 'POST', `/api/chats/${ended}/end`)
    await call(cat!, 'PUT', `/api/blocks/${ann!.user_id}`)
    const before = await seqsOf()
    for (const [ids, code, bad] of [
      [[withBob, notMine, group], 'CHANNEL_NOT_FOUND', notMine],
      [[withBob, 'NO_SUCH_CHANNEL_0000000000'], 'CHANNEL_NOT_FOUND', 'NO_SUCH_CHANNEL_0000000000'],
      [[group, withCat], 'BLOCKED', withCat],
      [[withBob, ended], 'CHANNEL_CLOSED', ended],
      [[withBob, server.server_id], 'FORBIDDEN', server.server_id],
    ] as const) {
      const res = await call(ann!, 'POST', '/api/requests', { action: 'BROADCAST_MESSAGE', data: { channel_ids: ids, content: 'should not land' } })
      t.same([res.body['action'], res.body.data?.code, res.body.data?.details?.['channel_id']], ['ERROR', code, bad], `${code} names ${bad === server.server_id ? "the server's log" : 'the target'}`)
    }
    t.same(await seqsOf(), before, 'no target got anything')
    await call(cat!, 'DELETE', `/api/blocks/${ann!.user_id}`)
  })

  await t.test('bad input is coded and posts nothing', async (t) => {
    const before = await seqsOf()
    const many = Array.from({ length: 21 }, (_, i) => `CHANNEL${String(i).padStart(19, '0')}`)
    for (const [data, field, code, what] of [
      [{ channel_ids: [withBob], content: 'x' }, 'channel_ids', 'INVALID_FIELD', 'one target'],
      [{ channel_ids: many, content: 'x' }, 'channel_ids', 'INVALID_FIELD', '21 targets'],
      [{ channel_ids: [withBob, withBob], content: 'x' }, 'channel_ids', 'INVALID_FIELD', 'a repeated target'],
      [{ channel_ids: [withBob, 'bad id'], content: 'x' }, 'channel_ids[1]', 'INVALID_FIELD', 'a malformed id'],
      [{ channel_ids: withBob, content: 'x' }, 'channel_ids', 'INVALID_FIELD', 'not a list'],
      [{ channel_ids: [withBob, group], content: '   ' }, 'content', 'INVALID_FIELD', 'blank content'],
      [{ channel_ids: [withBob, group], content: 42 }, 'content', 'INVALID_FIELD', 'content not a string'],
      [{ channel_ids: [withBob, group], content: 'x', reply_to: '1' }, 'reply_to', 'INVALID_FIELD', 'a reply'],
      [{ channel_ids: [withBob, group], content: 'x', channel_id: withBob }, 'channel_ids', 'INVALID_FIELD', 'a channel_id besides'],
      [{ channel_ids: [withBob, group], content: 'x', client_msg_id: 'm'.repeat(61) }, 'client_msg_id', 'INVALID_FIELD', 'a client_msg_id over 60'],
      [{ channel_ids: [withBob, group], content: 'x', expires_in: 0 }, 'expires_in', 'INVALID_FIELD', 'a bad lifetime'],
      [{ channel_ids: [withBob, group], content: 'x'.repeat(20_000) }, undefined, 'CONTENT_TOO_LARGE', 'oversized content'],
    ] as const) {
      const res = await broadcast(ann!, data)
      t.same([res.body['action'], res.body.data?.code], ['ERROR', code], what)
      if (field !== undefined) t.equal(res.body.data?.details?.['field'], field, `${what}: names ${field}`)
    }
    t.same(await seqsOf(), before, 'nothing was posted')
  })

  await t.test('polls, files and cards go out as separate messages of their own', async (t) => {
    const file = await uploadFile(chime, ann!, withBob, Buffer.from('%PDF-1.4\n%flyer\n'), 'flyer.pdf', 'application/pdf')
    const polls = (await broadcast(ann!, { channel_ids: [withBob, group], poll: { question: 'lunch?', options: ['yes', 'no'] } })).body['data'] as unknown as BroadcastReply
    t.equal(polls.messages.length, 2)
    t.equal((await act(bob!, 'VOTE_POLL', { message_id: polls.messages[0]!.message_id, options: [0] })).body['action'], 'VOTE_POLL_RESPONSE', 'each poll is voted on where it is')
    const files = (await broadcast(ann!, { channel_ids: [withBob, group], content: 'see attached', attachments: [{ file_id: file.file_id }] })).body['data'] as unknown as BroadcastReply
    const d = (await sync(bob!, group)).find((x) => x.delta_id === files.messages[1]!.delta_id)!
    t.same([d.meta?.kind, d.attachments?.[0]?.file_id], ['file', file.file_id])
  })
}

t.test('broadcast', async (t) => {
  await eachProfile(t, 'broadcast', run)
})
