// FETCH_DELTA (seed 004's "snapshot plus missed transactions") on both profiles: a scripted
// history in a group chat (posts, many edits, deletes, reactions, poll votes, a reply, a pin,
// membership and rename deltas, a message that expires) is fetched from several client_seq
// values, whole and in small pages. A client that held the state at client_seq and applies
// the answer ends with exactly the state a reference fold of every delta of SYNC gives, each
// message matches GET_MESSAGE, non-message deltas come through as SYNC returns them, messages
// deleted in the window never show up as new, and the answer is smaller than the deltas it
// replaces. Concurrent changes during a paged catch-up, followed by SYNC from next_client_seq
// with counts applied incrementally, end at the server's state (the page is one snapshot).
import t, { type Test } from 'tap'
import type { DeltaJson, Envelope, FetchDeltaResponseData, MessageJson } from '../../clients/sdk/src/protocol.ts'
import { request, type TestChime, type TestUser } from '../helpers/chime.ts'
import { expectError } from '../helpers/expect.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'

type Reply<D = Record<string, unknown>> = Envelope<string, D & { code?: string; message?: string }>

/** A message as a reference fold of the log leaves it. */
interface Folded {
  id: string
  seq: string
  content: string | null
  edited: boolean
  deleted: boolean
  pinned: boolean
  reactions: Map<string, Set<string>>
  pollOptions: number | null
  votes: Map<string, number[]>
  closed: boolean
}

/** What a client shows of a message: comparable between the fold and a rendered message. */
interface View {
  seq: string
  content: string | null
  edited: boolean
  pinned: boolean
  reactions: [string, number, boolean][]
  poll: { counts: number[]; voters: number; closed: boolean; my_votes: number[] } | null
}

const COMPACTED = new Set(['message', 'edit', 'delete', 'reaction_added', 'reaction_removed', 'pinned', 'unpinned', 'poll_vote', 'poll_retracted', 'poll_closed', 'expired'])

/** The reference: every delta applied in seq order. */
function fold(deltas: readonly DeltaJson[]): Map<string, Folded> {
  const out = new Map<string, Folded>()
  for (const d of deltas) {
    if (d.type === 'message') {
      out.set(d.delta_id, {
        id: d.delta_id, seq: d.seq, content: d.content, edited: false, deleted: false, pinned: false,
        reactions: new Map(), pollOptions: d.meta?.poll?.options.length ?? null, votes: new Map(), closed: false,
      })
      continue
    }
    const m = d.target_id === undefined ? undefined : out.get(d.target_id)
    if (m === undefined) continue
    switch (d.type) {
      case 'edit': m.content = d.content; m.edited = true; break
      case 'delete': case 'expired': m.deleted = true; break
      case 'pinned': m.pinned = true; break
      case 'unpinned': m.pinned = false; break
      case 'reaction_added': {
        const users = m.reactions.get(d.meta!.emoji!) ?? new Set<string>()
        users.add(d.user_id)
        m.reactions.set(d.meta!.emoji!, users)
        break
      }
      case 'reaction_removed': {
        const users = m.reactions.get(d.meta!.emoji!)
        users?.delete(d.user_id)
        if (users?.size === 0) m.reactions.delete(d.meta!.emoji!)
        break
      }
      case 'poll_vote': m.votes.set(d.user_id, d.meta!.options!); break
      case 'poll_retracted': m.votes.delete(d.user_id); break
      case 'poll_closed': m.closed = true; break
      default: break
    }
  }
  return out
}

const byEmoji = (a: [string, number, boolean], b: [string, number, boolean]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

function foldedView(m: Folded, viewer: string): View {
  let poll: View['poll'] = null
  if (m.pollOptions !== null) {
    const counts = new Array<number>(m.pollOptions).fill(0)
    for (const chosen of m.votes.values()) for (const o of chosen) counts[o]! += 1
    poll = { counts, voters: m.votes.size, closed: m.closed, my_votes: m.votes.get(viewer) ?? [] }
  }
  return {
    seq: m.seq, content: m.content, edited: m.edited, pinned: m.pinned,
    reactions: [...m.reactions.entries()].map(([e, users]): [string, number, boolean] => [e, users.size, users.has(viewer)]).sort(byEmoji),
    poll,
  }
}

function jsonView(m: MessageJson): View {
  return {
    seq: m.seq, content: m.content, edited: m.edited_at !== undefined, pinned: m.pinned !== undefined,
    reactions: m.reactions.map((r): [string, number, boolean] => [r.emoji, r.count, r.me]).sort(byEmoji),
    poll: m.poll === undefined ? null : { ...m.poll },
  }
}

/** The live messages of a fold, as the viewer sees them. */
function foldedState(deltas: readonly DeltaJson[], viewer: string): Map<string, View> {
  return new Map([...fold(deltas).values()].filter((m) => !m.deleted).map((m) => [m.id, foldedView(m, viewer)]))
}

/** A message with its reactions in a fixed order (ties in reaction time may order them either way). */
const sorted = (m: MessageJson): MessageJson => ({ ...m, reactions: [...m.reactions].sort((a, b) => (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0)) })

async function run(t: Test, chime: TestChime): Promise<void> {
  const act = async <D = Record<string, unknown>>(user: TestUser, action: string, data: object): Promise<Reply<D>> =>
    (await chime.http<Reply<D>>('POST', '/api/requests', { token: user.token, body: { action, data } })).body
  const ok = async <D = Record<string, unknown>>(user: TestUser, action: string, data: object): Promise<D> => {
    const r = await act<D>(user, action, data)
    if (r.action !== `${action}_RESPONSE`) throw new Error(`${action} failed: ${JSON.stringify(r.data)}`)
    return r.data
  }
  const post = async (user: TestUser, data: object): Promise<string> => (await ok<{ delta_id: string }>(user, 'POST_MESSAGE', data)).delta_id
  const fetchDelta = async (user: TestUser, data: object): Promise<FetchDeltaResponseData> => {
    const res = await chime.http<Reply<FetchDeltaResponseData>>('POST', '/api/sync/delta', { token: user.token, body: { action: 'FETCH_DELTA', data } })
    if (res.status !== 200 || res.body.action !== 'FETCH_DELTA_RESPONSE') throw new Error(`FETCH_DELTA failed: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.data
  }
  /** Every delta of the channel after `after`, through SYNC pages. */
  const syncAll = async (user: TestUser, channelId: string, after = '0'): Promise<DeltaJson[]> => {
    const out: DeltaJson[] = []
    let cursor = after
    for (;;) {
      const page = await ok<{ missing_deltas: DeltaJson[]; has_more: boolean; next_client_seq: string }>(user, 'SYNC', { channel_id: channelId, client_seq: cursor })
      out.push(...page.missing_deltas)
      if (!page.has_more) return out
      cursor = page.next_client_seq
    }
  }
  const lastSeqOf = async (user: TestUser, channelId: string): Promise<string> => {
    const log = await syncAll(user, channelId)
    return log.at(-1)?.seq ?? '0'
  }

  const [ann, bob, cat, dan, eve] = await Promise.all([1, 2, 3, 4, 5].map(() => chime.register()))
  const chat = (await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: ann!.token, body: { user_ids: [bob!.user_id, cat!.user_id], name: 'catch-up' } })).body.chat_id
  t.ok(chat, 'a group chat')

  // ---- the scripted history
  const m1 = await post(ann!, { channel_id: chat, content: 'first version' })
  const m2 = await post(bob!, { channel_id: chat, content: 'bob says hi' })
  const poll = await post(ann!, { channel_id: chat, poll: { question: 'tea or coffee?', options: ['tea', 'coffee', 'water'] } })
  const secret = await post(ann!, { channel_id: chat, content: 'gone in a second', expires_in: 1 })
  const k1 = await lastSeqOf(ann!, chat)

  for (let i = 1; i <= 12; i++) await ok(ann!, 'EDIT_MESSAGE', { message_id: m1, content: `version ${i}` })
  for (const [user, add] of [[bob!, true], [ann!, true], [bob!, false], [cat!, true], [bob!, true], [cat!, false]] as const) {
    await ok(user, add ? 'ADD_REACTION' : 'REMOVE_REACTION', { message_id: m1, emoji: '👍' })
  }
  await ok(cat!, 'ADD_REACTION', { message_id: m2, emoji: ':tada:' })
  await ok(bob!, 'VOTE_POLL', { message_id: poll, options: [0] })
  await ok(cat!, 'VOTE_POLL', { message_id: poll, options: [1] })
  await ok(bob!, 'VOTE_POLL', { message_id: poll, options: [2] })
  await ok(ann!, 'VOTE_POLL', { message_id: poll, options: [1] })
  await ok(cat!, 'RETRACT_VOTE', { message_id: poll })
  const k2 = await lastSeqOf(ann!, chat)

  const m3 = await post(bob!, { channel_id: chat, content: 'the original' })
  const m4 = await post(ann!, { channel_id: chat, content: 'a reply', reply_to: m3 })
  await ok(bob!, 'EDIT_MESSAGE', { message_id: m3, content: 'the original, edited' })
  const m5 = await post(bob!, { channel_id: chat, content: 'oops' })
  await ok(bob!, 'ADD_REACTION', { message_id: m5, emoji: '👀' })
  await ok(bob!, 'DELETE_MESSAGE', { message_id: m5 })
  await ok(ann!, 'DELETE_MESSAGE', { message_id: m2 })
  await ok(ann!, 'PIN_MESSAGE', { message_id: m1 })
  await chime.http('POST', `/api/chats/${chat}/members`, { token: ann!.token, body: { user_ids: [dan!.user_id] } })
  await chime.http('PATCH', `/api/chats/${chat}`, { token: ann!.token, body: { name: 'catch-up, renamed' } })
  const m6 = await post(dan!, { channel_id: chat, content: 'dan joins in' })
  for (let i = 1; i <= 3; i++) await ok(dan!, 'EDIT_MESSAGE', { message_id: m6, content: `dan joins in (${i})` })
  await ok(ann!, 'ADD_REACTION', { message_id: m6, emoji: '👋' })
  await waitFor('the secret message expires', async () => ((await syncAll(ann!, chat, k1)).some((d) => d.type === 'expired' && d.target_id === secret) ? true : undefined))
  const log = await syncAll(ann!, chat)
  const last = log.at(-1)!.seq
  t.ok(log.some((d) => d.type === 'chat_member_added') && log.some((d) => d.type === 'chat_updated'), 'the history has membership and rename deltas')

  /** The client's state after catching up from `from` with pages of `limit`, checking each page. */
  const catchUp = async (t: Test, viewer: TestUser, from: string, limit?: number): Promise<{ state: Map<string, View>; pages: FetchDeltaResponseData[] }> => {
    const state = foldedState(log.filter((d) => BigInt(d.seq) <= BigInt(from)), viewer.user_id)
    const pages: FetchDeltaResponseData[] = []
    let cursor = from
    for (let n = 0; n < 1000; n++) {
      const page = await fetchDelta(viewer, { channel_id: chat, client_seq: cursor, ...(limit !== undefined ? { limit } : {}) })
      pages.push(page)
      const end = BigInt(page.next_client_seq)
      const expectedEnd = limit === undefined ? BigInt(last) : BigInt(cursor) + BigInt(limit) < BigInt(last) ? BigInt(cursor) + BigInt(limit) : BigInt(last)
      t.equal(end, expectedEnd, `page from ${cursor}: window ends at ${expectedEnd}`)
      t.equal(page.last_seq, last, 'last_seq is the channel last seq')
      t.equal(page.has_more, end < BigInt(last), 'has_more while the window ends before last_seq')
      t.equal(page.recovered, !page.has_more, 'recovered on the last page')
      const ids = [...page.new_messages, ...page.updates].map((m) => m.message_id)
      t.equal(new Set(ids).size, ids.length, 'each message at most once per page')
      t.ok(page.new_messages.every((m) => BigInt(m.seq) > BigInt(cursor) && BigInt(m.seq) <= end && m.deleted === undefined), 'new messages were created in the window and are there')
      t.ok(page.updates.every((m) => BigInt(m.seq) <= BigInt(cursor)), 'updates are of older messages')
      const window = log.filter((d) => BigInt(d.seq) > BigInt(cursor) && BigInt(d.seq) <= end)
      t.same(page.deltas, window.filter((d) => !COMPACTED.has(d.type)), 'the non-message deltas of the window, as SYNC has them')
      for (const m of page.new_messages) state.set(m.message_id, jsonView(m))
      for (const m of page.updates) {
        if (m.deleted === true) state.delete(m.message_id)
        else state.set(m.message_id, jsonView(m))
      }
      if (!page.has_more) return { state, pages }
      cursor = page.next_client_seq
    }
    throw new Error('no last page')
  }

  await t.test('from several client_seq values the client ends at the folded state', async (t) => {
    for (const viewer of [ann!, bob!]) {
      const expected = foldedState(log, viewer.user_id)
      for (const from of ['0', k1, k2, String(Number(last) - 3), last]) {
        const whole = await catchUp(t, viewer, from)
        t.same(whole.state, expected, `from ${from}, one page: the state of applying every delta`)
        const paged = await catchUp(t, viewer, from, 3)
        t.same(paged.state, expected, `from ${from}, pages of 3: the same state`)
      }
    }
    const fromStart = await fetchDelta(ann!, { channel_id: chat })
    t.same(fromStart, await fetchDelta(ann!, { channel_id: chat, client_seq: '0' }), 'no client_seq means from the start')
    t.same(fromStart.new_messages.map((m) => m.message_id), [m1, poll, m3, m4, m6], 'new messages in seq order, the deleted and expired left out')
    const empty = await fetchDelta(ann!, { channel_id: chat, client_seq: last })
    t.same({ ...empty, new_messages: empty.new_messages.length, updates: empty.updates.length, deltas: empty.deltas.length },
      { channel_id: chat, last_seq: last, new_messages: 0, updates: 0, deltas: 0, has_more: false, next_client_seq: last, recovered: true }, 'nothing missed')
  })

  await t.test('messages match GET_MESSAGE; deleted ones are marked', async (t) => {
    const page = await fetchDelta(bob!, { channel_id: chat, client_seq: k1 })
    const byId = new Map([...page.new_messages, ...page.updates].map((m) => [m.message_id, m]))
    t.same([...byId.keys()].sort(), [m1, m2, poll, secret, m3, m4, m6].sort(), 'changed older messages and new ones')
    for (const m of [...page.new_messages, ...page.updates].filter((x) => x.deleted === undefined)) {
      const got = await ok<{ message: MessageJson }>(bob!, 'GET_MESSAGE', { message_id: m.message_id })
      t.same(sorted(m), sorted(got.message), `message ${m.message_id} as GET_MESSAGE shows it`)
    }
    const one = byId.get(m1)!
    t.equal(one.content, 'version 12', 'the latest edit')
    t.ok(one.pinned !== undefined, 'pinned')
    t.same(one.reactions, [{ emoji: '👍', count: 2, me: true }], 'reactions as they ended')
    t.same(byId.get(poll)!.poll, { counts: [0, 1, 1], voters: 2, closed: false, my_votes: [2] }, 'poll results as they ended')
    t.equal(byId.get(m4)!.reply_to?.content, 'the original', 'the reply keeps its quote')
    t.equal(byId.get(m4)!.reply_to?.original, 'available')
    for (const gone of [m2, secret]) {
      const g = byId.get(gone)!
      t.same(Object.keys(g).sort(), ['channel_id', 'content', 'deleted', 'kind', 'message_id', 'reactions', 'seq', 'timestamp', 'user_id'], `${gone}: the deleted form`)
      t.equal(g.deleted, true)
      t.equal(g.content, null)
      t.ok(page.updates.includes(g), 'an older message deleted since is an update')
      t.equal((await act(bob!, 'GET_MESSAGE', { message_id: gone })).data.code, 'MESSAGE_DELETED', 'GET_MESSAGE agrees')
    }
    t.notOk(byId.has(m5), 'a message created and deleted in the window is not there at all')
    for (const limit of [1, 2, 3, 5, 1000]) {
      let cursor = '0'
      for (;;) {
        const p = await fetchDelta(ann!, { channel_id: chat, client_seq: cursor, limit })
        t.notOk(p.new_messages.some((m) => [m2, m5, secret].includes(m.message_id)), `limit ${limit} from ${cursor}: deleted messages never new`)
        if (!p.has_more) break
        cursor = p.next_client_seq
      }
    }
  })

  await t.test('the answer for a long-absent client is smaller than the deltas it missed', async (t) => {
    const page = await fetchDelta(ann!, { channel_id: chat, client_seq: k1 })
    const missed = log.filter((d) => BigInt(d.seq) > BigInt(k1))
    const items = page.new_messages.length + page.updates.length + page.deltas.length
    t.ok(items < missed.length, `${items} items instead of ${missed.length} deltas`)
    const sync = await ok(ann!, 'SYNC', { channel_id: chat, client_seq: k1 })
    t.ok(JSON.stringify(page).length < JSON.stringify(sync).length, `${JSON.stringify(page).length} bytes instead of ${JSON.stringify(sync).length}`)
  })

  await t.test('over MQTT, and then SYNC or live deltas from next_client_seq', async (t) => {
    const client = await chime.connect(ann!, { clientId: `fd${Date.now().toString(36)}` })
    const reply = await request(client, ann!.user_id, 'FETCH_DELTA', { channel_id: chat, client_seq: k2, limit: 4 })
    t.equal(reply.action, 'FETCH_DELTA_RESPONSE')
    t.same(reply.data, await fetchDelta(ann!, { channel_id: chat, client_seq: k2, limit: 4 }), 'the same answer as over HTTP')
    const bad = await request(client, ann!.user_id, 'FETCH_DELTA', { channel_id: chat, client_seq: 'x' })
    t.equal(bad.action, 'ERROR')
    t.equal((bad.data as { code?: string }).code, 'INVALID_CURSOR')
    const done = await fetchDelta(ann!, { channel_id: chat, client_seq: k2 })
    const after = await post(bob!, { channel_id: chat, content: 'after the catch-up' })
    const next = await ok<{ missing_deltas: DeltaJson[] }>(ann!, 'SYNC', { channel_id: chat, client_seq: done.next_client_seq })
    t.same(next.missing_deltas.map((d) => d.delta_id), [after], 'SYNC from next_client_seq brings exactly what came since')
  })

  await t.test('the server log and server channels', async (t) => {
    const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: eve!.token, body: { name: 'catch-up server' } })).body
    const hello = await post(eve!, { channel_id: server.channel_id, content: 'hello' })
    await ok(eve!, 'EDIT_MESSAGE', { message_id: hello, content: 'hello, edited' })
    const page = await fetchDelta(eve!, { channel_id: server.channel_id })
    t.same(page.new_messages.map((m) => [m.message_id, m.content]), [[hello, 'hello, edited']], 'the edited message, once')
    t.same(page.updates, [])
    const own = await fetchDelta(eve!, { channel_id: server.server_id })
    t.same(own.new_messages, [], "a server's own log has no messages")
    t.ok(own.deltas.length > 0 && own.deltas.every((d) => d.server_id === server.server_id), 'its deltas are handed over as they are')
    t.equal(own.deltas[0]?.type, 'server_created')

    // Access errors as for SYNC, and bad input: a coded error and nothing else changes.
    const before = await lastSeqOf(ann!, chat)
    const call = (user: TestUser, data: unknown) => chime.http('POST', '/api/sync/delta', { token: user.token, body: { action: 'FETCH_DELTA', data } })
    expectError(t, await call(ann!, { channel_id: server.channel_id }), 403, 'NOT_A_MEMBER', 'a public server the caller did not join')
    expectError(t, await call(eve!, { channel_id: chat }), 404, 'CHANNEL_NOT_FOUND', 'a chat the caller is not in')
    expectError(t, await call(ann!, { channel_id: '01ZZZZZZZZZZZZZZZZZZZZZZZZ' }), 404, 'CHANNEL_NOT_FOUND', 'no such channel')
    expectError(t, await call(eve!, { channel_id: chat, client_seq: '999999999' }), 404, 'CHANNEL_NOT_FOUND', 'a future cursor on a chat the caller is not in')
    for (const [seq, what] of [['-1', 'negative'], [-1, 'a negative number'], ['1.5', 'fractional'], ['abc', 'malformed'], ['', 'empty'], [1.5, 'a fractional number'], [{}, 'an object'], [String(Number(before) + 1), 'ahead of the chat']] as const) {
      expectError(t, await call(ann!, { channel_id: chat, client_seq: seq }), 400, 'INVALID_CURSOR', `client_seq ${what}`)
    }
    expectError(t, await call(ann!, {}), 400, 'INVALID_FIELD', 'no channel_id')
    expectError(t, await call(ann!, { channel_id: 'not an id!' }), 400, 'INVALID_FIELD', 'a malformed channel_id')
    for (const limit of [0, -3, 2.5, '10']) expectError(t, await call(ann!, { channel_id: chat, limit }), 400, 'INVALID_FIELD', `limit ${JSON.stringify(limit)}`)
    expectError(t, await chime.http('POST', '/api/sync/delta', { token: ann!.token, body: { action: 'SYNC', data: { channel_id: chat } } }), 400, 'UNKNOWN_ACTION', 'another action on /api/sync/delta')
    expectError(t, await chime.http('POST', '/api/sync/delta', { body: { action: 'FETCH_DELTA', data: { channel_id: chat } } }), 401, 'UNAUTHENTICATED', 'no token')
    t.equal(await lastSeqOf(ann!, chat), before, 'nothing was appended')
    const still = await fetchDelta(ann!, { channel_id: chat, client_seq: before })
    t.equal(still.recovered, true, 'and the next request works')
  })

  await t.test('changes during a paged catch-up: the pages and SYNC after them end at the server state', async (t) => {
    const target = await post(ann!, { channel_id: chat, content: 'busy message' })
    const from = await lastSeqOf(ann!, chat)
    const base = await ok<{ message: MessageJson }>(ann!, 'GET_MESSAGE', { message_id: target })
    let running = true
    const churn = async (user: TestUser, emoji: string): Promise<void> => {
      for (let i = 0; running && i < 400; i++) await ok(user, i % 2 === 0 ? 'ADD_REACTION' : 'REMOVE_REACTION', { message_id: target, emoji })
    }
    const editing = async (): Promise<void> => {
      for (let i = 0; running && i < 400; i++) await ok(ann!, 'EDIT_MESSAGE', { message_id: target, content: `busy ${i}` })
    }
    const workers = Promise.all([churn(bob!, '🔥'), churn(cat!, '🔥'), churn(dan!, '✅'), churn(ann!, '✅'), editing()])
    // The client held the message as it was at `from` and catches up in small pages while it changes.
    const state = new Map<string, MessageJson>([[target, base.message]])
    let cursor = from
    let pages = 0
    const apply = (page: FetchDeltaResponseData): void => {
      for (const m of [...page.new_messages, ...page.updates]) state.set(m.message_id, m)
      cursor = page.next_client_seq
      pages++
    }
    while (pages < 8) apply(await fetchDelta(ann!, { channel_id: chat, client_seq: cursor, limit: 4 }))
    // The last page reaches last_seq while the changes go on: its state must be exactly the
    // one at last_seq, or the deltas after it would be counted twice.
    const lastPage = await fetchDelta(ann!, { channel_id: chat, client_seq: cursor })
    apply(lastPage)
    t.equal(lastPage.recovered, true, 'a page up to last_seq')
    running = false
    await workers
    // Then it applies every later delta the way a client counting reactions would.
    for (const d of await syncAll(ann!, chat, cursor)) {
      const m = d.target_id === undefined ? undefined : state.get(d.target_id)
      if (m === undefined) continue
      if (d.type === 'edit') m.content = d.content
      if (d.type === 'reaction_added' || d.type === 'reaction_removed') {
        const delta = d.type === 'reaction_added' ? 1 : -1
        const r = m.reactions.find((x) => x.emoji === d.meta!.emoji) ?? { emoji: d.meta!.emoji!, count: 0, me: false }
        if (!m.reactions.includes(r)) m.reactions.push(r)
        r.count += delta
        if (d.user_id === ann!.user_id) r.me = delta > 0
        m.reactions = m.reactions.filter((x) => x.count > 0)
      }
    }
    const final = (await ok<{ message: MessageJson }>(ann!, 'GET_MESSAGE', { message_id: target })).message
    t.ok(pages >= 9, `${pages} pages while it changed`)
    t.same({ content: state.get(target)!.content, reactions: sorted(state.get(target)!).reactions }, { content: final.content, reactions: sorted(final).reactions },
      'no change counted twice or missed')
  })
}

void t.test('FETCH_DELTA', async (t) => {
  await eachProfile(t, 'catch-up as the final state of what changed', run)
})
