// Notifications on both profiles: after a message commits, each user who should be told gets
// {"action":"NOTIFICATION"} on its inbox (QoS 1), by its level (all, mentions, none; per
// channel, or its default "*"), not when muted, not the author, not someone who cannot read
// the channel or blocked the author; addressed to the preferred device (else the most recently
// seen); kept for a phone's persistent session; and sent as Web Push, encrypted, to a push
// endpoint this test runs itself. Bad settings and subscriptions are coded errors that change
// nothing.
import t, { type Test } from 'tap'
import { createECDH, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { compactVerify, importJWK } from 'jose'
import mqtt, { type MqttClient } from 'mqtt'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { Envelope, NotificationData } from '../../clients/sdk/src/protocol.ts'
import { collect, request, startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { defer } from '../helpers/cleanup.ts'
import { expectError } from '../helpers/expect.ts'
import { waitFor } from '../helpers/wait.ts'

type Res<T = Record<string, unknown>> = { status: number; body: T & { data?: { code?: string; details?: { field?: string } } } }

/** Both profiles, with push endpoints on this machine allowed (the test runs the push service). */
async function eachProfile(t: Test, name: string, fn: (t: Test, chime: TestChime) => Promise<void>): Promise<void> {
  await t.test(`${name} [embedded]`, async (t) => fn(t, await startTestChime(t, { pushAllowLoopback: 1 })))
  await t.test(`${name} [production]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    await fn(t, await startTestChime(t, { databaseUrl, redisUrl: redis.url, pushAllowLoopback: 1 }))
  })
}

// ---- a push service: records requests; the subscription's keys decrypt them (RFC 8291)

interface PushRequest {
  path: string
  headers: IncomingHttpHeaders
  body: Buffer
}

async function startPushService(t: Test): Promise<{ url: string; requests: PushRequest[]; answer: { status: number; hang: boolean }; server: Server }> {
  const requests: PushRequest[] = []
  const answer = { status: 201, hang: false }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) })
      if (!answer.hang) res.writeHead(answer.status).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  defer(t, () => {
    server.closeAllConnections()
    return new Promise<void>((r) => server.close(() => r()))
  })
  const address = server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return { url: `http://127.0.0.1:${address.port}`, requests, answer, server }
}

/** A browser's side of a push subscription: its key pair and auth secret. */
function browserKeys(): { p256dh: string; auth: string; decrypt(body: Buffer): string } {
  const ecdh = createECDH('prime256v1')
  const uaPublic = ecdh.generateKeys()
  const auth = randomBytes(16)
  const hmac = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest()
  return {
    p256dh: uaPublic.toString('base64url'),
    auth: auth.toString('base64url'),
    decrypt(body) {
      // aes128gcm (RFC 8188): salt(16) rs(4) idlen(1) keyid(idlen) ciphertext
      const salt = body.subarray(0, 16)
      const idlen = body[20]!
      const asPublic = body.subarray(21, 21 + idlen)
      const ciphertext = body.subarray(21 + idlen)
      const secret = ecdh.computeSecret(asPublic)
      const prkKey = hmac(auth, secret)
      const ikm = hmac(prkKey, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic, Buffer.from([1])]))
      const prk = hmac(salt, ikm)
      const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16)
      const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12)
      const decipher = createDecipheriv('aes-128-gcm', cek, nonce)
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
      const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()])
      let end = padded.length - 1
      while (end >= 0 && padded[end] === 0) end--
      if (padded[end] !== 2) throw new Error('not a final record')
      return padded.subarray(0, end).toString('utf8')
    },
  }
}

async function run(t: Test, chime: TestChime): Promise<void> {
  const tag = Math.random().toString(36).slice(2, 8)
  const [ann, bea, cyd, dan, eve] = (await Promise.all([1, 2, 3, 4, 5].map(() => chime.register()))) as [TestUser, TestUser, TestUser, TestUser, TestUser]
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  const call = <T = Record<string, unknown>>(user: TestUser, method: string, path: string, body?: unknown) =>
    chime.http(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) }) as Promise<Res<T>>
  const act = <T = Record<string, unknown>>(user: TestUser, action: string, data: object) => call<Envelope<string, T>>(user, 'POST', '/api/requests', { action, data })
  const post = async (user: TestUser, channelId: string, content: string, extra: object = {}): Promise<string> => {
    const res = await call<{ data: { delta_id: string } }>(user, 'POST', '/api/post/', { action: 'POST_MESSAGE', data: { channel_id: channelId, content, ...extra } })
    if (res.status !== 200) throw new Error(`post failed: ${JSON.stringify(res.body)}`)
    return res.body.data.delta_id
  }

  const server = (await call<{ server_id: string; channel_id: string }>(ann, 'POST', '/api/servers', { name: 'Notify' })).body
  for (const u of [bea, cyd, dan]) await call(u, 'POST', `/api/servers/${server.server_id}/join`)
  const general = server.channel_id
  const staff = (await call<{ channel_id: string }>(ann, 'POST', `/api/servers/${server.server_id}/channels`, { name: 'staff', private: true })).body.channel_id
  const dm = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [bea.user_id] })).body.chat_id
  const group = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [bea.user_id, cyd.user_id], name: 'trio' })).body.chat_id
  // The barrier: eve hears about every message in her chat with ann. One worker handles the
  // messages in commit order, so once eve is told about a later message, everything before it
  // has been published; a request round trip on a user's own connection then brings in
  // whatever was written to it before.
  const eveChat = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [eve.user_id] })).body.chat_id

  // One connected device per user, listening on its inbox.
  const inboxes = new Map<string, NotificationData[]>()
  const clients = new Map<string, MqttClient>()
  for (const u of [ann, bea, cyd, dan, eve]) {
    const client = await chime.connect(u, { clientId: `${u.username}-web-${tag}` })
    const envelopes = collect(client, topics.inbox(u.user_id))
    await client.subscribeAsync(topics.inbox(u.user_id), { qos: 1 })
    inboxes.set(u.user_id, [])
    client.on('message', () => {
      inboxes.set(u.user_id, envelopes.filter((e) => e.action === 'NOTIFICATION').map((e) => e.data as NotificationData))
    })
    clients.set(u.user_id, client)
  }
  const notes = (u: TestUser): NotificationData[] => inboxes.get(u.user_id)!
  const noteFor = (u: TestUser, messageId: string): Promise<NotificationData> => waitFor(`${u.username} is told about ${messageId}`, () => notes(u).find((n) => n.message_id === messageId))
  /** The message ids a user was told about among `ids`, once everything before now is worked through. */
  const toldAbout = async (u: TestUser, ids: string[]): Promise<string[]> => {
    await noteFor(eve, await post(ann, eveChat, 'marker'))
    await request(clients.get(u.user_id)!, u.user_id, 'SYNC', {})
    return notes(u).filter((n) => ids.includes(n.message_id)).map((n) => n.message_id)
  }

  await t.test('chats tell every member but the author; server channels only those mentioned by default', async (t) => {
    const hello = await post(ann, dm, 'hello bea 👋')
    const n = await noteFor(bea, hello)
    t.same(n, { channel_id: dm, message_id: hello, sender_id: ann.user_id, sender_name: ann.username, preview: 'hello bea 👋', mention: false, device: `${bea.username}-web-${tag}` })
    const long = await post(ann, group, '😀'.repeat(150))
    t.equal(Array.from((await noteFor(cyd, long)).preview!).length, 100, 'the preview is the first 100 characters, none cut in half')
    t.same(await toldAbout(ann, [hello, long]), [], 'the author is not told')
    const plain = await post(ann, general, 'news for all')
    const mention = await post(ann, general, `look <@${bea.user_id}>`)
    t.same(await toldAbout(bea, [plain, mention]), [mention], 'in a server channel only the mention')
    t.same({ ...notes(bea).find((x) => x.message_id === mention) }, { channel_id: general, server_id: server.server_id, message_id: mention, sender_id: ann.user_id, sender_name: ann.username, preview: `look <@${bea.user_id}>`, mention: true, device: `${bea.username}-web-${tag}` })
    t.same(await toldAbout(cyd, [plain, mention]), [], 'nobody else')
    const everyone = await post(ann, general, 'hear ye <@everyone>')
    t.equal((await noteFor(dan, everyone)).mention, true, '@everyone tells every member')
    const role = await post(ann, general, 'members: <@&member>')
    t.equal((await noteFor(cyd, role)).mention, true, 'and @role the members of that role')
    const secret = await post(bea, dm, 'burn after reading', { expires_in: 300 })
    t.equal((await noteFor(ann, secret)).preview, null, 'a message that expires is notified without its content')
    const hidden = await post(ann, staff, `psst <@${bea.user_id}>`)
    t.same(await toldAbout(bea, [hidden]), [], 'no notification from a channel the user may not read')
  })

  await t.test('levels per channel and by default, and mutes', async (t) => {
    const set = (u: TestUser, data: object) => act(u, 'SET_NOTIFICATIONS', data)
    t.same((await set(bea, { channel_id: general, level: 'all' })).body.data, { channel_id: general, level: 'all', muted_until: null })
    const plain = await post(ann, general, 'every word')
    t.equal((await noteFor(bea, plain)).mention, false, '"all" in a server channel: every message')
    await set(bea, { channel_id: general, level: 'none' })
    const ping = await post(ann, general, `<@${bea.user_id}> ping`)
    t.same(await toldAbout(bea, [ping]), [], '"none": not even mentions')
    t.same((await set(bea, { channel_id: general, level: null })).body.data, { channel_id: general, level: null, muted_until: null }, 'level null removes the setting')
    t.same((await act(bea, 'GET_NOTIFICATIONS', { channel_id: general })).body.data, { channel_id: general, level: 'mentions', muted_until: null, source: 'built-in' })

    await set(cyd, { channel_id: '*', level: 'none' })
    const quiet = await post(ann, group, 'anyone?')
    await noteFor(bea, quiet)
    t.same(await toldAbout(cyd, [quiet]), [], 'the default "*" none silences chats')
    await set(cyd, { channel_id: '*', level: 'all' })
    const busy = await post(ann, general, 'a server channel post')
    t.same(await toldAbout(cyd, [busy]), [], 'a default of "all" counts as mentions in server channels')
    t.same((await act(cyd, 'GET_NOTIFICATIONS', { channel_id: general })).body.data, { channel_id: general, level: 'mentions', muted_until: null, source: 'default' })
    t.equal((await act(cyd, 'GET_NOTIFICATIONS', { channel_id: group })).body.data.level, 'all')

    const hour = new Date(Date.now() + 3600_000).toISOString()
    t.same((await set(bea, { channel_id: dm, level: 'all', muted_until: hour })).body.data, { channel_id: dm, level: 'all', muted_until: hour })
    const muted = await post(ann, dm, 'are you there?')
    t.same(await toldAbout(bea, [muted]), [], 'muted until an hour from now')
    await set(bea, { channel_id: dm, level: 'all', muted_until: null })
    const back = await post(ann, dm, 'now?')
    await noteFor(bea, back)
    await set(cyd, { channel_id: '*', level: 'all', muted_until: hour })
    const dnd = await post(ann, group, `<@${cyd.user_id}> urgent`)
    t.same(await toldAbout(cyd, [dnd]), [], 'a muted default (do not disturb) holds everywhere, mentions too')
    const all = (await act<{ default: object; settings: object[]; built_in: object }>(cyd, 'GET_NOTIFICATIONS', {})).body.data
    t.same(all.default, { channel_id: '*', level: 'all', muted_until: hour })
    t.same(all.built_in, { chats: 'all', server_channels: 'mentions' })
    await set(cyd, { channel_id: '*', level: null })

    t.equal((await call(bea, 'PUT', `/api/blocks/${ann.user_id}`)).status, 200)
    const blocked = await post(ann, group, 'hello group')
    t.same(await toldAbout(bea, [blocked]), [], 'no notification from a user one has blocked')
    await call(bea, 'DELETE', `/api/blocks/${ann.user_id}`)
  })

  await t.test('messages worked through together are told each by its own author, mentions and blocks, in commit order', async (t) => {
    // Each list commits in one transaction and reaches the notifier as one batch; the two
    // lists race, so the batch may hold both authors.
    const many = async (user: TestUser, contents: string[]): Promise<string[]> => {
      const res = await call<Envelope<string, { delta_id: string }>[]>(user, 'POST', '/api/requests', contents.map((content) => ({ action: 'POST_MESSAGE', data: { channel_id: general, content } })))
      if (res.status !== 200) throw new Error(`posts failed: ${JSON.stringify(res.body)}`)
      const replies = res.body as unknown as Envelope<string, { delta_id: string }>[]
      if (replies.some((e) => e.action !== 'POST_MESSAGE_RESPONSE')) throw new Error(`a post was refused: ${JSON.stringify(replies)}`)
      return replies.map((e) => e.data.delta_id)
    }
    await act(cyd, 'SET_NOTIFICATIONS', { channel_id: '*', level: 'all' })
    t.equal((await call(dan, 'PUT', `/api/blocks/${bea.user_id}`)).status, 200)
    const [[a1, a2, a3, a4], [b1, b2]] = (await Promise.all([
      many(ann, ['a1 plain', 'a2 <@everyone>', `a3 <@${bea.user_id}>`, 'a4 <@&member>']),
      many(bea, [`b1 <@${ann.user_id}>`, `b2 <@${dan.user_id}>`]),
    ])) as [[string, string, string, string], [string, string]]
    const ids = [a1, a2, a3, a4, b1, b2]
    const byCommit = (list: string[]): string[] => [...list].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1))
    t.same(await toldAbout(bea, ids), byCommit([a2, a3, a4]), 'bea: @everyone, her mention and her role, not her own posts')
    t.same(await toldAbout(dan, ids), byCommit([a2, a4]), 'dan blocked bea: not her mention of him')
    t.same(await toldAbout(cyd, ids), byCommit([a2, a4]), 'cyd (default "all", so mentions here): @everyone and @role, nothing plain, not others\' mentions')
    t.same(await toldAbout(ann, ids), [b1], 'ann: only bea\'s mention of her')
    t.equal(notes(bea).find((n) => n.message_id === a3)?.mention, true)
    await act(cyd, 'SET_NOTIFICATIONS', { channel_id: '*', level: null })
    await call(dan, 'DELETE', `/api/blocks/${bea.user_id}`)
  })

  await t.test('addressed to the preferred device, else the most recently seen one', async (t) => {
    const phone = `${bea.username}-phone-${tag}`
    const tablet = `${bea.username}-tablet-${tag}`
    await (await chime.connect(bea, { clientId: phone })).endAsync()
    await (await chime.connect(bea, { clientId: tablet })).endAsync()
    t.equal((await noteFor(bea, await post(ann, dm, 'which device?'))).device, tablet, 'the most recently seen')
    t.same((await act(bea, 'SET_PREFERRED_DEVICE', { client_id: phone })).body.data, { preferred_client_id: phone })
    t.equal((await noteFor(bea, await post(ann, dm, 'and now?'))).device, phone, 'the preferred one')
    t.equal((await act<{ preferred_client_id: string }>(bea, 'GET_NOTIFICATIONS', {})).body.data.preferred_client_id, phone)
    t.equal((await call(bea, 'DELETE', `/api/devices/${phone}`)).status, 200)
    t.equal((await noteFor(bea, await post(ann, dm, 'after revoking'))).device, tablet, 'a revoked preferred device is passed over')
    expectError(t, await call(bea, 'PUT', '/api/devices/preferred', { client_id: phone }), 404, 'DEVICE_NOT_FOUND', 'a revoked device cannot be preferred')
    expectError(t, await call(bea, 'PUT', '/api/devices/preferred', { client_id: `${ann.username}-web-${tag}` }), 404, 'DEVICE_NOT_FOUND', 'nor another user’s')
    expectError(t, await call(bea, 'PUT', '/api/devices/preferred', { client_id: 'never-seen' }), 404, 'DEVICE_NOT_FOUND', 'nor an unknown one')
    expectError(t, await call(bea, 'PUT', '/api/devices/preferred', { client_id: 'no/slashes' }), 400, 'INVALID_FIELD', 'a malformed client id')
    expectError(t, await call(bea, 'PUT', '/api/devices/preferred', {}), 400, 'INVALID_FIELD', 'no client id')
    t.same((await call(bea, 'PUT', '/api/devices/preferred', { client_id: null })).body, { preferred_client_id: null }, 'null clears it')
  })

  await t.test('a phone away gets its notifications when it reconnects (persistent session, QoS 1)', async (t) => {
    const clientId = `${dan.username}-phone-${tag}`
    const opts = { username: dan.username, password: dan.token, clientId, clean: false, reconnectPeriod: 0 }
    const first = await mqtt.connectAsync(chime.mqttUrl, opts)
    await first.subscribeAsync(topics.inbox(dan.user_id), { qos: 1 })
    await first.endAsync()
    const dm2 = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [dan.user_id] })).body.chat_id
    const away = await post(ann, dm2, 'while you were away')
    await noteFor(dan, away)
    const received: Envelope[] = []
    const again = mqtt.connect(chime.mqttUrl, opts)
    defer(t, () => again.endAsync(true))
    again.on('message', (topic, payload, packet) => {
      if (topic === topics.inbox(dan.user_id)) received.push({ ...(JSON.parse(payload.toString()) as Envelope), qos: packet.qos } as Envelope)
    })
    const got = await waitFor('the queued notification', () => received.find((e) => e.action === 'NOTIFICATION' && (e.data as NotificationData).message_id === away))
    t.equal((got as unknown as { qos: number }).qos, 1, 'delivered at QoS 1 from the session')
  })

  await t.test('Web Push to a closed browser, against a push endpoint this test runs', async (t) => {
    const service = await startPushService(t)
    const key = await chime.http<{ public_key: string }>('GET', '/api/push/vapid-public-key')
    t.equal(key.status, 200)
    t.equal(Buffer.from(key.body.public_key, 'base64url').length, 65, 'an uncompressed P-256 public key')
    const browser = browserKeys()
    const endpoint = `${service.url}/push/${tag}`
    const reg = await call(bea, 'POST', '/api/push/subscriptions', { endpoint, keys: { p256dh: browser.p256dh, auth: browser.auth }, expirationTime: null })
    t.same(reg.body, { endpoint, registered: true })

    const id = await post(ann, dm, 'pushed to the browser')
    const inbox = await noteFor(bea, id)
    const req = await waitFor('the push request', () => service.requests.find((r) => r.path === `/push/${tag}`))
    t.equal(req.headers['content-encoding'], 'aes128gcm')
    t.ok(Number(req.headers['ttl']) > 0, 'a TTL')
    const vapid = /^vapid t=([^,]+), k=(.+)$/.exec(String(req.headers['authorization']))
    t.ok(vapid, 'a VAPID Authorization header')
    t.equal(vapid![2], key.body.public_key, 'naming the public key the web app is given')
    const raw = Buffer.from(key.body.public_key, 'base64url')
    const jwk = await importJWK({ kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, 'ES256')
    const claims = JSON.parse(Buffer.from((await compactVerify(vapid![1]!, jwk)).payload).toString()) as { aud: string; sub: string; exp: number }
    t.equal(claims.aud, service.url, 'signed for the push service’s origin')
    t.ok(claims.exp * 1000 > Date.now(), 'not expired')
    t.same(JSON.parse(browser.decrypt(req.body)), { action: 'NOTIFICATION', data: inbox }, 'the payload decrypts to the same notification')

    const secret = await post(ann, dm, 'for your eyes only', { expires_in: 300 })
    await waitFor('the second push', () => (service.requests.length >= 2 ? true : undefined))
    t.equal((JSON.parse(browser.decrypt(service.requests[1]!.body)) as { data: NotificationData }).data.preview, null, 'no preview of a secret message')
    t.equal((JSON.parse(browser.decrypt(service.requests[1]!.body)) as { data: NotificationData }).data.message_id, secret)

    // A push service that never answers holds up neither posts nor MQTT notifications.
    service.answer.hang = true
    const pending = service.requests.length
    for (let i = 0; i < 12; i++) {
      const started = Date.now()
      const id = await post(ann, dm, `push service stuck ${i}`)
      t.ok(Date.now() - started < 2000, `post ${i} acknowledged at once`)
      await noteFor(bea, id)
    }
    await waitFor('the stuck requests', () => (service.requests.length >= pending + 8 ? true : undefined))
    service.answer.hang = false
    service.server.closeAllConnections()

    service.answer.status = 410
    await post(ann, dm, 'gone?')
    await waitFor('the subscription is removed after 410', async () => ((await db.prisma.pushSubscription.count({ where: { endpoint } })) === 0 ? true : undefined))
    t.pass('a 410 from the push service removes the subscription')

    await call(bea, 'POST', '/api/push/subscriptions', { endpoint, keys: { p256dh: browser.p256dh, auth: browser.auth } })
    t.same((await call(bea, 'DELETE', '/api/push/subscriptions', { endpoint })).body, { endpoint, removed: true }, 'unregistered')
    t.same((await call(bea, 'DELETE', '/api/push/subscriptions', { endpoint })).body, { endpoint, removed: false }, 'a second time removes nothing')
  })

  await t.test('bad settings and subscriptions are coded errors that change nothing', async (t) => {
    const before = (await act(bea, 'GET_NOTIFICATIONS', {})).body.data
    const bad = async (data: object, code: string, field: string | undefined, what: string): Promise<void> => {
      const res = await call(bea, 'PUT', '/api/notifications', data)
      expectError(t, res, code === 'CHANNEL_NOT_FOUND' ? 404 : 400, code, what)
      if (field !== undefined) t.equal(res.body.data?.details?.field, field, `${what}: names ${field}`)
    }
    await bad({ channel_id: dm, level: 'loud' }, 'INVALID_FIELD', 'level', 'an unknown level')
    await bad({ channel_id: dm }, 'INVALID_FIELD', 'level', 'no level')
    await bad({ level: 'all' }, 'INVALID_FIELD', 'channel_id', 'no channel')
    await bad({ channel_id: 'bad id', level: 'all' }, 'INVALID_FIELD', 'channel_id', 'a malformed channel id')
    await bad({ channel_id: server.server_id, level: 'all' }, 'INVALID_FIELD', 'channel_id', "a server's own log")
    await bad({ channel_id: dm, level: 'all', muted_until: 'tomorrow' }, 'INVALID_FIELD', 'muted_until', 'a mute that is no time')
    await bad({ channel_id: dm, level: 'all', muted_until: new Date(Date.now() - 1000).toISOString() }, 'INVALID_FIELD', 'muted_until', 'a mute in the past')
    await bad({ channel_id: dm, level: 'all', muted_until: 12 }, 'INVALID_FIELD', 'muted_until', 'a number')
    await bad({ channel_id: dm, level: null, muted_until: new Date(Date.now() + 1000).toISOString() }, 'INVALID_FIELD', 'muted_until', 'removing and muting at once')
    const stranger = await call(eve, 'PUT', '/api/notifications', { channel_id: dm, level: 'all' })
    expectError(t, stranger, 404, 'CHANNEL_NOT_FOUND', 'a chat the caller is not in')
    expectError(t, await call(cyd, 'GET', `/api/notifications?channel_id=${staff}`), 404, 'CHANNEL_NOT_FOUND', 'a private channel the caller may not read')
    expectError(t, await call(eve, 'GET', `/api/notifications?channel_id=${general}`), 403, 'NOT_A_MEMBER', 'a public server’s channel before joining')
    const overMqtt = await act(bea, 'SET_NOTIFICATIONS', { channel_id: general, level: 7 })
    t.same([overMqtt.body.action, overMqtt.body.data.code], ['ERROR', 'INVALID_FIELD'], 'the same through the request envelope')
    t.same((await act(bea, 'GET_NOTIFICATIONS', {})).body.data, before, 'the settings are unchanged')

    const browser = browserKeys()
    const push = (body: object) => call(bea, 'POST', '/api/push/subscriptions', body)
    const keys = { p256dh: browser.p256dh, auth: browser.auth }
    const offCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url')
    for (const [body, field, what] of [
      [{ endpoint: 'ftp://push.example/x', keys }, 'endpoint', 'not http(s)'],
      [{ endpoint: 'http://push.example/x', keys }, 'endpoint', 'plain http to another host'],
      [{ endpoint: 'not a url', keys }, 'endpoint', 'not a URL'],
      [{ endpoint: 'https://user:pw@push.example/x', keys }, 'endpoint', 'credentials in the URL'],
      [{ endpoint: `https://push.example/${'x'.repeat(600)}`, keys }, 'endpoint', 'an over-long endpoint'],
      [{ endpoint: 'https://push.example/x' }, 'keys', 'no keys'],
      [{ endpoint: 'https://push.example/x', keys: { ...keys, p256dh: browser.p256dh.slice(4) } }, 'keys.p256dh', 'a short public key'],
      [{ endpoint: 'https://push.example/x', keys: { ...keys, p256dh: offCurve } }, 'keys.p256dh', 'a point off the curve'],
      [{ endpoint: 'https://push.example/x', keys: { ...keys, p256dh: 'not base64!' } }, 'keys.p256dh', 'not base64'],
      [{ endpoint: 'https://push.example/x', keys: { ...keys, auth: randomBytes(8).toString('base64url') } }, 'keys.auth', 'a short auth secret'],
    ] as const) {
      const res = await push(body)
      expectError(t, res, 400, 'INVALID_FIELD', what)
      t.equal(res.body.data?.details?.field, field, `${what}: names ${field}`)
    }
    t.equal(await db.prisma.pushSubscription.count({ where: { userId: bea.user_id } }), 0, 'no subscription was stored')
  })
}

await eachProfile(t, 'notifications', run)
