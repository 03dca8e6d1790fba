// Chat history export on both profiles, against an SMTP server this test runs itself: the
// email is a standard RFC 5322 message with text/plain and HTML parts, sender names and
// times, user content escaped in the HTML, deleted and expired messages shown as such,
// messages still to expire left out, attachments as links; the download over HTTP is the
// same .eml. Only readers of the channel export; ranges and the message cap; the per-user
// rate limit; bad input is coded and sends nothing; no SMTP configured is
// EMAIL_NOT_CONFIGURED and a refusing SMTP server is UNAVAILABLE.
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import sharp from 'sharp'
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import type { DeltaJson } from '../../clients/sdk/src/protocol.ts'
import type { Config } from '../../config/schema.ts'
import { request, startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { expectError } from '../helpers/expect.ts'
import { waitFor } from '../helpers/wait.ts'
import { uploadFile } from '../helpers/files.ts'

type Res = { status: number; body: Record<string, unknown> & { data?: Record<string, unknown> & { code?: string; details?: Record<string, unknown> } } }

interface Received {
  from: string | null
  to: string[]
  raw: Buffer
}

/** An SMTP server on an ephemeral port that keeps what it receives (or refuses every recipient). */
async function startSmtp(t: Test, opts: { refuse?: boolean } = {}): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(_address, _session, cb) {
      cb(opts.refuse ? Object.assign(new Error('no such mailbox here'), { responseCode: 550 }) : undefined)
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const mailFrom = session.envelope.mailFrom
        received.push({ from: mailFrom === false ? null : mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) })
        cb()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`, received }
}

const SETTINGS: Partial<Config> = { smtpFrom: 'Chime Export <export@chime.test>', publicUrl: 'https://chat.example.org/', exportMaxMessages: 20, exportRatePerHour: 5, expirySweepMs: 100 }

async function bothProfiles(t: Test, name: string, fn: (t: Test, chime: TestChime, smtp: Received[]) => Promise<void>): Promise<void> {
  await t.test(`${name} [embedded]`, async (t) => {
    const smtp = await startSmtp(t)
    await fn(t, await startTestChime(t, { ...SETTINGS, smtpUrl: smtp.url }), smtp.received)
  })
  await t.test(`${name} [production]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    const smtp = await startSmtp(t)
    await fn(t, await startTestChime(t, { ...SETTINGS, smtpUrl: smtp.url, databaseUrl, redisUrl: redis.url }), smtp.received)
  })
}

const when = (iso: string): string => `${iso.replace('T', ' ').slice(0, 19)} UTC`
/** The text part without the line that says when it was exported. */
const body = (m: ParsedMail): string => (m.text ?? '').split('\n').filter((l) => !/ exported \d/.test(l)).join('\n')

async function run(t: Test, chime: TestChime, smtp: Received[]): Promise<void> {
  const call = (user: TestUser, method: string, path: string, b?: unknown): Promise<Res> =>
    chime.http(method, path, { token: user.token, ...(b !== undefined ? { body: b } : {}) }) as Promise<Res>
  const act = (user: TestUser, action: string, data: object): Promise<Res> => call(user, 'POST', '/api/requests', { action, data })
  const post = async (user: TestUser, data: object): Promise<DeltaJson> => ((await act(user, 'POST_MESSAGE', data)).body['data'] as { delta: DeltaJson }).delta
  const download = async (user: TestUser, path: string): Promise<{ status: number; type: string | null; disposition: string | null; raw: Buffer }> => {
    const res = await fetch(chime.baseUrl + path, { headers: { authorization: `Bearer ${user.token}` } })
    return { status: res.status, type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition'), raw: Buffer.from(await res.arrayBuffer()) }
  }
  const errorOf = (res: Res): [unknown, unknown] => [res.body['action'], res.body.data?.code]

  const [ann, bob, cat, eve, mia] = await Promise.all([1, 2, 3, 4, 5].map(() => chime.register()))
  const group = (await call(ann!, 'POST', '/api/chats', { user_ids: [bob!.user_id, cat!.user_id], name: 'trio <&> "friends"' })).body['chat_id'] as string
  // A real 8x8 PNG, padded after its end to 2,048 bytes ("2.0 KB" in the export).
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#3a6' } }).png().toBuffer()
  const file = await uploadFile(chime, cat!, group, Buffer.concat([png, Buffer.alloc(2048 - png.length)]), 'photo <1>.png', 'image/png')
  const script = await post(ann!, { channel_id: group, content: '<script>alert("x")</script> & <b>bold</b>' })
  const doomed = await post(bob!, { channel_id: group, content: 'bobsecret that goes' })
  t.equal((await act(bob!, 'DELETE_MESSAGE', { message_id: doomed.delta_id })).body['action'], 'DELETE_MESSAGE_RESPONSE')
  const edited = await post(ann!, { channel_id: group, content: 'first version' })
  t.equal((await act(ann!, 'EDIT_MESSAGE', { message_id: edited.delta_id, content: 'second version' })).body['action'], 'EDIT_MESSAGE_RESPONSE')
  const photo = await post(cat!, { channel_id: group, content: 'look', attachments: [{ file_id: file.file_id }] })
  const fleeting = await post(ann!, { channel_id: group, content: 'fleeting okapi', expires_in: 1 })
  await post(bob!, { channel_id: group, content: 'hidden giraffe', expires_in: 3600 })
  await post(cat!, { channel_id: group, content: 'replying now', reply_to: script.delta_id })
  await post(ann!, { channel_id: group, poll: { question: 'pizza tonight?', options: ['yes', 'no'] } })
  await waitFor('the short-lived message expired and was purged', async () => {
    const log = ((await act(ann!, 'SYNC', { channel_id: group, client_seq: '0' })).body['data'] as { missing_deltas: DeltaJson[] }).missing_deltas
    return log.some((d) => d.type === 'expired' && d.target_id === fleeting.delta_id) ? true : undefined
  })
  const lastSeq = ((await act(ann!, 'RESTORE_HISTORY', { channel_id: group, limit: 1 })).body['data'] as { last_seq: string }).last_seq

  let emailed: ParsedMail | undefined
  await t.test('the email: headers, both parts, names and times, escaping, gone messages, links', async (t) => {
    const res = await act(ann!, 'EXPORT_CHAT', { channel_id: group, email: true, to: 'ann@example.org' })
    t.equal(res.body['action'], 'EXPORT_CHAT_RESPONSE')
    const data = res.body['data']!
    t.same([data['email'], data['sent_to'], data['from_seq'], data['to_seq'], data['messages'], data['truncated']], [true, 'ann@example.org', '1', lastSeq, 8, false])
    t.equal(smtp.length, 1, 'the SMTP server got one email')
    t.same([smtp[0]!.from, smtp[0]!.to], ['export@chime.test', ['ann@example.org']], 'the envelope: From address to the given address')
    const raw = smtp[0]!.raw.toString('utf8')
    t.match(raw, /^Content-Type: multipart\/alternative;/m, 'multipart/alternative')
    t.match(raw, /^Content-Type: text\/plain; charset=utf-8/m, 'a text/plain part')
    t.match(raw, /^Content-Type: text\/html; charset=utf-8/m, 'an HTML part')
    t.match(raw, /^MIME-Version: 1\.0/m)
    const mail = (emailed = await simpleParser(smtp[0]!.raw))
    t.same(mail.from?.value, [{ address: 'export@chime.test', name: 'Chime Export' }], 'From')
    t.equal(Array.isArray(mail.to) ? undefined : mail.to?.text, 'ann@example.org', 'To')
    t.equal(mail.subject, 'Chat history: trio <&> "friends"', 'Subject names the chat')
    t.ok(mail.date !== undefined && Math.abs(mail.date.getTime() - Date.now()) < 60_000, 'Date')
    t.equal(mail.messageId, data['email_message_id'], 'Message-ID, answered too')
    t.same([mail.headers.get('x-chime-channel-id'), mail.headers.get('x-chime-from-seq'), mail.headers.get('x-chime-to-seq')], [group, '1', lastSeq])

    const text = mail.text ?? ''
    t.ok(text.includes(`[${when(script.timestamp)}] ${ann!.username} (@${ann!.username}):`), 'text: sender name and time')
    t.ok(text.includes('<script>alert("x")</script> & <b>bold</b>'), 'text: content as written')
    t.ok(text.includes('(message deleted)') && !text.includes('bobsecret'), 'text: a deleted message shows as deleted, without its content')
    t.ok(text.includes('(edited)') && text.includes('second version') && !text.includes('first version'), 'text: an edited message shows its current version')
    t.ok(text.includes(`photo <1>.png (image/png, 2.0 KB): https://chat.example.org/api/files/download/?file_id=${file.file_id}`), 'text: the attachment as a link')
    t.ok(text.includes('(message expired)') && !text.includes('okapi'), 'text: an expired message shows as expired')
    t.ok(text.includes('(disappearing message: not exported)') && !text.includes('giraffe'), 'text: a message still to expire is not exported')
    t.ok(text.includes(`[in reply to ${ann!.username}: "<script>`), 'text: a reply names what it answers')
    t.ok(text.includes('poll: 1. yes  2. no') && text.includes('pizza tonight?'), 'text: a poll with its options')

    const html = typeof mail.html === 'string' ? mail.html : ''
    t.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;'), 'html: user content is escaped')
    t.notOk(/<script|<b>bold/i.test(html), 'html: no markup of the user gets through')
    t.ok(html.includes('Chat history: trio &lt;&amp;&gt; &quot;friends&quot;'), 'html: the chat name is escaped')
    t.ok(html.includes(`<a href="https://chat.example.org/api/files/download/?file_id=${file.file_id}">photo &lt;1&gt;.png</a>`), 'html: the attachment as a link, its name escaped')
    t.ok(html.includes(`<time datetime="${photo.timestamp}">`), 'html: times')
    t.ok(html.includes('(message deleted)') && html.includes('(message expired)'), 'html: gone messages shown as such')
    t.notOk(/bobsecret|okapi|giraffe|first version/.test(html), 'html: nothing deleted, expired or still to expire')
  })

  await t.test('the download is the same .eml, over both paths, by range', async (t) => {
    const file1 = await download(ann!, `/api/channels/${group}/export`)
    t.equal(file1.status, 200)
    t.equal(file1.type, 'message/rfc822')
    t.equal(file1.disposition, `attachment; filename="chat-${group}-1-${lastSeq}.eml"`)
    const mail = await simpleParser(file1.raw)
    t.same([mail.subject, mail.to, mail.from?.text], [emailed!.subject, undefined, emailed!.from?.text], 'the same message, addressed to nobody')
    t.equal(body(mail), body(emailed!), 'the same text')
    const file2 = await simpleParser((await download(ann!, `/api/chats/${group}/export`)).raw)
    t.equal(body(file2), body(emailed!), 'the chat path too')
    const part = await simpleParser((await download(ann!, `/api/channels/${group}/export?from_seq=2&to_seq=3`)).raw)
    t.same([part.headers.get('x-chime-from-seq'), part.headers.get('x-chime-to-seq')], ['2', '3'], 'a range')
    t.ok(part.text!.includes('<script>') && part.text!.includes('(message deleted)') && !part.text!.includes('second version'), 'holds only the messages of the range')
    const link = await act(ann!, 'EXPORT_CHAT', { channel_id: group, from_seq: '2', email: false })
    t.same(link.body['data'], { channel_id: group, email: false, download: `/api/channels/${group}/export?from_seq=2` }, 'EXPORT_CHAT without email names the download')
  })

  await t.test('only readers export: the same errors as SYNC', async (t) => {
    const stranger = await download(eve!, `/api/channels/${group}/export`)
    expectError(t, { status: stranger.status, body: JSON.parse(stranger.raw.toString()) }, 404, 'CHANNEL_NOT_FOUND', 'a stranger downloads')
    t.same(errorOf(await act(eve!, 'EXPORT_CHAT', { channel_id: group, email: true, to: 'eve@example.org' })), ['ERROR', 'CHANNEL_NOT_FOUND'], 'a stranger emails')
    t.same(errorOf(await act(eve!, 'EXPORT_CHAT', { channel_id: group })), ['ERROR', 'CHANNEL_NOT_FOUND'], 'a stranger asks for the link')
    const server = (await call(bob!, 'POST', '/api/servers', { name: 'Exports & Co' })).body as { server_id: string; channel_id: string }
    await post(bob!, { channel_id: server.channel_id, content: 'server news' })
    const outsider = await download(eve!, `/api/channels/${server.channel_id}/export`)
    expectError(t, { status: outsider.status, body: JSON.parse(outsider.raw.toString()) }, 403, 'NOT_A_MEMBER', 'a public server not joined')
    const own = await simpleParser((await download(bob!, `/api/channels/${server.channel_id}/export`)).raw)
    t.equal(own.subject, 'Chat history: #general (Exports & Co)', 'a server channel, named with its server')
    t.ok(own.text!.includes('server news'))
    t.same(errorOf(await act(bob!, 'EXPORT_CHAT', { channel_id: server.server_id })), ['ERROR', 'INVALID_FIELD'], "a server's own log holds no messages")
    t.equal(smtp.length, 1, 'nothing was sent')
  })

  await t.test('over MQTT, then the rate limit', async (t) => {
    const client = await chime.connect(ann!)
    const reply = await request(client, ann!.user_id, 'EXPORT_CHAT', { channel_id: group, email: true, to: 'ann+copy@example.org' })
    t.same([reply.action, (reply.data as { sent_to: string }).sent_to], ['EXPORT_CHAT_RESPONSE', 'ann+copy@example.org'])
    t.same(smtp[1]?.to, ['ann+copy@example.org'])
    // ann has exported five times: one email, three downloads and this email.
    const over = await download(ann!, `/api/channels/${group}/export`)
    expectError(t, { status: over.status, body: JSON.parse(over.raw.toString()) }, 429, 'RATE_LIMITED', 'a sixth export within the hour')
    t.ok(Number((JSON.parse(over.raw.toString()) as { data: { details: { retry_after_s: number } } }).data.details.retry_after_s) > 3000, 'retry after most of an hour')
    t.same(errorOf(await act(ann!, 'EXPORT_CHAT', { channel_id: group, email: true, to: 'ann@example.org' })), ['ERROR', 'RATE_LIMITED'], 'emails too')
    t.equal(smtp.length, 2, 'nothing more was sent')
    t.equal((await download(bob!, `/api/chats/${group}/export`)).status, 200, 'other users are not held back')
  })

  await t.test('bad input is coded and sends nothing', async (t) => {
    const sent = smtp.length
    for (const [data, field, what] of [
      [{ email: true, to: 'cat@example.org' }, 'channel_id', 'no channel_id'],
      [{ channel_id: 'bad id', email: true, to: 'cat@example.org' }, 'channel_id', 'a malformed channel_id'],
      [{ channel_id: group, from_seq: '0' }, 'from_seq', 'from_seq 0'],
      [{ channel_id: group, from_seq: 'abc' }, 'from_seq', 'from_seq not a number'],
      [{ channel_id: group, to_seq: -1 }, 'to_seq', 'a negative to_seq'],
      [{ channel_id: group, from_seq: '5', to_seq: '4' }, 'from_seq', 'from_seq after to_seq'],
      [{ channel_id: group, email: 'yes', to: 'cat@example.org' }, 'email', 'email not a boolean'],
      [{ channel_id: group, email: true }, 'to', 'no address'],
      [{ channel_id: group, email: true, to: 'not-an-address' }, 'to', 'not an address'],
      [{ channel_id: group, email: true, to: 'a@example.org, b@example.org' }, 'to', 'two addresses'],
      [{ channel_id: group, email: true, to: 'a@example.org\r\nBcc: b@example.org' }, 'to', 'a header injection'],
      [{ channel_id: group, email: true, to: ['cat@example.org'] }, 'to', 'a list'],
      [{ channel_id: group, email: false, to: 'cat@example.org' }, 'to', 'an address without email'],
    ] as const) {
      const res = await act(cat!, 'EXPORT_CHAT', data)
      t.same([...errorOf(res), res.body.data?.details?.['field']], ['ERROR', 'INVALID_FIELD', field], what)
    }
    const query = await download(cat!, `/api/channels/${group}/export?from_seq=0`)
    expectError(t, { status: query.status, body: JSON.parse(query.raw.toString()) }, 400, 'INVALID_FIELD', 'a bad range in the query')
    t.equal(smtp.length, sent, 'nothing was sent')
    for (let i = 0; i < 5; i++) t.equal((await download(cat!, `/api/channels/${group}/export`)).status, 200, `refusals were not counted (${i + 1})`)
  })

  await t.test('a long history is cut at the cap and says where to continue', async (t) => {
    const chat = (await call(mia!, 'POST', '/api/chats', { user_ids: [bob!.user_id] })).body['chat_id'] as string
    await call(mia!, 'POST', '/api/requests', Array.from({ length: 25 }, (_, i) => ({ action: 'POST_MESSAGE', data: { channel_id: chat, content: `line ${i + 1}` } })))
    const first = await simpleParser((await download(mia!, `/api/channels/${chat}/export`)).raw)
    t.equal(first.headers.get('x-chime-next-from-seq'), '22', 'seq 1 is the chat’s creation; 20 messages end at seq 21')
    t.equal(first.headers.get('x-chime-to-seq'), '21')
    t.ok(first.text!.includes('line 20') && !first.text!.includes('line 21'), 'the first 20 messages')
    t.ok(first.text!.includes('export again with from_seq 22'), 'the text says where to continue')
    const rest = await simpleParser((await download(mia!, `/api/channels/${chat}/export?from_seq=22`)).raw)
    t.ok(rest.text!.includes('line 21') && rest.text!.includes('line 25') && !rest.text!.includes('line 20'), 'the rest')
    t.equal(rest.headers.get('x-chime-next-from-seq'), undefined)
  })
}

t.test('chat history export', async (t) => {
  await bothProfiles(t, 'export', run)

  await t.test('no SMTP configured: EMAIL_NOT_CONFIGURED; the download still works', async (t) => {
    const chime = await startTestChime(t)
    const [ann, bob] = await Promise.all([chime.register(), chime.register()])
    const chat = (await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: ann.token, body: { user_ids: [bob.user_id] } })).body.chat_id
    const res = (await chime.http('POST', '/api/requests', { token: ann.token, body: { action: 'EXPORT_CHAT', data: { channel_id: chat, email: true, to: 'ann@example.org' } } })) as Res
    t.same([res.body['action'], res.body.data?.code], ['ERROR', 'EMAIL_NOT_CONFIGURED'])
    const file = await fetch(`${chime.baseUrl}/api/chats/${chat}/export`, { headers: { authorization: `Bearer ${ann.token}` } })
    t.equal(file.status, 200)
    t.same((await simpleParser(Buffer.from(await file.arrayBuffer()))).from?.value, [{ address: 'chime@localhost', name: 'Chime' }], 'the default From')
  })

  await t.test('an SMTP server that refuses: UNAVAILABLE', async (t) => {
    const smtp = await startSmtp(t, { refuse: true })
    const chime = await startTestChime(t, { smtpUrl: smtp.url })
    const [ann, bob] = await Promise.all([chime.register(), chime.register()])
    const chat = (await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: ann.token, body: { user_ids: [bob.user_id] } })).body.chat_id
    const res = (await chime.http('POST', '/api/requests', { token: ann.token, body: { action: 'EXPORT_CHAT', data: { channel_id: chat, email: true, to: 'ann@example.org' } } })) as Res
    t.same([res.body['action'], res.body.data?.code], ['ERROR', 'UNAVAILABLE'])
    t.equal(smtp.received.length, 0)
  })
})
