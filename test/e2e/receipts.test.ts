// Receipts and unread counts on both profiles: MARK_RECEIVED and MARK_READ raise a user's
// watermarks (never lower them); every device of the user gets the same MARKER event with
// the same counts; chat authors get RECEIPT events, read ones only when the reader does not
// hide them; unread and mention counts leave out deleted, expired and own messages and count
// @user, @everyone and @role mentions; bad input is a coded error that changes nothing.
import t, { type Test } from 'tap'
import type { MqttClient } from 'mqtt'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { Envelope, MarkerEventData, MarkReceiptResponseData, ReceiptEventData } from '../../clients/sdk/src/protocol.ts'
import { collect, request, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'

type Reply = Envelope<string, Record<string, unknown>>

async function run(t: Test, chime: TestChime): Promise<void> {
  /** Any request envelope over HTTP (POST /api/requests): the reply or ERROR envelope. */
  const act = async (user: TestUser, action: string, data: object): Promise<Reply> =>
    (await chime.http<Reply>('POST', '/api/requests', { token: user.token, body: { action, data } })).body
  const mark = async (user: TestUser, action: 'MARK_READ' | 'MARK_RECEIVED', channelId: string, seq: string): Promise<MarkReceiptResponseData> => {
    const r = await act(user, action, { channel_id: channelId, seq })
    if (r.action !== `${action}_RESPONSE`) throw new Error(`${action} failed: ${JSON.stringify(r)}`)
    return r.data as unknown as MarkReceiptResponseData
  }
  const post = async (user: TestUser, channelId: string, content: string, extra: object = {}): Promise<{ id: string; seq: string }> => {
    const r = await act(user, 'POST_MESSAGE', { channel_id: channelId, content, ...extra })
    if (r.action !== 'POST_MESSAGE_RESPONSE') throw new Error(`post failed: ${JSON.stringify(r)}`)
    return { id: r.data['delta_id'] as string, seq: r.data['seq'] as string }
  }
  const chat = async (user: TestUser, others: TestUser[], name?: string): Promise<string> =>
    (await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: user.token, body: { user_ids: others.map((o) => o.user_id), ...(name ? { name } : {}) } })).body.chat_id
  /** A device listening on its user's inbox. */
  const device = async (user: TestUser): Promise<{ client: MqttClient; inbox: Envelope[] }> => {
    const client = await chime.connect(user)
    const inbox = collect(client, topics.inbox(user.user_id))
    await client.subscribeAsync(topics.inbox(user.user_id), { qos: 1 })
    return { client, inbox }
  }
  /**
   * Everything published on the user's inbox before now has arrived once the reply to a
   * request sent now arrives (one publisher, one topic: delivery keeps publish order).
   */
  const settled = async (d: { client: MqttClient }, user: TestUser): Promise<void> => {
    await request(d.client, user.user_id, 'LIST_CHATS', { page_size: 1 })
  }
  const receipts = (inbox: Envelope[]): ReceiptEventData[] => inbox.filter((e) => e.action === 'RECEIPT').map((e) => e.data as ReceiptEventData)
  const markers = (inbox: Envelope[]): MarkerEventData[] => inbox.filter((e) => e.action === 'MARKER').map((e) => e.data as MarkerEventData)

  const [ann, bob, cat, dan] = await Promise.all([1, 2, 3, 4].map(() => chime.register()))
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())

  await t.test('two devices of one user get the same MARKER event with the same counts', async (t) => {
    const dm = await chat(ann!, [bob!])
    await post(ann!, dm, 'one')
    const second = await post(ann!, dm, 'two <@' + bob!.user_id + '>')
    await post(ann!, dm, 'three')
    const phone = await device(bob!)
    const laptop = await device(bob!)
    const reply = await request(phone.client, bob!.user_id, 'MARK_READ', { channel_id: dm, seq: second.seq })
    t.equal(reply.action, 'MARK_READ_RESPONSE', 'MARK_READ over MQTT is answered')
    const answer = reply.data as MarkReceiptResponseData
    t.match(answer, { channel_id: dm, read_seq: second.seq, received_seq: second.seq, unread: 1, mentions: 0, unread_capped: false, changed: true }, 'read up to the second message: one unread left, its mention read')
    const onPhone = await waitFor('the MARKER on the phone', () => markers(phone.inbox).at(-1))
    const onLaptop = await waitFor('the MARKER on the laptop', () => markers(laptop.inbox).at(-1))
    const { changed: _changed, ...expected } = answer
    t.same(onPhone, expected, 'the phone (which sent MARK_READ) gets the new marker and counts')
    t.same(onLaptop, onPhone, 'the laptop gets exactly the same')
    await request(laptop.client, bob!.user_id, 'MARK_READ', { channel_id: dm, seq: String(Number(second.seq) + 1) })
    await waitFor('both devices at zero unread', () => (markers(phone.inbox).at(-1)?.unread === 0 && markers(laptop.inbox).at(-1)?.unread === 0 ? true : undefined))
    t.same(markers(phone.inbox), markers(laptop.inbox), 'both devices saw the same sequence of markers')
  })

  await t.test('chat authors get RECEIPT received and read events for the messages covered', async (t) => {
    const annDevice = await device(ann!)
    const catDevice = await device(cat!)
    const group = await chat(ann!, [bob!, cat!], 'receipts')
    const a1 = await post(ann!, group, 'from ann')
    const c1 = await post(cat!, group, 'from cat')
    await post(bob!, group, 'from bob')

    const received = await mark(bob!, 'MARK_RECEIVED', group, a1.seq)
    t.match(received, { received_seq: a1.seq, read_seq: '0', changed: true }, 'MARK_RECEIVED raises only received_seq')
    await waitFor('ann told bob received', () => receipts(annDevice.inbox).find((r) => r.channel_id === group))
    t.same(receipts(annDevice.inbox), [{ channel_id: group, user_id: bob!.user_id, status: 'received', seq: a1.seq }], 'ann, author in the range, is told; cat, whose message comes later, is not')

    // Reading up to cat's message: it was not yet received either, so cat gets both; ann only "read".
    await mark(bob!, 'MARK_READ', group, c1.seq)
    await waitFor('ann told bob read', () => receipts(annDevice.inbox).find((r) => r.status === 'read'))
    await waitFor('cat told bob read', () => receipts(catDevice.inbox).find((r) => r.status === 'read'))
    await settled(annDevice, ann!)
    await settled(catDevice, cat!)
    t.same(receipts(annDevice.inbox), [
      { channel_id: group, user_id: bob!.user_id, status: 'received', seq: a1.seq },
      { channel_id: group, user_id: bob!.user_id, status: 'read', seq: c1.seq },
    ], 'ann: her message was already received; now it is read')
    t.same(receipts(catDevice.inbox), [
      { channel_id: group, user_id: bob!.user_id, status: 'received', seq: c1.seq },
      { channel_id: group, user_id: bob!.user_id, status: 'read', seq: c1.seq },
    ], 'cat: received and read at once (reading implies receiving)')

    // Server channels send no receipts.
    const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: ann!.token, body: { name: 'NoReceipts' } })).body
    await chime.http('POST', `/api/servers/${server.server_id}/join`, { token: bob!.token })
    const s1 = await post(ann!, server.channel_id, 'in a server')
    await mark(bob!, 'MARK_READ', server.channel_id, s1.seq)
    await settled(annDevice, ann!)
    t.notOk(receipts(annDevice.inbox).some((r) => r.channel_id === server.channel_id), 'no receipt for a server channel')
  })

  await t.test('hide_read_receipts: only "received" receipts go out', async (t) => {
    const annDevice = await device(ann!)
    const dm = await chat(dan!, [ann!])
    const m = await post(ann!, dm, 'do you read me?')
    const bad = await chime.http<Reply>('PATCH', '/api/users/me', { token: dan!.token, body: { hide_read_receipts: 'yes' } })
    t.same([bad.status, (bad.body.data as { code?: string }).code], [400, 'INVALID_FIELD'], 'a non-boolean is refused')
    t.equal((await chime.http<{ hide_read_receipts: boolean }>('GET', '/api/users/me', { token: dan!.token })).body.hide_read_receipts, false, 'off by default, and the refused update changed nothing')
    const patched = await chime.http<{ hide_read_receipts: boolean }>('PATCH', '/api/users/me', { token: dan!.token, body: { hide_read_receipts: true } })
    t.equal(patched.body.hide_read_receipts, true, 'the answer shows it')
    t.equal((await chime.http<{ hide_read_receipts: boolean }>('GET', '/api/users/me', { token: dan!.token })).body.hide_read_receipts, true, 'GET shows it')

    const answer = await mark(dan!, 'MARK_READ', dm, m.seq)
    t.match(answer, { read_seq: m.seq, unread: 0, changed: true }, "dan's own marker moves as usual")
    await waitFor('the received receipt', () => receipts(annDevice.inbox).find((r) => r.channel_id === dm))
    await settled(annDevice, ann!)
    t.same(receipts(annDevice.inbox).filter((r) => r.channel_id === dm), [{ channel_id: dm, user_id: dan!.user_id, status: 'received', seq: m.seq }], 'no read receipt')

    await chime.http('PATCH', '/api/users/me', { token: dan!.token, body: { hide_read_receipts: false } })
    const m2 = await post(ann!, dm, 'and now?')
    await mark(dan!, 'MARK_READ', dm, m2.seq)
    await waitFor('read receipts are back', () => receipts(annDevice.inbox).find((r) => r.channel_id === dm && r.status === 'read'))
    t.pass('turning it off again sends read receipts')
  })

  await t.test('markers never go back; a mark that changes nothing sends nothing', async (t) => {
    const bobDevice = await device(bob!)
    const annDevice = await device(ann!)
    const dm = await chat(ann!, [bob!])
    const seqs: string[] = []
    for (const text of ['a', 'b', 'c']) seqs.push((await post(ann!, dm, text)).seq)
    await mark(bob!, 'MARK_READ', dm, seqs[2]!)
    await waitFor('the marker', () => markers(bobDevice.inbox).find((m) => m.channel_id === dm && m.read_seq === seqs[2]))
    await settled(bobDevice, bob!)
    await settled(annDevice, ann!)
    const markersBefore = markers(bobDevice.inbox).length
    const receiptsBefore = receipts(annDevice.inbox).length

    const lower = await mark(bob!, 'MARK_READ', dm, seqs[0]!)
    t.match(lower, { read_seq: seqs[2], received_seq: seqs[2], changed: false, unread: 0 }, 'a lower read mark leaves the marker where it was')
    const lowerReceived = await mark(bob!, 'MARK_RECEIVED', dm, seqs[1]!)
    t.match(lowerReceived, { read_seq: seqs[2], received_seq: seqs[2], changed: false }, 'received stays at least at read')
    const same = await mark(bob!, 'MARK_READ', dm, seqs[2]!)
    t.equal(same.changed, false, 'the same mark again changes nothing')
    const zero = await mark(bob!, 'MARK_READ', dm, '0')
    t.equal(zero.read_seq, seqs[2], 'nor does 0')
    await settled(bobDevice, bob!)
    await settled(annDevice, ann!)
    t.equal(markers(bobDevice.inbox).length, markersBefore, 'no MARKER event')
    t.equal(receipts(annDevice.inbox).length, receiptsBefore, 'no RECEIPT event')
    const row = await db.prisma.readMarker.findUnique({ where: { userId_channelId: { userId: bob!.user_id, channelId: dm } } })
    t.same([row?.readSeq.toString(), row?.receivedSeq.toString()], [seqs[2], seqs[2]], 'stored as it was')

    // Concurrent marks from several devices end at the highest one.
    const more: string[] = []
    for (let i = 0; i < 6; i++) more.push((await post(ann!, dm, `m${i}`)).seq)
    await Promise.all([...more].reverse().map((s, i) => mark(bob!, i % 2 === 0 ? 'MARK_READ' : 'MARK_RECEIVED', dm, s)))
    const after = await db.prisma.readMarker.findUnique({ where: { userId_channelId: { userId: bob!.user_id, channelId: dm } } })
    t.equal(after?.readSeq.toString(), more.at(-1), 'racing marks: read ends at the highest')
    t.equal(after?.receivedSeq.toString(), more.at(-1), 'and received with it')
  })

  await t.test('unread and mention counts: deletions, expiry, own messages, @user, @everyone, @role', async (t) => {
    const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: ann!.token, body: { name: 'Counts' } })).body
    await chime.http('POST', `/api/servers/${server.server_id}/join`, { token: bob!.token })
    await chime.http('POST', `/api/servers/${server.server_id}/join`, { token: cat!.token })
    const ch = server.channel_id
    const plain = await post(ann!, ch, 'hello')                                // unread
    await post(ann!, ch, `hi <@${bob!.user_id}>`)                             // unread, mention
    await post(ann!, ch, '<@everyone> meeting at noon')                       // unread, mention
    await post(ann!, ch, '<@&member> members only')                            // unread, mention (bob is a member)
    await post(ann!, ch, '<@&moderator> moderators only')                      // unread, not bob's role
    await post(cat!, ch, `<@${cat!.user_id}> talking to myself`)              // unread, not bob
    await post(bob!, ch, `<@${bob!.user_id}> my own`)                         // bob's own: neither
    const deleted = await post(ann!, ch, `gone <@${bob!.user_id}>`)            // deleted: neither
    const expired = await post(ann!, ch, `secret <@${bob!.user_id}>`, { expires_in: 3600 })  // expired below: neither
    const later = await post(ann!, ch, `still secret <@${bob!.user_id}>`, { expires_in: 3600 }) // expires later: unread, mention
    const both = await post(ann!, ch, `<@${bob!.user_id}> and <@everyone>`)  // one message with two mentions counts once
    const del = await act(ann!, 'DELETE_MESSAGE', { message_id: deleted.id })
    t.equal(del.action, 'DELETE_MESSAGE_RESPONSE', 'deleted through DELETE_MESSAGE')
    await db.prisma.message.update({ where: { id: BigInt(expired.id) }, data: { expiresAt: new Date(Date.now() - 1000) } })

    const at0 = await mark(bob!, 'MARK_READ', ch, '0')
    t.match(at0, { unread: 8, mentions: 5, unread_capped: false, mentions_capped: false }, 'bob: 8 unread, 5 of them mention him')
    const catCounts = await mark(cat!, 'MARK_READ', ch, '0')
    t.match(catCounts, { unread: 8, mentions: 3 }, 'cat: not her own message; mentioned by everyone, @member and bob+everyone')
    const annCounts = await mark(ann!, 'MARK_READ', ch, '0')
    t.match(annCounts, { unread: 2, mentions: 0 }, 'ann (the owner): only the others’ messages; @member is not her role')

    const read = await mark(bob!, 'MARK_READ', ch, plain.seq)
    t.match(read, { unread: 7, mentions: 5 }, 'reading the first message')
    const readMore = await mark(bob!, 'MARK_READ', ch, later.seq)
    t.match(readMore, { unread: 1, mentions: 1 }, 'read up to the later secret: the last message is left')
    const readAll = await mark(bob!, 'MARK_READ', ch, both.seq)
    t.match(readAll, { unread: 0, mentions: 0 }, 'read to the end: nothing left')

    // In a chat, @everyone counts; role mentions do not apply.
    const group = await chat(ann!, [bob!, cat!], 'roles')
    await post(ann!, group, '<@everyone> all of us')
    await post(ann!, group, '<@&member> no roles in chats')
    const inChat = await mark(bob!, 'MARK_RECEIVED', group, '1')
    t.match(inChat, { unread: 2, mentions: 1, read_seq: '0', received_seq: '1' }, 'MARK_RECEIVED leaves read_seq and the counts as they were')
  })

  await t.test('the unread count stops at 1000 and says so', async (t) => {
    const dm = await chat(cat!, [dan!])
    const replies: Reply[] = []
    for (let from = 0; from < 1001; from += 200) {
      const batch = Array.from({ length: Math.min(200, 1001 - from) }, (_, i) => ({ action: 'POST_MESSAGE', data: { channel_id: dm, content: `n${from + i}` } }))
      replies.push(...(await chime.http<Reply[]>('POST', '/api/requests', { token: cat!.token, body: batch })).body)
    }
    t.same(replies.filter((r) => r.action !== 'POST_MESSAGE_RESPONSE').slice(0, 1), [], '1001 posts')
    const counts = await mark(dan!, 'MARK_RECEIVED', dm, '1')
    t.match(counts, { unread: 1000, unread_capped: true, mentions: 0, mentions_capped: false }, '1001 unread: reported as 1000, capped')
    const read = await mark(dan!, 'MARK_READ', dm, '3')
    t.match(read, { unread: 999, unread_capped: false }, 'below the cap the count is exact again')
  })

  await t.test('bad input is a coded error and changes nothing', async (t) => {
    const dm = await chat(ann!, [cat!])
    const m = await post(ann!, dm, 'x')
    await mark(cat!, 'MARK_READ', dm, m.seq)
    const privateServer = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: dan!.token, body: { name: 'Closed', is_public: false } })).body
    const openServer = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: dan!.token, body: { name: 'Open' } })).body
    const cases: [string, 'MARK_READ' | 'MARK_RECEIVED', object, string][] = [
      ['missing seq', 'MARK_READ', { channel_id: dm }, 'INVALID_FIELD'],
      ['a negative seq', 'MARK_READ', { channel_id: dm, seq: '-1' }, 'INVALID_FIELD'],
      ['a negative number', 'MARK_RECEIVED', { channel_id: dm, seq: -1 }, 'INVALID_FIELD'],
      ['a fraction', 'MARK_READ', { channel_id: dm, seq: 1.5 }, 'INVALID_FIELD'],
      ['a malformed seq', 'MARK_READ', { channel_id: dm, seq: '1e3' }, 'INVALID_FIELD'],
      ['a seq of the wrong type', 'MARK_RECEIVED', { channel_id: dm, seq: ['1'] }, 'INVALID_FIELD'],
      ['a seq past the channel', 'MARK_READ', { channel_id: dm, seq: '999999' }, 'INVALID_CURSOR'],
      ['a seq past the channel (received)', 'MARK_RECEIVED', { channel_id: dm, seq: '999999' }, 'INVALID_CURSOR'],
      ['missing channel_id', 'MARK_READ', { seq: '1' }, 'INVALID_FIELD'],
      ['a malformed channel_id', 'MARK_READ', { channel_id: '../x', seq: '1' }, 'INVALID_FIELD'],
      ['an unknown channel', 'MARK_READ', { channel_id: 'NO_SUCH_CHANNEL_000000', seq: '1' }, 'CHANNEL_NOT_FOUND'],
      ['a chat of others', 'MARK_READ', { channel_id: (await chat(ann!, [dan!])), seq: '1' }, 'CHANNEL_NOT_FOUND'],
      ['a channel of a public server not joined', 'MARK_READ', { channel_id: openServer.channel_id, seq: '1' }, 'NOT_A_MEMBER'],
      ['a channel of a private server', 'MARK_RECEIVED', { channel_id: privateServer.channel_id, seq: '1' }, 'CHANNEL_NOT_FOUND'],
    ]
    for (const [what, action, data, code] of cases) {
      const r = await act(cat!, action, data)
      t.same([r.action, (r.data as { code?: string }).code], ['ERROR', code], what)
    }
    const row = await db.prisma.readMarker.findUnique({ where: { userId_channelId: { userId: cat!.user_id, channelId: dm } } })
    t.same([row?.readSeq.toString(), row?.receivedSeq.toString()], [m.seq, m.seq], 'the marker is as it was')
    t.equal(await db.prisma.readMarker.count({ where: { userId: cat!.user_id, channelId: { in: [openServer.channel_id, privateServer.channel_id] } } }), 0, 'no marker where cat may not read')
    const seed = await chime.http<Reply>('POST', '/api/requests', { token: cat!.token, body: { action: 'MARK_READ', data: { 'channel-id': dm, seq: m.seq } } })
    t.equal(seed.body.action, 'MARK_READ_RESPONSE', "the seed's channel-id spelling works too")
  })
}

await eachProfile(t, 'receipts', run)
