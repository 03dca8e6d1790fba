// Regression: a long-lived MQTT connection forwarded the token it connected with to the API
// sidecar, so its requests failed once that token expired. The broker node now sends a
// token it mints for the connection's user and sign-in.
import t from 'tap'
import { createServer } from 'node:http'
import { createTokenService } from '../../api/src/auth/tokens.ts'
import { createHttpRequestBackend } from '../../broker/src/request-backend.ts'
import type { Session } from '../../broker/src/sessions.ts'
import { isOutcomeUnknown } from '../../clients/sdk/src/errors.ts'
import type { ErrorData } from '../../clients/sdk/src/protocol.ts'

t.test('requests of a connection whose token expired still carry a valid token of its user and sign-in', async (t) => {
  const secret = 'a test secret of at least thirty-two characters'
  const tokens = createTokenService(secret, 3600)
  const expired = await createTokenService(secret, -60).issue({ userId: 'U1', username: 'ada', sessionId: 'S1' })
  await t.rejects(tokens.verify(expired), { code: 'TOKEN_EXPIRED' }, 'the connection’s own token has expired')
  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(String(req.headers.authorization))
    req.resume()
    req.on('end', () => res.setHeader('content-type', 'application/json').end(JSON.stringify([{ action: 'SYNC_RESPONSE', data: {} }])))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const port = (server.address() as { port: number }).port
  const backend = createHttpRequestBackend(`http://127.0.0.1:${port}`, tokens)
  const session: Session = { userId: 'U1', username: 'ada', token: expired, sessionId: 'S1', granted: new Set() }
  const replies = await backend.handle(session, 'client-1', [{ action: 'SYNC', data: {} }])
  t.same(replies.map((r) => r.action), ['SYNC_RESPONSE'])
  await backend.handle(session, 'client-1', [{ action: 'SYNC', data: {} }])
  t.equal(seen.length, 2)
  const sent = seen[0]!.replace(/^Bearer /, '')
  t.not(sent, expired, 'not the expired token')
  t.same(await tokens.verify(sent), { userId: 'U1', username: 'ada', sessionId: 'S1' }, 'a valid token of the same user and sign-in')
  t.equal(seen[1], seen[0], 'reused for the next batch')
})

t.test('a sidecar that does not answer: UNAVAILABLE for each request, naming its request_id', async (t) => {
  // A port nobody listens on: the connection is refused, as when the sidecar was killed.
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((r) => server.close(() => r()))
  const backend = createHttpRequestBackend(`http://127.0.0.1:${port}`)
  const session: Session = { userId: 'U1', username: 'ada', token: 't', granted: new Set() }
  const replies = await backend.handle(session, 'client-1', [
    { action: 'POST_MESSAGE', request_id: 'p1', data: { channel_id: 'C', content: 'a', client_msg_id: 'm1' } },
    { action: 'POST_MESSAGE', data: { channel_id: 'C', content: 'b' } },
    { action: 'SYNC', request_id: 's1', data: {} },
  ])
  t.same(replies.map((r) => [r.action, (r.data as { code?: string }).code, r.request_id]), [
    ['ERROR', 'UNAVAILABLE', 'p1'],
    ['ERROR', 'UNAVAILABLE', undefined],
    ['ERROR', 'UNAVAILABLE', 's1'],
  ])
  t.ok(replies.every((r) => isOutcomeUnknown(r.data as ErrorData)), 'each says its outcome is unknown (the sidecar may have died after its commit)')
})

t.test('what the sidecar answered instead of replies: its refusal of the whole batch as it is, anything else UNAVAILABLE with an unknown outcome', async (t) => {
  let answer: { status: number; type: string; body: string } = { status: 401, type: 'application/json', body: '' }
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const backend = createHttpRequestBackend(`http://127.0.0.1:${(server.address() as { port: number }).port}`)
  const session: Session = { userId: 'U1', username: 'ada', token: 't', granted: new Set() }
  const ask = async (): Promise<ErrorData> => (await backend.handle(session, 'c', [{ action: 'SYNC', request_id: 'r1', data: {} }]))[0]!.data as ErrorData

  answer = { status: 401, type: 'application/json', body: JSON.stringify({ action: 'ERROR', data: { code: 'SESSION_REVOKED', message: 'signed out' } }) }
  const refused = await ask()
  t.same([refused.code, refused.message, refused.request_id, isOutcomeUnknown(refused)], ['SESSION_REVOKED', 'signed out', 'r1', false], 'a refusal of the batch is passed on: nothing ran')
  answer = { status: 503, type: 'application/json', body: JSON.stringify({ action: 'ERROR', data: { code: 'UNAVAILABLE', message: 'the database did not answer', details: { outcome: 'unknown' } } }) }
  t.ok(isOutcomeUnknown(await ask()), 'the sidecar’s own unknown outcome is kept')
  answer = { status: 502, type: 'text/html', body: '<h1>Bad Gateway</h1>' }
  const proxy = await ask()
  t.same([proxy.code, isOutcomeUnknown(proxy)], ['UNAVAILABLE', true], 'a proxy’s error page: UNAVAILABLE, outcome unknown')
})
