// SEARCH on both profiles (SQLite FTS5; MariaDB FULLTEXT): plain words (all must occur, the
// last also as a prefix), filters, paging without repeats, and the guarantees: a message the
// caller may not read (private channel, another server, someone else's chat), a deleted or
// an expired one is never returned; an edited one is found by its new words only; no input
// is ever full-text syntax; bad input gets a coded error.
import t, { type Test } from 'tap'
import { createConnection } from 'mysql2/promise'
import { mysqlParts, openDatabase } from '../../api/src/db/open-database.ts'
import { ERROR_CATALOGUE, isErrorCode } from '../../clients/sdk/src/errors.ts'
import type { Envelope, SearchResponseData, SearchResultJson } from '../../clients/sdk/src/protocol.ts'
import { request, startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { searchTerms, snippetOf } from '../../api/src/services/search.ts'
import { fts5Match, innodbPlan, INNODB_DEFAULT_STOPWORDS, likeAnywhere, matchesTerms, SearchStore } from '../../api/src/store/search.ts'
import { expectError } from '../helpers/expect.ts'
import { waitFor } from '../helpers/wait.ts'
import { uploadFile } from '../helpers/files.ts'

type Res<T = Record<string, unknown>> = { status: number; body: T & { data?: { code?: string } } }
type Posted = { delta_id: string; channel_id: string; timestamp: string }

async function run(t: Test, chime: TestChime): Promise<void> {
  const call = <T = Record<string, unknown>>(user: TestUser, method: string, path: string, body?: unknown): Promise<Res<T>> =>
    chime.http(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) }) as Promise<Res<T>>
  const envelope = (user: TestUser, action: string, data: object): Promise<Res<Envelope>> => call<Envelope>(user, 'POST', '/api/requests', { action, data })
  const post = async (user: TestUser, data: object): Promise<Posted> => {
    const res = await call<{ action: string; data: Posted }>(user, 'POST', '/api/post/', { action: 'POST_MESSAGE', data })
    if (res.status !== 200) throw new Error(`post failed: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.data
  }
  /** SEARCH over HTTP POST /api/requests: the reply's data, or the ERROR envelope with its code's HTTP status. */
  const searchRaw = async (user: TestUser, data: object): Promise<Res> => {
    const res = await call<Envelope>(user, 'POST', '/api/requests', { action: 'SEARCH', data })
    if (res.body.action === 'ERROR') {
      const code = (res.body.data as { code: string }).code
      return { status: isErrorCode(code) ? ERROR_CATALOGUE[code].status : 500, body: res.body as never }
    }
    t.equal(res.body.action, 'SEARCH_RESPONSE')
    return { status: res.status, body: res.body.data as never }
  }
  const search = async (user: TestUser, data: object): Promise<SearchResponseData> => {
    const res = await searchRaw(user, data)
    if (res.status !== 200) throw new Error(`search ${JSON.stringify(data)} failed: ${JSON.stringify(res.body)}`)
    return res.body as unknown as SearchResponseData
  }
  const ids = async (user: TestUser, data: object): Promise<string[]> => (await search(user, data)).results.map((r) => r.message_id)
  const newestFirst = (...posted: Posted[]): string[] => posted.map((p) => p.delta_id).sort((a, b) => Number(BigInt(b) - BigInt(a)))

  const [ann, bob, cat, dan] = await Promise.all([1, 2, 3, 4].map(() => chime.register()))
  const s1 = (await call<{ server_id: string; channel_id: string }>(ann!, 'POST', '/api/servers', { name: 'Search HQ' })).body
  const random = (await call<{ channel_id: string }>(ann!, 'POST', `/api/servers/${s1.server_id}/channels`, { name: 'random' })).body.channel_id
  const staff = (await call<{ channel_id: string }>(ann!, 'POST', `/api/servers/${s1.server_id}/channels`, { name: 'staff', private: true })).body.channel_id
  t.equal((await call(bob!, 'POST', `/api/servers/${s1.server_id}/join`)).status, 200)
  const s2 = (await call<{ server_id: string; channel_id: string }>(cat!, 'POST', '/api/servers', { name: 'Elsewhere' })).body
  const dm = (await call<{ chat_id: string }>(ann!, 'POST', '/api/chats', { user_ids: [cat!.user_id] })).body.chat_id
  const general = s1.channel_id
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())

  const budgetMeeting = await post(ann!, { channel_id: general, content: 'The quarterly budget meeting is on Thursday' })
  const budgetApproved = await post(ann!, { channel_id: general, content: 'Budget approved!' })
  const meetings = await post(bob!, { channel_id: general, content: 'so many meetings everywhere' })
  const cafe = await post(bob!, { channel_id: general, content: 'Café crème at noon' })
  const zoo = await post(ann!, { channel_id: random, content: 'go to the zoo' })
  const bobBudget = await post(bob!, { channel_id: random, content: 'budget from bob' })
  const sheet = await uploadFile(chime, bob!, general, Buffer.from('quarter,budget\nq1,100\n'), 'budget.csv', 'text/csv')
  const file = await post(bob!, { channel_id: general, content: 'budget spreadsheet attached', attachments: [{ file_id: sheet.file_id }] })

  await t.test('words: all must occur, the last one also as the start of a word', async (t) => {
    t.same(await ids(ann!, { query: 'budget' }), newestFirst(budgetMeeting, budgetApproved, bobBudget, file), 'one word, newest first, any case')
    t.same(await ids(ann!, { query: 'BUDGET' }), newestFirst(budgetMeeting, budgetApproved, bobBudget, file), 'case does not matter')
    t.same(await ids(ann!, { query: 'meet' }), newestFirst(budgetMeeting, meetings), 'the last word is a prefix')
    t.same(await ids(ann!, { query: 'meet ' }), [], 'unless the query ends after it')
    t.same(await ids(ann!, { query: 'budget meeting' }), [budgetMeeting.delta_id], 'several words: all of them (AND)')
    t.same(await ids(ann!, { query: 'meeting budget' }), [budgetMeeting.delta_id], 'in any order')
    t.same(await ids(ann!, { query: 'budget everywhere' }), [], 'a message with only some of the words is not a match')
    t.same(await ids(ann!, { query: 'cafe creme' }), [cafe.delta_id], 'diacritics do not matter')
    t.same(await ids(ann!, { query: 'go zoo' }), [zoo.delta_id], 'short words and stopwords count too')
    const [hit] = (await search(ann!, { query: 'approved' })).results
    t.same(hit, { message_id: budgetApproved.delta_id, channel_id: general, server_id: s1.server_id, user_id: ann!.user_id, content: 'Budget approved!', timestamp: budgetApproved.timestamp, kind: 'text' } satisfies SearchResultJson)
  })

  await t.test('filters: channel, server, author, attachments, time', async (t) => {
    t.same(await ids(ann!, { query: 'budget', channel_id: random }), [bobBudget.delta_id], 'channel_id')
    t.same(await ids(ann!, { query: 'budget', server_id: s1.server_id }), newestFirst(budgetMeeting, budgetApproved, bobBudget, file), 'server_id')
    t.same(await ids(ann!, { query: 'budget', author_id: bob!.user_id }), newestFirst(bobBudget, file), 'author_id')
    t.same(await ids(ann!, { query: 'budget', has_file: true }), [file.delta_id], 'has_file: true')
    t.same(await ids(ann!, { query: 'budget', has_file: false }), newestFirst(budgetMeeting, budgetApproved, bobBudget), 'has_file: false')
    const [withFile] = (await search(ann!, { query: 'spreadsheet' })).results
    t.equal(withFile?.kind, 'file')
    const early = await post(ann!, { channel_id: general, content: 'timeline first entry' })
    await waitFor('the clock to move on', () => (Date.now() > Date.parse(early.timestamp) + 2 ? true : undefined))
    const late = await post(ann!, { channel_id: general, content: 'timeline second entry' })
    t.ok(Date.parse(late.timestamp) > Date.parse(early.timestamp))
    t.same(await ids(ann!, { query: 'timeline', after: early.timestamp }), [late.delta_id], 'after is exclusive')
    t.same(await ids(ann!, { query: 'timeline', before: late.timestamp }), [early.delta_id], 'before is exclusive')
    t.same(await ids(ann!, { query: 'timeline', after: '2000-01-01', before: '2999-12-31T23:59:59+02:00' }), newestFirst(early, late), 'dates, and times with a zone')
    t.same(await ids(ann!, { query: 'timeline', before: '2000-01-01T00:00:00Z' }), [])
  })

  await t.test('pages: no result repeated or skipped, also when messages arrive in between', async (t) => {
    const posted: Posted[] = []
    for (let i = 0; i < 7; i++) posted.push(await post(i % 2 === 0 ? ann! : bob!, { channel_id: i < 4 ? general : random, content: `pagination item ${i}` }))
    const first = await search(ann!, { query: 'pagination', limit: 3 })
    t.equal(first.results.length, 3)
    t.type(first.next_cursor, 'string')
    const newcomer = await post(ann!, { channel_id: general, content: 'pagination latecomer' })
    const second = await search(ann!, { query: 'pagination', limit: 3, cursor: first.next_cursor })
    const third = await search(ann!, { query: 'pagination', limit: 3, cursor: second.next_cursor })
    t.equal(third.results.length, 1)
    t.equal(third.next_cursor, null, 'the last page says there is no more')
    const seen = [first, second, third].flatMap((p) => p.results.map((r) => r.message_id))
    t.same(seen, newestFirst(...posted), 'every result once, newest first')
    t.notOk(seen.includes(newcomer.delta_id), 'a message newer than the first page does not slip into later pages')
    t.equal((await ids(ann!, { query: 'pagination', limit: 50 }))[0], newcomer.delta_id, 'a new search finds it first')
    const exact = await search(ann!, { query: 'pagination', limit: 8 })
    t.equal(exact.results.length, 8)
    t.equal(exact.next_cursor, null, 'a page that holds exactly the rest has no cursor')
    t.same((await search(ann!, { query: 'pagination', limit: 6, cursor: (await search(ann!, { query: 'pagination', limit: 2 })).next_cursor })).results.length, 6, 'the limit may change between pages')
  })

  await t.test('never a message the caller may not read', async (t) => {
    const secret = await post(ann!, { channel_id: staff, content: 'confidential salary figures' })
    const other = await post(cat!, { channel_id: s2.channel_id, content: 'confidential roadmap elsewhere' })
    const whisper = await post(ann!, { channel_id: dm, content: 'confidential between us' })
    t.same(await ids(ann!, { query: 'confidential' }), newestFirst(secret, whisper), 'the owner finds the private channel and the chat, not the other server')
    t.same(await ids(bob!, { query: 'confidential' }), [], 'a member without the private channel, the other server or the chat finds nothing')
    t.same(await ids(cat!, { query: 'confidential' }), newestFirst(other, whisper), 'cat: its server and its chat')
    t.same(await ids(dan!, { query: 'confidential' }), [], 'a stranger finds nothing')
    const [chat] = (await search(cat!, { query: 'between' })).results
    t.equal(chat?.channel_id, dm)
    t.notOk(chat !== undefined && 'server_id' in chat, 'chat results carry no server_id')
    expectError(t, await searchRaw(bob!, { query: 'confidential', channel_id: staff }), 404, 'CHANNEL_NOT_FOUND', 'a private channel asked for by id')
    expectError(t, await searchRaw(bob!, { query: 'confidential', channel_id: dm }), 404, 'CHANNEL_NOT_FOUND', "someone else's chat")
    expectError(t, await searchRaw(bob!, { query: 'confidential', channel_id: s2.channel_id }), 403, 'NOT_A_MEMBER', 'a public server not joined')
    expectError(t, await searchRaw(bob!, { query: 'confidential', server_id: s2.server_id }), 404, 'SERVER_NOT_FOUND', 'a server not joined')
    expectError(t, await searchRaw(bob!, { query: 'budget', channel_id: 'NoSuchChannel0000001' }), 404, 'CHANNEL_NOT_FOUND', 'an unknown channel')
    t.equal((await call(dan!, 'POST', `/api/servers/${s2.server_id}/join`)).status, 200)
    t.same(await ids(dan!, { query: 'confidential' }), [other.delta_id], 'joining opens a server to search')
    t.equal((await call(dan!, 'POST', `/api/servers/${s2.server_id}/leave`)).status, 200)
    t.same(await ids(dan!, { query: 'confidential' }), [], 'and leaving closes it again')
  })

  await t.test('edited, deleted and expired messages', async (t) => {
    const edited = await post(ann!, { channel_id: general, content: 'draft wording here' })
    const edit = await envelope(ann!, 'EDIT_MESSAGE', { message_id: edited.delta_id, content: 'final phrasing here' })
    t.equal(edit.body.action, 'EDIT_MESSAGE_RESPONSE', JSON.stringify(edit.body))
    t.same(await ids(ann!, { query: 'draft' }), [], 'not by its old words')
    const [found] = (await search(ann!, { query: 'final phrasing' })).results
    t.same([found?.message_id, found?.content], [edited.delta_id, 'final phrasing here'], 'by its new words, with its new content')

    const deleted = await post(ann!, { channel_id: general, content: 'regrettable remark' })
    t.same(await ids(ann!, { query: 'regrettable' }), [deleted.delta_id])
    t.equal((await envelope(ann!, 'DELETE_MESSAGE', { message_id: deleted.delta_id })).body.action, 'DELETE_MESSAGE_RESPONSE')
    t.same(await ids(ann!, { query: 'regrettable' }), [], 'a deleted message is never returned')
    // Even if its row still had its text: is_deleted alone keeps it out.
    await db.prisma.$executeRawUnsafe('UPDATE messages SET content = ? WHERE message_id = ?', 'regrettable remark', BigInt(deleted.delta_id))
    t.same(await ids(ann!, { query: 'regrettable' }), [], 'is_deleted is enough')

    const fleeting = await post(ann!, { channel_id: dm, content: 'ephemeral secret soon gone', expires_in: 1 })
    await waitFor('the message to expire', async () => (Date.now() > Date.parse(fleeting.timestamp) + 1000 && (await ids(ann!, { query: 'ephemeral' })).length === 0 ? true : undefined), 10_000)
    t.pass('an expired message is not returned once its time has passed (purged or not)')
    const lasting = await post(ann!, { channel_id: dm, content: 'lingering secret', expires_in: 3600 })
    t.same(await ids(ann!, { query: 'lingering' }), [lasting.delta_id], 'before its time it is found')
    const past = new Date(Date.now() - 1000)
    await db.prisma.message.update({ where: { id: BigInt(lasting.delta_id) }, data: { expiresAt: past } })
    t.same(await ids(ann!, { query: 'lingering' }), [], 'a message past its expires_at is not returned even before the purge')
  })

  await t.test('no input is full-text syntax', async (t) => {
    const budget = newestFirst(budgetMeeting, budgetApproved, bobBudget, file)
    for (const query of ['"budget', 'budget"', '"budget"', 'budget*', '(budget)', '-budget', '+budget', 'budget:', '^budget', '~budget', '@budget', "'budget'", 'budget%', '{budget}', 'budget\\']) {
      t.same(await ids(ann!, { query }), budget, `${query} is the word budget`)
    }
    for (const query of ['budget AND nope', 'budget OR quarterly', 'NEAR(budget meeting)', 'budget NOT approved', 'budget NEAR/2 meeting', 'content:budget', 'b_dget', 'budget -approved', '"budget" "meeting"']) {
      const res = await searchRaw(ann!, { query })
      t.equal(res.status, 200, `${query}: answered`)
    }
    t.same(await ids(ann!, { query: 'budget NOT approved' }), [], 'NOT is a word to find, not an operator')
    t.same(await ids(ann!, { query: 'budget -approved' }), [budgetApproved.delta_id], 'a minus sign separates words, it does not exclude')
    t.same(await ids(ann!, { query: '"budget" "meeting"' }), [budgetMeeting.delta_id], 'quotes separate words')
    for (const query of ['"', '*', '()', '-', '"*"', '   ', '!!!']) {
      expectError(t, await searchRaw(ann!, { query }), 400, 'INVALID_FIELD', `${JSON.stringify(query)} has no word`)
    }
    t.same(await ids(ann!, { query: 'NEAR(' }), [], 'NEAR( is just the word near')
  })

  await t.test('bad input gets a coded error', async (t) => {
    const bad = async (data: object, code: string, what: string): Promise<void> => {
      const res = await searchRaw(ann!, data)
      t.equal(res.body.data?.code, code, what)
    }
    await bad({}, 'INVALID_FIELD', 'no query')
    await bad({ query: '' }, 'INVALID_FIELD', 'an empty query')
    await bad({ query: 42 }, 'INVALID_FIELD', 'a query that is not a string')
    await bad({ query: 'x'.repeat(201) }, 'INVALID_FIELD', 'a query over 200 characters')
    t.equal((await searchRaw(ann!, { query: 'x'.repeat(200) })).status, 200, '200 characters are fine')
    await bad({ query: Array.from({ length: 17 }, (_, i) => `w${i}`).join(' ') }, 'INVALID_FIELD', 'more than 16 words')
    for (const limit of [0, 51, 2.5, -1, '10', true]) await bad({ query: 'budget', limit }, 'INVALID_FIELD', `limit ${JSON.stringify(limit)}`)
    const { next_cursor: cursor } = await search(ann!, { query: 'budget', limit: 1 })
    await bad({ query: 'budget', cursor: 'not a cursor!' }, 'INVALID_CURSOR', 'a cursor with other characters')
    await bad({ query: 'budget', cursor: Buffer.from('s1.abc.000000000000').toString('base64url') }, 'INVALID_CURSOR', 'a cursor that does not decode')
    await bad({ query: 'budget', cursor: 5 }, 'INVALID_CURSOR', 'a number as cursor')
    await bad({ query: 'budget', cursor: '' }, 'INVALID_CURSOR', 'an empty cursor')
    await bad({ query: 'meeting', cursor }, 'INVALID_CURSOR', 'the cursor of another search')
    await bad({ query: 'budget', author_id: bob!.user_id, cursor }, 'INVALID_CURSOR', 'the cursor of other filters')
    for (const v of ['yesterday', '2026-13-01', '2026-02-30', '2026-11-24T10:00:00', '2026-11-24T25:00:00Z', '2026-11-24 10:00:00Z', 1_700_000_000_000]) {
      await bad({ query: 'budget', before: v }, 'INVALID_FIELD', `before ${JSON.stringify(v)}`)
      await bad({ query: 'budget', after: v }, 'INVALID_FIELD', `after ${JSON.stringify(v)}`)
    }
    await bad({ query: 'budget', after: '2026-11-24', before: '2026-11-24' }, 'INVALID_FIELD', 'after not before before')
    await bad({ query: 'budget', has_file: 'yes' }, 'INVALID_FIELD', 'has_file not a boolean')
    await bad({ query: 'budget', channel_id: 'bad id' }, 'INVALID_FIELD', 'a malformed channel id')
    await bad({ query: 'budget', author_id: 17 }, 'INVALID_FIELD', 'a malformed author id')
    await bad({ query: 'budget', channel_id: general, server_id: s1.server_id }, 'INVALID_FIELD', 'channel_id and server_id together')
  })

  await t.test('long messages come with a snippet around the match', async (t) => {
    const long = `${'lorem ipsum dolor sit amet '.repeat(10)}the needle is here ${'consectetur adipiscing elit '.repeat(10)}`.trim()
    await post(bob!, { channel_id: general, content: long })
    const [hit] = (await search(ann!, { query: 'needle' })).results
    t.equal(hit?.content, long, 'the whole content')
    t.match(hit?.snippet, /^….*needle is here.*…$/, 'and the part around the match')
    t.ok((hit?.snippet?.length ?? 0) <= 162)
  })

  await t.test('over MQTT and GET /api/search', async (t) => {
    const client = await chime.connect(ann!)
    const reply = await request(client, ann!.user_id, 'SEARCH', { query: 'approved' })
    t.equal(reply.action, 'SEARCH_RESPONSE')
    t.same((reply.data as SearchResponseData).results.map((r) => r.message_id), [budgetApproved.delta_id])
    const got = await call<SearchResponseData>(ann!, 'GET', `/api/search?q=${encodeURIComponent('budget')}&channel_id=${general}&has_file=false&limit=1`)
    t.equal(got.status, 200)
    t.same(got.body.results.map((r) => r.message_id), [budgetApproved.delta_id])
    const next = await call<SearchResponseData>(ann!, 'GET', `/api/search?q=budget&channel_id=${general}&has_file=false&limit=1&cursor=${got.body.next_cursor}`)
    t.same(next.body.results.map((r) => r.message_id), [budgetMeeting.delta_id], 'paged over HTTP too')
    expectError(t, await call(ann!, 'GET', '/api/search?q=budget&limit=100'), 400, 'INVALID_FIELD', 'a bad limit over HTTP')
    expectError(t, await call(ann!, 'GET', '/api/search'), 400, 'INVALID_FIELD', 'no q')
    expectError(t, await call(ann!, 'GET', '/api/search?q=budget&has_file=maybe'), 400, 'INVALID_FIELD', 'has_file neither true nor false')
    expectError(t, await call(ann!, 'GET', `/api/search?q=budget&server_id=${s2.server_id}`), 404, 'SERVER_NOT_FOUND', 'a server not joined')
    const anonymous = await chime.http('GET', '/api/search?q=budget')
    expectError(t, anonymous, 401, 'UNAUTHENTICATED', 'no token')
  })
}

t.test('how a query becomes words, and words the query of each index', async (t) => {
  t.same(searchTerms('Meet the team'), [{ text: 'Meet', prefix: false }, { text: 'the', prefix: false }, { text: 'team', prefix: true }], 'the last word is a prefix')
  t.same(searchTerms('meet '), [{ text: 'meet', prefix: false }], 'not after a space')
  t.same(searchTerms('"budget"'), [{ text: 'budget', prefix: false }], 'nor after punctuation')
  t.same(searchTerms('to be OR not to BE'), [{ text: 'to', prefix: false }, { text: 'be', prefix: true }, { text: 'OR', prefix: false }, { text: 'not', prefix: false }], 'each word once, whatever its case')
  t.same(searchTerms('Cafe\u0301 under_score'), [{ text: 'Café', prefix: false }, { text: 'under_score', prefix: true }], 'NFC; "_" belongs to words')
  t.same(searchTerms('"*" - () NEAR/'), [{ text: 'NEAR', prefix: false }])
  t.equal(fts5Match([{ text: 'NEAR', prefix: false }, { text: 'a"b', prefix: true }]), '"NEAR" "a""b"*', 'FTS5: every word a quoted string')
  t.equal(likeAnywhere('50%_off!'), '%50!%!_off!!%', "LIKE: % _ and the escape character ! taken literally")
  const rules = { minTokenSize: 3, maxTokenSize: 84, stopwords: INNODB_DEFAULT_STOPWORDS }
  t.same(innodbPlan(searchTerms('go to the zoo'), rules), { against: '+zoo*', likes: ['%go%', '%to%', '%the%'] }, 'InnoDB: short words and stopwords by LIKE')
  t.same(innodbPlan(searchTerms('budget meeting'), rules), { against: '+budget +meeting*', likes: [] })
  t.same(innodbPlan(searchTerms('at'), rules), { against: null, likes: ['%at%'] }, 'LIKE alone when no word is indexed')
  t.ok(matchesTerms('Café crème at noon', searchTerms('cafe creme'), rules), 'row by row: without case or diacritics')
  t.notOk(matchesTerms('concatenate', searchTerms('cat '), rules), 'a word is a whole word')
  t.ok(matchesTerms('concatenate', searchTerms('conca'), rules), 'or, the last one, the start of one')
  t.notOk(matchesTerms('with you', searchTerms('wit'), rules), 'a prefix never matches a stopword, which InnoDB does not index')
  t.ok(matchesTerms('go to the zoo', searchTerms('go zoo'), rules), 'words InnoDB does not index occur anywhere')
  t.ok(matchesTerms('under_score', searchTerms('under_score'), rules))
  t.notOk(matchesTerms('under_score', searchTerms('under '), rules), '"_" joins words, as in InnoDB')
  t.equal(snippetOf('short', searchTerms('short')), undefined, 'short content needs no snippet')
  const long = `${'a '.repeat(200)}needle ${'b '.repeat(200)}`
  const snippet = snippetOf(long, searchTerms('needle'))!
  t.match(snippet, /^…[ab ]*needle[ab ]*…$/)
  t.ok(snippet.length <= 162)
  const emoji = '😀'.repeat(200)
  for (const size of [159, 160, 161]) {
    const cut = snippetOf(`${emoji}needle${emoji}`, searchTerms('needle'), size)!
    t.notMatch(cut, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/, `no half characters (size ${size})`)
  }
})

await eachProfile(t, 'search', run)

t.test('MariaDB: rows checked one by one and the FULLTEXT index give the same pages', async (t) => {
  const url = await freshMysqlUrl(t)
  if (url === null) return
  const db = await openDatabase(url)
  t.teardown(() => db.close())
  // 3,000 messages: alpha in half, beta in 5 %, gamma in 0.5 %, "Café"/"cafe", a short word,
  // files, deletes, expiry, two authors and five channels, spread by a fixed pseudo-random sequence.
  let seed = 7
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const filler = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'tempor']
  const rows: unknown[][] = []
  for (let id = 1; id <= 3000; id++) {
    const words = Array.from({ length: 4 + Math.floor(rnd() * 6) }, () => filler[Math.floor(rnd() * filler.length)]!)
    if (rnd() < 0.5) words.push('alpha')
    if (rnd() < 0.05) words.push('beta')
    if (rnd() < 0.005) words.push('gamma')
    if (rnd() < 0.03) words.push(rnd() < 0.5 ? 'Café' : 'cafe')
    if (rnd() < 0.05) words.push('go')
    const expired = rnd() < 0.02
    rows.push([id, `ch${id % 5}`, id, rnd() < 0.1 ? 'u2' : 'u1', words.join(' '), new Date(Date.UTC(2026, 0, 1) + id * 60_000), rnd() < 0.02 ? 1 : 0,
      rnd() < 0.03 ? '[{"file_id":"f","name":"a.txt","mime_type":"text/plain","size":1}]' : null, expired ? new Date(Date.UTC(2026, 0, 1)) : null])
  }
  const p = mysqlParts(url)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database, timezone: 'Z' })
  await conn.query('INSERT INTO messages (message_id, channel_id, seq, user_id, content, timestamp, is_deleted, attachments, expires_at) VALUES ?', [rows])
  await conn.end()
  const stores = [0, 10_000, 700, 3].map((scanRows) => ({ scanRows, store: new SearchStore(db, { scanRows }) }))
  const channels = ['ch0', 'ch1', 'ch2', 'ch3', 'ch4']
  const cases: { what: string; query: string; extra?: object }[] = [
    { what: 'a common word', query: 'alpha' }, { what: 'a medium word', query: 'beta ' }, { what: 'a rare word', query: 'gamma' },
    { what: 'two words', query: 'alpha beta' }, { what: 'a prefix', query: 'gam' }, { what: 'diacritics', query: 'cafe ' },
    { what: 'a short word', query: 'go alpha' }, { what: 'nothing', query: 'alpha zzzz' },
    { what: 'one channel', query: 'alpha', extra: { channelIds: ['ch2'] } }, { what: 'a rare author', query: 'alpha', extra: { authorId: 'u2' } },
    { what: 'files', query: 'alpha', extra: { hasFile: true } }, { what: 'a time range', query: 'beta', extra: { after: new Date(Date.UTC(2026, 0, 2)), before: new Date(Date.UTC(2026, 0, 2, 12)) } },
  ]
  for (const c of cases) {
    const pages: string[][] = []
    for (const { store } of stores) {
      const all: string[] = []
      let belowId: bigint | undefined
      for (;;) {
        const page = await store.search({ terms: searchTerms(c.query), channelIds: channels, now: new Date(Date.UTC(2026, 0, 1, 0, 1)), limit: 40, ...(belowId !== undefined ? { belowId } : {}), ...c.extra })
        all.push(...page.map((r) => r.messageId.toString()))
        if (page.length < 40) break
        belowId = page.at(-1)!.messageId
      }
      pages.push(all)
    }
    t.ok(pages[0]!.length > 0 || c.what === 'nothing', `${c.what}: found something`)
    for (const [i, { scanRows }] of stores.entries()) t.same(pages[i], pages[0], `${c.what}: CHIME_SEARCH_SCAN_ROWS=${scanRows} pages like the index alone`)
  }
})

// MariaDB answers from two sources (store/search.ts): the newest messages checked row by row
// (the default above covers all of this suite's messages that way), then the FULLTEXT index.
// The same suite with the index alone, and with a window of 5 rows that makes nearly every
// page a mix of both, must give the same answers.
for (const scanRows of [0, 5]) {
  await t.test(`search [production, CHIME_SEARCH_SCAN_ROWS=${scanRows}]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    await run(t, await startTestChime(t, { databaseUrl, redisUrl: redis.url, searchScanRows: scanRows }))
  })
}
