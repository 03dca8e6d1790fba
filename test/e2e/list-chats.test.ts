// LIST_CHATS on both profiles: the server channels a user may read and its chats, most recent
// activity first, paged; thumbnails (channel icon, else server icon, else the 1:1 partner's),
// 1:1 chats named after the other user, the newest message with a preview (deleted and
// expired ones shown as deleted), unread and mention counts; server logs and channels the
// user may not read never appear; bad paging is a coded error. Over MQTT and HTTP.
import t, { type Test } from 'tap'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { ChatListStore } from '../../api/src/store/chat-list.ts'
import type { ChatListItemJson, Envelope, ListChatsResponseData } from '../../clients/sdk/src/protocol.ts'
import { request, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'
import { expectError } from '../helpers/expect.ts'
import { PERMISSIONS } from '../../clients/sdk/src/permissions.ts'

type Reply = Envelope<string, Record<string, unknown>>

async function run(t: Test, chime: TestChime): Promise<void> {
  const act = async (user: TestUser, action: string, data: object): Promise<Reply> =>
    (await chime.http<Reply>('POST', '/api/requests', { token: user.token, body: { action, data } })).body
  const list = async (user: TestUser, data: object = {}): Promise<ListChatsResponseData> => {
    const r = await act(user, 'LIST_CHATS', data)
    if (r.action !== 'LIST_CHATS_RESPONSE') throw new Error(`LIST_CHATS failed: ${JSON.stringify(r)}`)
    return r.data as unknown as ListChatsResponseData
  }
  let lastPostAt = 0
  /** Posts, one millisecond at least after the previous post, so activity times differ. */
  const post = async (user: TestUser, channelId: string, content: string, extra: object = {}): Promise<{ id: string; seq: string; timestamp: string }> => {
    await waitFor('the next millisecond', () => (Date.now() > lastPostAt + 1 ? true : undefined))
    const r = await act(user, 'POST_MESSAGE', { channel_id: channelId, content, ...extra })
    if (r.action !== 'POST_MESSAGE_RESPONSE') throw new Error(`post failed: ${JSON.stringify(r)}`)
    lastPostAt = Date.now()
    return { id: r.data['delta_id'] as string, seq: r.data['seq'] as string, timestamp: r.data['timestamp'] as string }
  }
  const call = <T>(user: TestUser, method: string, path: string, body?: object) =>
    chime.http<T>(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) })
  const byId = (page: ListChatsResponseData): Map<string, ChatListItemJson> => new Map(page.chats.map((c) => [c.channel_id, c]))

  const [me, ann, bob, cat] = await Promise.all([1, 2, 3, 4].map(() => chime.register()))
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  await call(me!, 'PATCH', '/api/users/me', { display_name: 'Me Myself' })
  await call(bob!, 'PATCH', '/api/users/me', { display_name: 'Bobby', icon_file_id: 'bob-icon' })

  // ann's server, which I join: its general channel, a second channel, and a private one.
  const s1 = (await call<{ server_id: string; channel_id: string }>(ann!, 'POST', '/api/servers', { name: 'Ann’s place' })).body
  await call(me!, 'POST', `/api/servers/${s1.server_id}/join`)
  await call(ann!, 'PATCH', `/api/servers/${s1.server_id}`, { icon_file_id: 'server-icon' })
  const second = (await call<{ channel_id: string }>(ann!, 'POST', `/api/servers/${s1.server_id}/channels`, { name: 'second', type: 'text' })).body.channel_id
  const secret = (await call<{ channel_id: string }>(ann!, 'POST', `/api/servers/${s1.server_id}/channels`, { name: 'staff', type: 'text', private: true })).body.channel_id
  await db.prisma.channel.update({ where: { id: second }, data: { iconFileId: 'channel-icon' } })
  // My own server, and chats.
  const s2 = (await call<{ server_id: string; channel_id: string }>(me!, 'POST', '/api/servers', { name: 'Mine' })).body
  const dm = (await call<{ chat_id: string }>(bob!, 'POST', '/api/chats', { user_ids: [me!.user_id] })).body.chat_id
  const trio = (await call<{ chat_id: string }>(ann!, 'POST', '/api/chats', { user_ids: [me!.user_id, cat!.user_id], name: 'trio' })).body.chat_id
  await call(ann!, 'PATCH', `/api/chats/${trio}`, { icon_file_id: 'group-icon' })
  const elsewhere = (await call<{ chat_id: string }>(ann!, 'POST', '/api/chats', { user_ids: [cat!.user_id], name: 'not mine' })).body.chat_id

  // Activity, oldest first: this is the order the list must reverse.
  await post(me!, s2.channel_id, 'my server')
  const long = '🙂'.repeat(60) + 'x'.repeat(90)
  const secondLast = await post(ann!, second, long)
  const dmLast = await post(bob!, dm, `hi <@${me!.user_id}>`)
  await post(ann!, s1.channel_id, 'general chatter')
  const generalLast = await post(ann!, s1.channel_id, `<@${me!.user_id}> look at this`)
  await post(ann!, trio, 'first in trio')
  const trioLast = await post(cat!, trio, 'second in trio')
  await post(ann!, secret, 'staff only, newest of all')
  await post(ann!, elsewhere, 'not for me')
  const expected = [trio, s1.channel_id, dm, second, s2.channel_id]

  await t.test('everything I may read, newest activity first; server logs, private channels and others’ chats absent', async (t) => {
    const all = await list(me!)
    t.same(all.chats.map((c) => c.channel_id), expected, 'ordered by activity')
    t.match(all, { page: 0, page_size: 50, total: 5, has_more: false }, 'defaults: page 0 of 50; five listed')
    const ids = new Set(all.chats.map((c) => c.channel_id))
    t.notOk(ids.has(s1.server_id) || ids.has(s2.server_id), "no server's own log")
    t.notOk(ids.has(secret), 'not the private channel')
    t.notOk(ids.has(elsewhere), 'not a chat of others')
    t.ok(all.chats.every((c, i, cs) => i === 0 || (c.last_activity_at ?? '') <= (cs[i - 1]!.last_activity_at ?? '')), 'last_activity_at descends')

    const annList = await list(ann!)
    t.ok(annList.chats.some((c) => c.channel_id === secret), 'the owner does see the private channel')
    t.equal(annList.chats[0]!.channel_id, elsewhere, 'and her own newest chat first')
  })

  await t.test('paging', async (t) => {
    const pages = [await list(me!, { page: 0, page_size: 2 }), await list(me!, { page: 1, page_size: 2 }), await list(me!, { page: 2, page_size: 2 })]
    t.same(pages.map((p) => p.chats.map((c) => c.channel_id)), [expected.slice(0, 2), expected.slice(2, 4), expected.slice(4)], 'pages of two follow the activity order')
    t.same(pages.map((p) => [p.page, p.total, p.has_more]), [[0, 5, true], [1, 5, true], [2, 5, false]], 'total and has_more')
    const beyond = await list(me!, { page: 9, page_size: 2 })
    t.same([beyond.chats, beyond.total, beyond.has_more], [[], 5, false], 'a page past the end is empty')
    const http = await call<ListChatsResponseData>(me!, 'GET', '/api/chats/list?page=1&page_size=2')
    t.equal(http.status, 200, 'GET /api/chats/list answers')
    t.same(http.body, pages[1], 'GET /api/chats/list answers the same')
    const client = await chime.connect(me!)
    const overMqtt = await request(client, me!.user_id, 'LIST_CHATS', { page: 0, page_size: 2 })
    t.same([overMqtt.action, overMqtt.data], ['LIST_CHATS_RESPONSE', pages[0]], 'and so does the request over MQTT')
  })

  await t.test('the database-sorted way round (used if membership and permissions ever disagree) gives the same pages', async (t) => {
    const store = new ChatListStore(db)
    const shuffled = [...expected].reverse()
    t.same((await store.page(shuffled, me!.user_id, 0, 2)).map((r) => r.id), expected.slice(0, 2), 'first page')
    t.same((await store.page(shuffled, me!.user_id, 2, 5)).map((r) => r.id), expected.slice(2), 'the rest')
    t.same((await store.rows(shuffled, me!.user_id)).map((r) => r.id), shuffled, 'rows keep the order asked for')
  })

  await t.test('names, thumbnails, newest messages and counts', async (t) => {
    const items = byId(await list(me!))
    const g = items.get(s1.channel_id)!
    t.match(g, { kind: 'text', name: 'general', server_id: s1.server_id, server_name: 'Ann’s place', icon_file_id: 'server-icon', unread: 2, mentions: 1, read_seq: '0' }, 'a server channel: its server and the server icon')
    t.same(g.last_message, { message_id: generalLast.id, user_id: ann!.user_id, sender_name: ann!.username, preview: `<@${me!.user_id}> look at this`, kind: 'text', timestamp: generalLast.timestamp }, 'its newest message: id, sender, preview, kind and time')
    const s = items.get(second)!
    t.match(s, { icon_file_id: 'channel-icon', unread: 1, mentions: 0 }, "a channel's own icon comes before its server's")
    t.equal(s.last_message?.preview, Array.from(long).slice(0, 100).join(''), 'the preview is the first 100 characters')
    t.equal(Array.from(s.last_message?.preview ?? '').length, 100, 'counted in characters, emoji whole')
    t.equal(s.last_message?.message_id, secondLast.id, 'the newest message of the channel')
    const d = items.get(dm)!
    t.match(d, { kind: 'dm', name: 'Bobby', server_id: null, server_name: null, icon_file_id: 'bob-icon', unread: 1, mentions: 1 }, "a 1:1 chat: the other user's name and icon")
    t.match(d.last_message, { message_id: dmLast.id, sender_name: 'Bobby' }, 'the sender by display name')
    t.equal(byId(await list(bob!)).get(dm)?.name, 'Me Myself', 'and for the other user, my name')
    const g3 = items.get(trio)!
    t.match(g3, { kind: 'group', name: 'trio', icon_file_id: 'group-icon', unread: 2, mentions: 0 }, 'a group: its name and its own icon')
    t.match(g3.last_message, { message_id: trioLast.id, user_id: cat!.user_id, preview: 'second in trio' }, 'its newest message')
    const mine = items.get(s2.channel_id)!
    t.match(mine, { server_name: 'Mine', icon_file_id: null, unread: 0, mentions: 0 }, 'my own message is not unread; no icon anywhere')

    const read = await act(me!, 'MARK_READ', { channel_id: s1.channel_id, seq: generalLast.seq })
    t.equal(read.action, 'MARK_READ_RESPONSE')
    t.match(byId(await list(me!)).get(s1.channel_id), { unread: 0, mentions: 0, read_seq: generalLast.seq }, 'read: the counts drop')
  })

  await t.test('a deleted or expired newest message shows as deleted', async (t) => {
    const del = await act(cat!, 'DELETE_MESSAGE', { message_id: trioLast.id })
    t.equal(del.action, 'DELETE_MESSAGE_RESPONSE')
    const afterDelete = byId(await list(me!))
    t.same(afterDelete.get(trio)!.last_message, { message_id: trioLast.id, user_id: cat!.user_id, sender_name: cat!.username, preview: null, kind: 'text', timestamp: trioLast.timestamp, deleted: true }, 'deleted: no preview, marked deleted')
    t.match(afterDelete.get(trio), { unread: 1 }, 'and it is no longer unread')
    t.equal((await list(me!)).chats[0]!.channel_id, trio, 'the delete is activity too')

    const secretMessage = await post(bob!, dm, 'this will vanish', { expires_in: 3600 })
    await db.prisma.message.update({ where: { id: BigInt(secretMessage.id) }, data: { expiresAt: new Date(Date.now() - 1) } })
    const afterExpiry = byId(await list(me!)).get(dm)!
    t.match(afterExpiry.last_message, { message_id: secretMessage.id, preview: null, deleted: true }, 'an expired message has no preview either')
    t.match(afterExpiry, { unread: 1, mentions: 1 }, 'and is not counted')
  })

  await t.test('bad paging is a coded error', async (t) => {
    const cases: [string, object][] = [
      ['a negative page', { page: -1 }],
      ['a fractional page', { page: 0.5 }],
      ['a page as words', { page: 'two' }],
      ['page_size 0', { page_size: 0 }],
      ['page_size over 100', { page_size: 101 }],
      ['page_size of the wrong type', { page_size: [10] }],
    ]
    for (const [what, data] of cases) {
      const r = await act(me!, 'LIST_CHATS', data)
      t.same([r.action, (r.data as { code?: string }).code], ['ERROR', 'INVALID_FIELD'], what)
    }
    expectError(t, await call(me!, 'GET', '/api/chats/list?page_size=1000'), 400, 'INVALID_FIELD', 'over HTTP')
    expectError(t, await call(me!, 'GET', '/api/chats/list?page=-3'), 400, 'INVALID_FIELD', 'a negative page over HTTP')
    expectError(t, await chime.http('GET', '/api/chats/list'), 401, 'UNAUTHENTICATED', 'without a token')
    t.equal((await list(me!, { page_size: 100 })).page_size, 100, 'page_size 100 is fine')
  })
  await t.test('permission and membership changes show on the very next call', async (t) => {
    const ids = async (): Promise<string[]> => (await list(me!)).chats.map((c) => c.channel_id)
    t.ok((await ids()).includes(second), 'listed (and the readable set now cached)')
    const overrides = (channelId: string) => `/api/servers/${s1.server_id}/channels/${channelId}/overrides`
    t.equal((await call(ann!, 'PUT', overrides(second), { target_type: 'user', target: me!.user_id, allow: 0, deny: PERMISSIONS.READ })).status, 200, 'override set')
    t.notOk((await ids()).includes(second), 'an override taking READ away hides it at once')
    t.equal((await call(ann!, 'PUT', overrides(secret), { target_type: 'user', target: me!.user_id, allow: PERMISSIONS.READ, deny: 0 })).status, 200, 'override set')
    t.ok((await ids()).includes(secret), 'one giving READ shows the private channel at once')
    const fresh = (await call<{ channel_id: string }>(ann!, 'POST', `/api/servers/${s1.server_id}/channels`, { name: 'fresh', type: 'text' })).body.channel_id
    t.ok((await ids()).includes(fresh), 'a new channel is listed at once')
    await call(ann!, 'DELETE', `/api/servers/${s1.server_id}/channels/${fresh}`)
    t.notOk((await ids()).includes(fresh), 'a deleted one is gone at once')
    const newChat = (await call<{ chat_id: string }>(cat!, 'POST', '/api/chats', { user_ids: [me!.user_id], name: 'new group' })).body.chat_id
    t.equal((await ids())[0], newChat, 'a new chat comes first')
    await call(cat!, 'DELETE', `/api/chats/${newChat}/members/${me!.user_id}`)
    t.notOk((await ids()).includes(newChat), 'removed from it: gone at once')
    await call(me!, 'POST', `/api/servers/${s1.server_id}/leave`)
    t.same((await ids()).filter((id) => [s1.channel_id, second, secret].includes(id)), [], 'leaving the server takes its channels away at once')
  })
}

await eachProfile(t, 'list-chats', run)
