// 1:1 and group chats over HTTP on both profiles: one 1:1 chat per pair (also when both
// open it at once, or by a first message), groups with an admin, membership changes as
// deltas in the chat and events on the inboxes, blocks, ended groups.
import t, { type Test } from 'tap'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'
import { collect, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'
import { expectError } from '../helpers/expect.ts'

type Res = { status: number; body: Record<string, unknown> & { data?: { code?: string } } }

async function run(t: Test, chime: TestChime): Promise<void> {
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Res> =>
    chime.http(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) }) as Promise<Res>
  const post = (user: TestUser, data: object): Promise<Res> => chime.http('POST', '/api/post/', { token: user.token, body: { action: 'POST_MESSAGE', data } }) as Promise<Res>
  const log = async (user: TestUser, chatId: string): Promise<DeltaJson[]> =>
    (await chime.http<Envelope<string, { missing_deltas: DeltaJson[] }>>('POST', '/api/sync/', { token: user.token, body: { action: 'SYNC', data: { channel_id: chatId, client_seq: '0' } } })).body.data.missing_deltas
  const [ann, bob, cat, dan, eve] = await Promise.all([1, 2, 3, 4, 5].map(() => chime.register()))
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())

  await t.test('one 1:1 chat per pair, even when both open it at the same moment', async (t) => {
    const [a, b] = await Promise.all([call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id] }), call(bob!, 'POST', '/api/chats', { user_ids: [ann!.user_id] })])
    t.equal(a.body['chat_id'], b.body['chat_id'], 'the same chat')
    t.same([a.body['created'], b.body['created']].sort(), [false, true], 'created once')
    t.equal(a.body['type'], 'dm')
    const first = await post(cat!, { user_id: dan!.user_id, content: 'hello dan' })
    t.equal(first.status, 200, 'a first message to a user opens the chat')
    const chatId = (first.body['data'] as { channel_id: string }).channel_id
    t.equal((await call(dan!, 'POST', '/api/chats', { user_ids: [cat!.user_id] })).body['chat_id'], chatId, 'and it is the pair’s chat')
    t.same((await log(dan!, chatId)).map((d) => d.type), ['chat_created', 'message'])
    expectError(t, await call(eve!, 'GET', `/api/chats/${chatId}`), 404, 'CHANNEL_NOT_FOUND', 'a stranger does not see it')
    expectError(t, await post(eve!, { channel_id: chatId, content: 'intrude' }), 404, 'CHANNEL_NOT_FOUND', 'nor posts in it')
    expectError(t, await post(cat!, { user_id: cat!.user_id, content: 'me' }), 400, 'INVALID_FIELD', 'a chat with oneself')
    expectError(t, await call(cat!, 'POST', '/api/chats', { user_ids: ['NO_SUCH_USER_0000000000'] }), 404, 'USER_NOT_FOUND', 'an unknown user')
    expectError(t, await call(cat!, 'POST', '/api/chats', { user_ids: [] }), 400, 'INVALID_FIELD', 'nobody')
    expectError(t, await call(cat!, 'POST', '/api/chats', { user_ids: ['bad id'] }), 400, 'INVALID_FIELD', 'a malformed id')
  })

  await t.test('blocks: no chat with, and no message to, a user who blocked you', async (t) => {
    const dm = (await call(eve!, 'POST', '/api/chats', { user_ids: [ann!.user_id] })).body['chat_id'] as string
    await db.prisma.block.create({ data: { userId: ann!.user_id, blockedId: eve!.user_id } })
    expectError(t, await post(eve!, { channel_id: dm, content: 'still there?' }), 403, 'BLOCKED', 'messaging the blocker')
    t.equal((await post(ann!, { channel_id: dm, content: 'the blocker may still write' })).status, 200)
    expectError(t, await call(eve!, 'POST', '/api/chats', { user_ids: [ann!.user_id, bob!.user_id], name: 'sneaky' }), 403, 'BLOCKED', 'a group with the blocker')
    await db.prisma.block.delete({ where: { userId_blockedId: { userId: ann!.user_id, blockedId: eve!.user_id } } })
    t.equal((await post(eve!, { channel_id: dm, content: 'friends again' })).status, 200, 'unblocked')
  })

  await t.test('groups: admin adds, removes, renames, hands over on leaving; the inbox tells', async (t) => {
    const danClient = await chime.connect(dan!)
    const inbox = collect(danClient, topics.inbox(dan!.user_id))
    await danClient.subscribeAsync(topics.inbox(dan!.user_id), { qos: 1 })
    const g = await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id, cat!.user_id], name: 'trio' })
    const chatId = g.body['chat_id'] as string
    t.equal(g.body['type'], 'group')
    expectError(t, await call(bob!, 'POST', `/api/chats/${chatId}/members`, { user_ids: [dan!.user_id] }), 403, 'FORBIDDEN', 'a member does not add')
    t.same((await call(ann!, 'POST', `/api/chats/${chatId}/members`, { user_ids: [dan!.user_id] })).body['added'], [dan!.user_id])
    expectError(t, await call(ann!, 'POST', `/api/chats/${chatId}/members`, { user_ids: [dan!.user_id] }), 409, 'ALREADY_MEMBER', 'adding twice')
    t.equal((await call(ann!, 'PATCH', `/api/chats/${chatId}`, { name: 'quartet' })).status, 200)
    expectError(t, await call(cat!, 'PATCH', `/api/chats/${chatId}`, { name: 'mine' }), 403, 'FORBIDDEN', 'a member does not rename')
    expectError(t, await call(ann!, 'DELETE', `/api/chats/${chatId}/members/${ann!.user_id}`), 403, 'FORBIDDEN', 'the admin removes others, leaves itself')
    t.equal((await call(ann!, 'DELETE', `/api/chats/${chatId}/members/${cat!.user_id}`)).status, 200)
    expectError(t, await call(cat!, 'GET', `/api/chats/${chatId}`), 404, 'CHANNEL_NOT_FOUND', 'a removed member no longer sees it')
    const left = await call(ann!, 'POST', `/api/chats/${chatId}/leave`)
    t.equal(left.body['new_admin'], bob!.user_id, 'the longest-standing member becomes admin')
    const info = await call(bob!, 'GET', `/api/chats/${chatId}`)
    t.same((info.body['members'] as { user_id: string; role: string }[]).map((m) => [m.user_id, m.role]).sort(), [[bob!.user_id, 'admin'], [dan!.user_id, 'member']].sort())
    t.equal(info.body['name'], 'quartet')
    t.same((await log(bob!, chatId)).map((d) => d.type), ['chat_created', 'chat_member_added', 'chat_updated', 'chat_member_removed', 'chat_member_left', 'chat_admin'])
    await waitFor('dan was told it was added', () => inbox.find((e) => e.action === 'MEMBERSHIP'))
    t.same(inbox.filter((e) => e.action === 'MEMBERSHIP').map((e) => [(e.data as { change: string }).change, (e.data as { chat_id: string }).chat_id]), [['added', chatId]])
    t.equal((await call(dan!, 'GET', '/api/chats')).body['chats'] instanceof Array, true)
    t.ok(((await call(dan!, 'GET', '/api/chats')).body['chats'] as { chat_id: string }[]).some((c) => c.chat_id === chatId), 'listed among dan’s chats')
  })

  await t.test('an ended group keeps its history and takes no posts; invitations lead into groups', async (t) => {
    const chatId = (await call(bob!, 'POST', '/api/chats', { user_ids: [cat!.user_id, dan!.user_id], name: 'short-lived' })).body['chat_id'] as string
    const invite = (await call(bob!, 'POST', `/api/chats/${chatId}/invites`, { max_uses: 1 })).body['code'] as string
    expectError(t, await call(cat!, 'POST', `/api/chats/${chatId}/invites`, {}), 403, 'FORBIDDEN', 'members do not invite into a group')
    t.same((await call(eve!, 'POST', `/api/invites/${invite}/accept`)).body, { chat_id: chatId, joined: true })
    t.equal((await post(eve!, { channel_id: chatId, content: 'hi all' })).status, 200)
    expectError(t, await call(cat!, 'POST', `/api/chats/${chatId}/end`), 403, 'FORBIDDEN', 'only the admin ends it')
    t.equal((await call(bob!, 'POST', `/api/chats/${chatId}/end`)).status, 200)
    expectError(t, await post(eve!, { channel_id: chatId, content: 'anyone?' }), 409, 'CHANNEL_CLOSED', 'no posts after the end')
    t.same((await log(eve!, chatId)).map((d) => d.type), ['chat_created', 'chat_member_added', 'message', 'chat_ended'], 'the history stays readable')
    expectError(t, await call(bob!, 'POST', `/api/chats/${chatId}/members`, { user_ids: [ann!.user_id] }), 409, 'CHANNEL_CLOSED', 'nor added to')
    const dm = (await call(bob!, 'POST', '/api/chats', { user_ids: [cat!.user_id] })).body['chat_id'] as string
    expectError(t, await call(bob!, 'POST', `/api/chats/${dm}/leave`), 400, 'INVALID_FIELD', 'a 1:1 chat is not left')
    expectError(t, await call(bob!, 'POST', `/api/chats/${dm}/members`, { user_ids: [ann!.user_id] }), 400, 'INVALID_FIELD', 'nor grown')
  })
}

await eachProfile(t, 'chats', run)
