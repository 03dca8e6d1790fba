// Invariant 7: bad input gets an ERROR with a code (on the inbox over MQTT, a 4xx over HTTP)
// and loses nothing else: the connection and every other client carry on.
import t from 'tap'
import { collect, request, startTestChime, trySubscribe } from '../helpers/chime.ts'
import { waitFor } from '../helpers/wait.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope, ErrorData } from '../../clients/sdk/src/protocol.ts'

t.test('bad requests over MQTT: coded ERRORs on the inbox, connection and others unaffected', async (t) => {
  const chime = await startTestChime(t, { maxContentBytes: 100 })
  const alice = await chime.register()
  const bob = await chime.register()
  const eve = await chime.register()
  const { body: server } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'Private', is_public: false } })
  await chime.http('POST', '/api/servers', { token: bob.token, body: { name: 'Bobs' } })

  const a = await chime.connect(alice)
  const b = await chime.connect(alice, { clientId: 'alice-second-device' })
  const channelTopic = topics.serverChannel(server.server_id, server.channel_id)
  const seenByB = collect(b, channelTopic)
  await b.subscribeAsync(channelTopic, { qos: 1 })
  const e = await chime.connect(eve)
  const inbox = collect(a, topics.inbox(alice.user_id))
  await a.subscribeAsync(topics.inbox(alice.user_id), { qos: 1 })
  const eveInbox = collect(e, topics.inbox(eve.user_id))
  await e.subscribeAsync(topics.inbox(eve.user_id), { qos: 1 })
  const req = topics.requests(a.options.clientId!)

  const cases: { what: string; payload: string; code: string }[] = [
    { what: 'not JSON', payload: '{"action": "POST_MESSAGE", ', code: 'BAD_JSON' },
    { what: 'an array', payload: '[1,2]', code: 'INVALID_ENVELOPE' },
    { what: 'action of the wrong type', payload: JSON.stringify({ action: 7, request_id: 'x1', data: {} }), code: 'INVALID_ENVELOPE' },
    { what: 'data missing', payload: JSON.stringify({ action: 'SYNC', request_id: 'x2' }), code: 'INVALID_ENVELOPE' },
    { what: 'an unknown action', payload: JSON.stringify({ action: 'SELF_DESTRUCT', request_id: 'x3', data: {} }), code: 'UNKNOWN_ACTION' },
    { what: 'content of the wrong type', payload: JSON.stringify({ action: 'POST_MESSAGE', request_id: 'x4', data: { channel_id: server.channel_id, content: 42 } }), code: 'INVALID_FIELD' },
    { what: 'channel_id missing', payload: JSON.stringify({ action: 'POST_MESSAGE', request_id: 'x5', data: { content: 'hi' } }), code: 'INVALID_FIELD' },
    { what: 'content over the limit', payload: JSON.stringify({ action: 'POST_MESSAGE', request_id: 'x6', data: { channel_id: server.channel_id, content: 'x'.repeat(101) } }), code: 'CONTENT_TOO_LARGE' },
    { what: 'a channel that does not exist', payload: JSON.stringify({ action: 'POST_MESSAGE', request_id: 'x7', data: { channel_id: 'NOPE', content: 'hi' } }), code: 'CHANNEL_NOT_FOUND' },
    { what: 'a malformed sync cursor', payload: JSON.stringify({ action: 'SYNC', request_id: 'x8', data: { client_delta_id: '-1' } }), code: 'INVALID_CURSOR' },
    { what: 'a sync cursor in the future', payload: JSON.stringify({ action: 'SYNC', request_id: 'x9', data: { client_delta_id: '999999999' } }), code: 'INVALID_CURSOR' },
  ]
  for (const c of cases) await a.publishAsync(req, c.payload, { qos: 1 })
  await waitFor('an ERROR per bad request', () => (inbox.length >= cases.length ? true : undefined))
  cases.forEach((c, i) => {
    const env = inbox[i] as Envelope<string, ErrorData>
    t.equal(env.action, 'ERROR', c.what)
    t.equal(env.data.code, c.code, `${c.what}: ${c.code}`)
    t.type(env.data.message, 'string')
  })
  t.equal((inbox[3] as Envelope<string, ErrorData>).data.request_id, 'x2', 'the request_id comes back on errors')

  // Eve is not in Alice's private server: the channel does not even seem to exist.
  const denied = await request(e, eve.user_id, 'POST_MESSAGE', { channel_id: server.channel_id, content: 'let me in' })
  t.equal((denied.data as ErrorData).code, 'CHANNEL_NOT_FOUND')
  t.same(await trySubscribe(e, channelTopic), [128], 'subscribing to it is refused (SUBACK 0x80)')
  for (const filter of ['#', 'chime/#', '$SYS/#', 'chime/v1/servers/+/channels/+', `chime/v1/users/${alice.user_id}/inbox`, `chime/v1/requests/${a.options.clientId}`]) {
    t.same(await trySubscribe(e, filter), [128], `subscribe ${filter} refused`)
  }
  // Publishing on a platform topic is refused with an ERROR, not a disconnect.
  await e.publishAsync(channelTopic, JSON.stringify({ action: 'PUBLISH_DELTA', data: { content: 'forged' } }), { qos: 1 })
  await e.publishAsync(topics.requests('someone-else'), JSON.stringify({ action: 'SYNC', data: {} }), { qos: 1 })
  await waitFor('Eve gets two more errors', () => (eveInbox.filter((x) => x.action === 'ERROR').length >= 3 ? true : undefined))
  t.same(eveInbox.filter((x) => x.action === 'ERROR').map((x) => (x.data as ErrorData).code), ['CHANNEL_NOT_FOUND', 'FORBIDDEN_TOPIC', 'CLIENT_ID_MISMATCH'])
  t.ok(e.connected, 'Eve is still connected')

  // After all that, Alice's connection still works and nothing was lost or forged.
  t.ok(a.connected, 'Alice is still connected')
  const ok = await request(a, alice.user_id, 'POST_MESSAGE', { channel_id: server.channel_id, content: 'still here' })
  t.equal(ok.action, 'POST_MESSAGE_RESPONSE')
  await waitFor('the good post', () => (seenByB.length >= 1 ? true : undefined))
  t.same(seenByB.map((x) => (x.data as DeltaJson).content), ['still here'], 'only the good post was published; the forged delta never arrived')
  t.equal((ok.data as { seq: string }).seq, '1', 'no bad request took a seq')
})

t.test('bad requests over HTTP: 4xx with the same codes', async (t) => {
  const chime = await startTestChime(t, { maxContentBytes: 100 })
  const alice = await chime.register()
  const eve = await chime.register()
  const { body: server } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'Public' } })
  const post = (data: unknown, token = alice.token) => chime.http<Envelope<string, ErrorData>>('POST', '/api/post/', { token, body: { action: 'POST_MESSAGE', data } })
  const expectCode = (res: { status: number; body: Envelope<string, ErrorData> }, status: number, code: string, what: string): void => {
    t.equal(res.status, status, `${what}: HTTP ${status}`)
    t.equal(res.body.action, 'ERROR', what)
    t.equal(res.body.data.code, code, `${what}: ${code}`)
  }
  expectCode(await chime.http('POST', '/api/post/', { token: alice.token, raw: '{"action":' }), 400, 'BAD_JSON', 'not JSON')
  expectCode(await chime.http('POST', '/api/post/', { token: alice.token, raw: 'x', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE', 'not JSON content type')
  expectCode(await post({ channel_id: server.channel_id, content: ['no'] }), 400, 'INVALID_FIELD', 'content of the wrong type')
  expectCode(await post({ channel_id: server.channel_id, content: 'y'.repeat(101) }), 413, 'CONTENT_TOO_LARGE', 'content over the limit')
  expectCode(await post({ channel_id: server.channel_id, content: 'hi' }, eve.token), 403, 'NOT_A_MEMBER', 'a public server channel Eve has not joined')
  expectCode(await chime.http('POST', '/api/post/', { token: alice.token, body: { action: 'SYNC', data: {} } }), 400, 'UNKNOWN_ACTION', 'the wrong action for the endpoint')
  expectCode(await chime.http('POST', '/api/post/', { body: { action: 'POST_MESSAGE', data: {} } }), 401, 'UNAUTHENTICATED', 'no token')
  expectCode(await chime.http('POST', '/api/post/', { token: 'garbage', body: { action: 'POST_MESSAGE', data: {} } }), 401, 'UNAUTHENTICATED', 'a bad token')
  expectCode(await chime.http('POST', '/api/auth/register', { body: { username: alice.username, password: 'long enough pw' } }), 409, 'USERNAME_TAKEN', 'a taken username')
  expectCode(await chime.http('POST', '/api/auth/register', { body: { username: 'x', password: 'long enough pw' } }), 400, 'INVALID_FIELD', 'a short username')
  expectCode(await chime.http('POST', '/api/auth/login', { body: { username: alice.username, password: 'wrong password' } }), 401, 'INVALID_CREDENTIALS', 'a wrong password')
  expectCode(await chime.http('POST', '/api/servers/NOPE/join', { token: eve.token }), 404, 'SERVER_NOT_FOUND', 'joining a server that does not exist')
  expectCode(await chime.http('GET', '/api/nothing-here', { token: eve.token }), 404, 'NOT_FOUND', 'an unknown route')
  expectCode(await chime.http('POST', '/api/chats', { token: alice.token, body: { user_ids: 'bob' } }), 400, 'INVALID_FIELD', 'user_ids not a list')
  const ok = await post({ channel_id: server.channel_id, content: 'fine' })
  t.equal(ok.status, 200)
  t.equal((ok.body.data as unknown as { seq: string }).seq, '1', 'nothing bad took a seq')
})
