// Everything a message can do, on both profiles: kinds (text with mentions, reply, forward,
// contact card, poll, files, lifetime), edit and delete with seed 004's reply semantics,
// reactions, pins and polls. Every change is one delta in the channel's log with the
// message's id as target_id, delivered live and returned by SYNC; every refusal is a coded
// error that appends nothing.
import t, { type Test } from 'tap'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { channelTopic } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope, MessageJson } from '../../clients/sdk/src/protocol.ts'
import { collect, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { uploadFile } from '../helpers/files.ts'
import { waitFor } from '../helpers/wait.ts'

type Reply = Envelope<string, Record<string, unknown> & { code?: string; message?: string }>

async function run(t: Test, chime: TestChime): Promise<void> {
  const act = async (user: TestUser, action: string, data: object): Promise<Reply> =>
    (await chime.http<Reply>('POST', '/api/requests', { token: user.token, body: { action, data } })).body
  const ok = async (t: Test, user: TestUser, action: string, data: object): Promise<Record<string, unknown>> => {
    const r = await act(user, action, data)
    t.equal(r.action, `${action}_RESPONSE`, `${action} succeeds${r.action === 'ERROR' ? `: ${r.data.code} ${r.data.message}` : ''}`)
    return r.data
  }
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  const lastSeq = async (channelId: string): Promise<bigint> => (await db.prisma.channel.findUniqueOrThrow({ where: { id: channelId } })).lastSeq
  /** The call fails with `code` and appends nothing to the channel. */
  const refused = async (t: Test, user: TestUser, action: string, data: object, code: string, what: string, channelId: string): Promise<void> => {
    const before = await lastSeq(channelId)
    const r = await act(user, action, data)
    t.equal(r.action, 'ERROR', `${what}: refused`)
    t.equal(r.data.code, code, `${what}: ${code}`)
    t.equal(await lastSeq(channelId), before, `${what}: nothing appended`)
  }
  const post = async (t: Test, user: TestUser, data: object): Promise<string> => (await ok(t, user, 'POST_MESSAGE', data))['delta_id'] as string
  const get = async (t: Test, user: TestUser, id: string): Promise<{ message: MessageJson; versions: { content: string | null }[] }> =>
    (await ok(t, user, 'GET_MESSAGE', { message_id: id })) as unknown as { message: MessageJson; versions: { content: string | null }[] }
  const log = async (user: TestUser, channelId: string): Promise<DeltaJson[]> =>
    ((await act(user, 'SYNC', { channel_id: channelId, client_seq: '0' })).data['missing_deltas'] as DeltaJson[])

  const [owner, mod, ann, bob, outsider] = await Promise.all([1, 2, 3, 4, 5].map(() => chime.register()))
  const created = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: owner!.token, body: { name: 'Msgs' } })
  const serverId = created.body.server_id
  const general = created.body.channel_id
  for (const u of [mod!, ann!, bob!]) await chime.http('POST', `/api/servers/${serverId}/join`, { token: u.token })
  await chime.http('PUT', `/api/servers/${serverId}/members/${mod!.user_id}/role`, { token: owner!.token, body: { role: 'moderator' } })
  const other = (await chime.http<{ channel_id: string }>('POST', `/api/servers/${serverId}/channels`, { token: owner!.token, body: { name: 'other' } })).body.channel_id

  await t.test('kinds: mentions, reply with a quote, forward, contact card, files, lifetime', async (t) => {
    const first = await post(t, ann!, { channel_id: general, content: `hello <@${bob!.user_id}>, and <@not a mention>` })
    const m1 = (await get(t, bob!, first)).message
    t.same(m1.meta?.mentions, [bob!.user_id], 'a user mention is recorded')
    t.equal(m1.kind, 'text')
    await refused(t, ann!, 'POST_MESSAGE', { channel_id: general, content: 'hey <@everyone>' }, 'FORBIDDEN', 'a member mentions everyone', general)
    await refused(t, ann!, 'POST_MESSAGE', { channel_id: general, content: 'hey <@&moderator>' }, 'FORBIDDEN', 'a member mentions a role', general)
    const loud = await post(t, mod!, { channel_id: general, content: 'hey <@everyone> and <@&member>' })
    t.same((await get(t, ann!, loud)).message.meta?.mentions, ['everyone', 'role:member'], 'a moderator may')

    const reply = await post(t, bob!, { channel_id: general, content: 'hi ann', reply_to: first })
    const r = (await get(t, ann!, reply)).message
    t.equal(r.reply_to?.message_id, first)
    t.equal(r.reply_to?.content, m1.content, 'the quote holds the original')
    t.equal(r.reply_to?.original, 'available')
    const elsewhere = await post(t, bob!, { channel_id: other, content: 'in other' })
    await refused(t, bob!, 'POST_MESSAGE', { channel_id: general, content: 'x', reply_to: elsewhere }, 'INVALID_FIELD', 'a reply across channels', general)
    await refused(t, bob!, 'POST_MESSAGE', { channel_id: general, content: 'x', reply_to: '999999999' }, 'MESSAGE_NOT_FOUND', 'a reply to nothing', general)

    // A file is uploaded first; the post names it, and the server fills in what it recorded.
    const notes = await uploadFile(chime, ann!, other, Buffer.from('shopping list: milk, eggs\n'), 'notes.txt', 'image/png')
    const file = await post(t, ann!, { channel_id: other, content: '', attachments: [{ file_id: notes.file_id, name: 'lies.exe', mime_type: 'application/x-msdownload', size: 1 }] })
    const f = (await get(t, ann!, file)).message
    t.equal(f.kind, 'file')
    t.same(f.attachments, [{ file_id: notes.file_id, name: 'notes.txt', mime_type: 'text/plain', size: 26 }], 'the attachment is what was uploaded, its type sniffed from the bytes')
    const fwd = await post(t, bob!, { channel_id: general, forward_of: file })
    const fw = (await get(t, bob!, fwd)).message
    t.equal(fw.kind, 'forward')
    t.same(fw.attachments, f.attachments, 'a forward carries the attachments')
    t.equal(fw.meta?.forwarded_from?.message_id, file)
    t.equal(fw.meta?.forwarded_from?.channel_id, other)
    await refused(t, bob!, 'POST_MESSAGE', { channel_id: general, forward_of: file, content: 'and more' }, 'INVALID_FIELD', 'a forward with content', general)

    const card = await post(t, ann!, { channel_id: general, card_user_id: bob!.user_id })
    const c = (await get(t, owner!, card)).message
    t.equal(c.kind, 'card')
    t.equal(c.meta?.card?.user_id, bob!.user_id)
    t.equal(c.meta?.card?.username, bob!.username)
    await refused(t, ann!, 'POST_MESSAGE', { channel_id: general, card_user_id: 'NOBODY_00000000000000' }, 'USER_NOT_FOUND', 'a card of nobody', general)
    await refused(t, ann!, 'POST_MESSAGE', { channel_id: general, card_user_id: bob!.user_id, poll: { question: 'q', options: ['a', 'b'] } }, 'INVALID_FIELD', 'two kinds at once', general)

    const brief = await post(t, ann!, { channel_id: general, content: 'gone soon', expires_in: 3600 })
    const b = (await get(t, ann!, brief)).message
    t.ok(b.expires_at !== undefined && Math.abs(new Date(b.expires_at).getTime() - Date.now() - 3600_000) < 60_000, 'expires_at is an hour ahead')
    const quoting = await post(t, bob!, { channel_id: general, content: 'quoting it', reply_to: brief })
    t.equal((await get(t, bob!, quoting)).message.reply_to?.content, null, 'a message that will expire is quoted without its content')
    const forwarded = await post(t, bob!, { channel_id: other, forward_of: brief })
    t.equal((await get(t, bob!, forwarded)).message.expires_at, b.expires_at, 'a forward expires no later than its original')

    const bad: [object, string][] = [
      [{ channel_id: general, content: 'x', attachments: [] }, 'no attachments'],
      [{ channel_id: general, content: 'x', attachments: [{ name: 'a.txt' }] }, 'an attachment without a file id'],
      [{ channel_id: general, content: 'x', attachments: [{ file_id: '../etc/passwd' }] }, 'a path as a file id'],
      [{ channel_id: general, content: 'x', attachments: [{ file_id: notes.file_id }, { file_id: notes.file_id }] }, 'the same file twice'],
      [{ channel_id: general, content: 'x', attachments: Array.from({ length: 11 }, (_, i) => ({ file_id: `F${i}` })) }, 'eleven files'],
      [{ channel_id: general, content: 'x', expires_in: 0 }, 'a lifetime of zero'],
      [{ channel_id: general, content: 'x', expires_in: 'soon' }, 'a lifetime that is not a number'],
      [{ channel_id: general, content: 'x', reply_to: 42 }, 'a numeric message id'],
      [{ channel_id: general, content: '   ' }, 'blank content'],
    ]
    for (const [data, what] of bad) await refused(t, ann!, 'POST_MESSAGE', data, 'INVALID_FIELD', what, general)
    await refused(t, ann!, 'POST_MESSAGE', { channel_id: general, content: 'x', attachments: [{ file_id: 'NOSUCHFILE0000000000000001' }] }, 'FILE_NOT_FOUND', 'a file that was never uploaded', general)
    await refused(t, bob!, 'POST_MESSAGE', { channel_id: general, content: 'x', attachments: [{ file_id: notes.file_id }] }, 'FILE_NOT_FOUND', "another user's file", general)
  })

  await t.test('edit: only the author; history kept; a reply keeps the quote and links to the current version', async (t) => {
    const original = await post(t, ann!, { channel_id: general, content: 'version one' })
    const reply = await post(t, bob!, { channel_id: general, content: 'I agree', reply_to: original })
    await refused(t, bob!, 'EDIT_MESSAGE', { message_id: original, content: 'hacked' }, 'NOT_MESSAGE_AUTHOR', "editing another's message", general)
    await refused(t, mod!, 'EDIT_MESSAGE', { message_id: original, content: 'moderated' }, 'NOT_MESSAGE_AUTHOR', 'a moderator edits', general)
    const edit = await ok(t, ann!, 'EDIT_MESSAGE', { message_id: original, content: `version two <@${bob!.user_id}>` })
    t.equal(edit['changed'], true)
    const delta = edit['delta'] as DeltaJson
    t.equal(delta.type, 'edit')
    t.equal(delta.target_id, original)
    t.same(delta.meta?.mentions, [bob!.user_id], 'the edit records its mentions')
    t.equal((await ok(t, ann!, 'EDIT_MESSAGE', { message_id: original, content: `version two <@${bob!.user_id}>` }))['changed'], false, 'the same text again changes nothing')
    const { message, versions } = await get(t, bob!, original)
    t.equal(message.content, `version two <@${bob!.user_id}>`)
    t.ok(message.edited_at, 'marked edited')
    t.same(versions.map((v) => v.content), ['version one', `version two <@${bob!.user_id}>`], 'the edit history')
    const r = (await get(t, ann!, reply)).message
    t.equal(r.reply_to?.content, 'version one', 'the reply keeps the original as it was')
    t.equal(r.reply_to?.original, 'available', 'and links to the current version')
    const entries = await log(ann!, general)
    t.ok(entries.some((d) => d.type === 'message' && d.delta_id === original && d.content === 'version one'), 'the original delta is unchanged in the log')
    t.ok(entries.some((d) => d.type === 'edit' && d.target_id === original), 'the edit is a delta of its own')
    await refused(t, ann!, 'EDIT_MESSAGE', { message_id: original, content: '' }, 'INVALID_FIELD', 'an edit to nothing', general)
    await refused(t, ann!, 'EDIT_MESSAGE', { message_id: original, content: 7 }, 'INVALID_FIELD', 'content that is not text', general)
    const poll = await post(t, ann!, { channel_id: general, poll: { question: 'lunch?', options: ['yes', 'no'] } })
    await refused(t, ann!, 'EDIT_MESSAGE', { message_id: poll, content: 'dinner?' }, 'MESSAGE_NOT_EDITABLE', 'editing a poll', general)
  })

  await t.test('delete: author or moderator; a deleted original shows as deleted and links nowhere', async (t) => {
    const original = await post(t, ann!, { channel_id: general, content: 'regrettable' })
    const reply = await post(t, bob!, { channel_id: general, content: 'wow', reply_to: original })
    await ok(t, bob!, 'ADD_REACTION', { message_id: original, emoji: '😮' })
    await refused(t, bob!, 'DELETE_MESSAGE', { message_id: original }, 'NOT_MESSAGE_AUTHOR', "a member deletes another's message", general)
    const del = await ok(t, ann!, 'DELETE_MESSAGE', { message_id: original })
    t.equal((del['delta'] as DeltaJson).type, 'delete')
    t.same((del['delta'] as DeltaJson).meta, { by: 'author' })
    t.equal((await act(bob!, 'GET_MESSAGE', { message_id: original })).data.code, 'MESSAGE_DELETED', 'the original links nowhere')
    const r = (await get(t, bob!, reply)).message
    t.equal(r.reply_to?.original, 'deleted', 'the quote says the original is deleted')
    t.equal(r.reply_to?.content, null, 'and no longer shows its content')
    await refused(t, ann!, 'DELETE_MESSAGE', { message_id: original }, 'MESSAGE_DELETED', 'deleting twice', general)
    await refused(t, ann!, 'ADD_REACTION', { message_id: original, emoji: '👍' }, 'MESSAGE_DELETED', 'reacting to a deleted message', general)
    t.equal(await db.prisma.messageReaction.count({ where: { messageId: BigInt(original) } }), 0, 'its reactions are gone')
    const row = await db.prisma.message.findUniqueOrThrow({ where: { id: BigInt(original) } })
    t.same([row.isDeleted, row.content], [true, null], 'the current state has no content')

    const rude = await post(t, bob!, { channel_id: general, content: 'rude' })
    const modDel = await ok(t, mod!, 'DELETE_MESSAGE', { message_id: rude })
    t.same((modDel['delta'] as DeltaJson).meta, { by: 'moderator' }, 'a moderator deletes, and the delta says so')
  })

  await t.test('reactions: add, remove, once per user and emoji, limited kinds', async (t) => {
    const m = await post(t, ann!, { channel_id: general, content: 'react to me' })
    const added = await ok(t, bob!, 'ADD_REACTION', { message_id: m, emoji: '👍' })
    t.same([(added['delta'] as DeltaJson).type, (added['delta'] as DeltaJson).meta], ['reaction_added', { emoji: '👍' }])
    t.equal((await ok(t, bob!, 'ADD_REACTION', { message_id: m, emoji: '👍' }))['changed'], false, 'twice is once')
    await ok(t, ann!, 'ADD_REACTION', { message_id: m, emoji: '👍' })
    await ok(t, ann!, 'ADD_REACTION', { message_id: m, emoji: '👨‍👩‍👧' })
    t.same((await get(t, bob!, m)).message.reactions, [{ emoji: '👍', count: 2, me: true }, { emoji: '👨‍👩‍👧', count: 1, me: false }])
    const removed = await ok(t, bob!, 'REMOVE_REACTION', { message_id: m, emoji: '👍' })
    t.equal((removed['delta'] as DeltaJson).type, 'reaction_removed')
    t.equal((await ok(t, bob!, 'REMOVE_REACTION', { message_id: m, emoji: '👍' }))['changed'], false, 'removing what is not there changes nothing')
    for (let i = 0; i < 18; i++) await ok(t, ann!, 'ADD_REACTION', { message_id: m, emoji: `:e${i}:` })
    await refused(t, bob!, 'ADD_REACTION', { message_id: m, emoji: ':one_too_many:' }, 'REACTION_LIMIT', 'a 21st kind', general)
    t.equal((await ok(t, bob!, 'ADD_REACTION', { message_id: m, emoji: ':e3:' }))['changed'], true, 'an emoji already there is fine')
    for (const [emoji, what] of [['', 'empty'], ['two words', 'a space'], ['x'.repeat(65), 'too long'], [5, 'a number']] as const) {
      await refused(t, bob!, 'ADD_REACTION', { message_id: m, emoji }, 'INVALID_FIELD', `an emoji ${what}`, general)
    }
  })

  await t.test('pins: moderators in servers, any member in a 1:1 chat', async (t) => {
    const m = await post(t, ann!, { channel_id: general, content: 'pin me' })
    await refused(t, ann!, 'PIN_MESSAGE', { message_id: m }, 'FORBIDDEN', 'a member pins in a server', general)
    t.equal(((await ok(t, mod!, 'PIN_MESSAGE', { message_id: m }))['delta'] as DeltaJson).type, 'pinned')
    t.equal((await ok(t, owner!, 'PIN_MESSAGE', { message_id: m }))['changed'], false)
    const pins = (await ok(t, bob!, 'LIST_PINS', { channel_id: general }))['messages'] as MessageJson[]
    t.same(pins.map((p) => p.message_id), [m])
    t.equal(pins[0]!.pinned?.by, mod!.user_id)
    t.equal(((await ok(t, mod!, 'UNPIN_MESSAGE', { message_id: m }))['delta'] as DeltaJson).type, 'unpinned')
    t.same((await ok(t, bob!, 'LIST_PINS', { channel_id: general }))['messages'], [])
    t.equal((await act(outsider!, 'LIST_PINS', { channel_id: general })).data.code, 'NOT_A_MEMBER')
    const dm = (await ok(t, ann!, 'POST_MESSAGE', { user_id: bob!.user_id, content: 'psst' }))
    t.equal(((await ok(t, bob!, 'PIN_MESSAGE', { message_id: dm['delta_id'] as string }))['delta'] as DeltaJson).type, 'pinned', 'either member pins in a 1:1 chat')
  })

  await t.test('polls: votes and retractions as deltas, results folded from the log, closing', async (t) => {
    const single = await post(t, ann!, { channel_id: general, poll: { question: 'Tea or coffee?', options: ['tea', 'coffee', 'water'] } })
    const v1 = await ok(t, bob!, 'VOTE_POLL', { message_id: single, options: [1] })
    t.same([(v1['delta'] as DeltaJson).type, (v1['delta'] as DeltaJson).meta], ['poll_vote', { options: [1] }])
    await ok(t, owner!, 'VOTE_POLL', { message_id: single, options: [1] })
    await ok(t, mod!, 'VOTE_POLL', { message_id: single, options: [0] })
    await ok(t, bob!, 'VOTE_POLL', { message_id: single, options: [2] })
    t.equal((await ok(t, bob!, 'VOTE_POLL', { message_id: single, options: [2] }))['changed'], false, 'the same vote again changes nothing')
    t.equal(((await ok(t, owner!, 'RETRACT_VOTE', { message_id: single }))['delta'] as DeltaJson).type, 'poll_retracted')
    const results = (await get(t, bob!, single)).message.poll
    t.same(results, { counts: [1, 0, 1], voters: 2, closed: false, my_votes: [2] }, 'results from the log')
    const table = await db.prisma.pollVote.findMany({ where: { messageId: BigInt(single) }, orderBy: { userId: 'asc' } })
    t.same(table.map((v) => v.option).sort(), [0, 2], 'the votes table agrees with the log')
    await refused(t, ann!, 'VOTE_POLL', { message_id: single, options: [0, 1] }, 'INVALID_FIELD', 'two options on a single-choice poll', general)
    await refused(t, ann!, 'VOTE_POLL', { message_id: single, options: [3] }, 'INVALID_FIELD', 'an option that does not exist', general)
    await refused(t, ann!, 'VOTE_POLL', { message_id: single, options: [] }, 'INVALID_FIELD', 'no option', general)
    await refused(t, ann!, 'VOTE_POLL', { message_id: single, options: ['tea'] }, 'INVALID_FIELD', 'an option by name', general)
    await refused(t, bob!, 'CLOSE_POLL', { message_id: single }, 'NOT_MESSAGE_AUTHOR', "closing another's poll", general)
    t.equal(((await ok(t, ann!, 'CLOSE_POLL', { message_id: single }))['delta'] as DeltaJson).type, 'poll_closed')
    await refused(t, ann!, 'VOTE_POLL', { message_id: single, options: [0] }, 'POLL_CLOSED', 'a vote after closing', general)
    t.equal((await get(t, bob!, single)).message.poll?.closed, true)

    const multi = await post(t, ann!, { channel_id: general, poll: { question: 'Which days?', options: ['mon', 'tue', 'wed'], multiple: true } })
    await ok(t, bob!, 'VOTE_POLL', { message_id: multi, options: [0, 2] })
    t.same((await get(t, bob!, multi)).message.poll?.my_votes, [0, 2])
    await refused(t, bob!, 'VOTE_POLL', { message_id: multi, options: [1, 1] }, 'INVALID_FIELD', 'an option twice', general)
    const text = await post(t, ann!, { channel_id: general, content: 'not a poll' })
    await refused(t, bob!, 'VOTE_POLL', { message_id: text, options: [0] }, 'NOT_A_POLL', 'voting on a text', general)
    const badPolls: [object, string][] = [
      [{ question: 'q', options: ['only one'] }, 'one option'],
      [{ question: 'q', options: ['a', 'a'] }, 'the same option twice'],
      [{ question: '', options: ['a', 'b'] }, 'no question'],
      [{ question: 'q', options: ['a', 'b'], closes_at: '2000-01-01T00:00:00Z' }, 'closing in the past'],
      [{ question: 'q', options: ['a', 'b'], multiple: 'yes' }, 'multiple that is not a boolean'],
    ]
    for (const [poll, what] of badPolls) await refused(t, ann!, 'POST_MESSAGE', { channel_id: general, poll }, 'INVALID_FIELD', `a poll with ${what}`, general)
  })

  await t.test('in a group chat the admin moderates: deletes and pins; members do not', async (t) => {
    const group = (await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: ann!.token, body: { user_ids: [bob!.user_id, mod!.user_id], name: 'trio' } })).body.chat_id
    const m = await post(t, bob!, { channel_id: group, content: 'hello trio <@everyone>' })
    t.same((await get(t, mod!, m)).message.meta?.mentions, ['everyone'], 'any member mentions the whole chat')
    await refused(t, mod!, 'PIN_MESSAGE', { message_id: m }, 'FORBIDDEN', 'a member pins in a group (a server role does not count)', group)
    await refused(t, mod!, 'DELETE_MESSAGE', { message_id: m }, 'NOT_MESSAGE_AUTHOR', "a member deletes another's message in a group", group)
    t.equal(((await ok(t, ann!, 'PIN_MESSAGE', { message_id: m }))['delta'] as DeltaJson).type, 'pinned', 'the admin pins')
    await ok(t, mod!, 'ADD_REACTION', { message_id: m, emoji: '👋' })
    const del = await ok(t, ann!, 'DELETE_MESSAGE', { message_id: m })
    t.same((del['delta'] as DeltaJson).meta, { by: 'moderator' }, 'the admin deletes as moderator')
    t.same((await ok(t, bob!, 'LIST_PINS', { channel_id: group }))['messages'], [], 'a deleted message is no longer pinned')
    t.same((await log(bob!, group)).filter((d) => d.target_id === m).map((d) => d.type), ['pinned', 'reaction_added', 'delete'], 'the chat log records each change')
  })

  await t.test('changes travel live as deltas with their target, in order', async (t) => {
    const client = await chime.connect(bob!)
    const topic = channelTopic({ id: general, serverId })
    const seen = collect(client, topic)
    await client.subscribeAsync(topic, { qos: 1 })
    const m = await post(t, ann!, { channel_id: general, content: 'live' })
    await ok(t, ann!, 'EDIT_MESSAGE', { message_id: m, content: 'live, edited' })
    await ok(t, bob!, 'ADD_REACTION', { message_id: m, emoji: '🔥' })
    await ok(t, ann!, 'DELETE_MESSAGE', { message_id: m })
    const deltas = await waitFor('four deltas', () => {
      const got = seen.map((e) => e.data as DeltaJson).filter((d) => d.delta_id === m || d.target_id === m)
      return got.length >= 4 ? got : undefined
    })
    t.same(deltas.map((d) => d.type), ['message', 'edit', 'reaction_added', 'delete'])
    const seqs = deltas.map((d) => BigInt(d.seq))
    t.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'in seq order')
    client.end(true)
  })

  await t.test('bad references: malformed, unknown, unreadable', async (t) => {
    const m = await post(t, ann!, { channel_id: general, content: 'private-ish' })
    for (const [id, what] of [[undefined, 'missing'], ['abc', 'not digits'], ['-1', 'negative'], ['0', 'zero'], [12, 'a number']] as const) {
      await refused(t, ann!, 'EDIT_MESSAGE', { message_id: id, content: 'x' }, 'INVALID_FIELD', `a message id ${what}`, general)
    }
    await refused(t, ann!, 'DELETE_MESSAGE', { message_id: '987654321987' }, 'MESSAGE_NOT_FOUND', 'an unknown message', general)
    await refused(t, outsider!, 'ADD_REACTION', { message_id: m, emoji: '👀' }, 'MESSAGE_NOT_FOUND', 'an outsider reacts', general)
    t.equal((await act(outsider!, 'GET_MESSAGE', { message_id: m })).data.code, 'MESSAGE_NOT_FOUND', 'an outsider reads')
    await refused(t, outsider!, 'POST_MESSAGE', { channel_id: other, forward_of: m }, 'NOT_A_MEMBER', 'an outsider forwards into the server', general)
    const dm = (await ok(t, ann!, 'POST_MESSAGE', { user_id: outsider!.user_id, content: 'hi' }))['channel_id'] as string
    await refused(t, outsider!, 'POST_MESSAGE', { channel_id: dm, forward_of: m }, 'MESSAGE_NOT_FOUND', 'forwarding what one cannot read', dm)
  })
}

await eachProfile(t, 'messages', run)
