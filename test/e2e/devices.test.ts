// The device registry: every CONNECT records its client id; users name, list and revoke
// their devices; a revoked device is disconnected on every node and refused (CONNACK 5)
// until it is registered again. Runs on the embedded profile and on MariaDB + Redis.
import t, { type Test } from 'tap'
import type { Aedes, AuthenticateError, Client } from 'aedes'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { createTokenService } from '../../api/src/auth/tokens.ts'
import { createAuthenticate, type ConnectRegistry } from '../../broker/src/hooks/authenticate.ts'
import { sessionOf } from '../../broker/src/sessions.ts'
import { startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { waitFor } from '../helpers/wait.ts'
import { connackCode, disconnected, expectError } from '../helpers/expect.ts'
import type { DeviceJson } from '../../api/src/services/devices.ts'


let counter = 0
const cid = (prefix: string): string => `${prefix}-${process.pid % 10000}-${++counter}`

async function devicesSuite(t: Test, chime: TestChime): Promise<void> {
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  const list = async (user: TestUser): Promise<DeviceJson[]> => {
    const res = await chime.http<{ devices: DeviceJson[] }>('GET', '/api/devices', { token: user.token })
    if (res.status !== 200) throw new Error(`GET /api/devices: ${res.status}`)
    return res.body.devices
  }

  await t.test('every CONNECT records the device; users name it and list theirs', async (t) => {
    const alice = await chime.register()
    const bob = await chime.register()
    const phoneId = cid('phone')
    const before = Date.now()
    const phone = await chime.connect(alice, { clientId: phoneId })
    let mine = await list(alice)
    const d = mine.find((x) => x.client_id === phoneId)
    t.ok(d, 'the client id is in the registry once CONNACK arrived')
    t.equal(d!.platform, 'unknown', 'platform unknown until told')
    t.equal(d!.name, null)
    t.ok(Date.parse(d!.first_seen) >= before - 1000 && Date.parse(d!.last_seen) >= before - 1000, 'first and last seen now')
    t.equal(d!.online, true, 'online on this node')
    t.equal(d!.revoked, false)
    t.same((await list(bob)).map((x) => x.client_id), [], "nobody else's devices are listed")

    const reg = await chime.http<DeviceJson>('POST', '/api/devices', { token: alice.token, body: { client_id: phoneId, platform: 'iOS', name: 'Alice phone' } })
    t.equal(reg.status, 200)
    t.match(reg.body, { client_id: phoneId, platform: 'ios', name: 'Alice phone', first_seen: d!.first_seen })
    const laptopId = cid('laptop')
    const pre = await chime.http<DeviceJson>('POST', '/api/devices', { token: alice.token, body: { client_id: laptopId, platform: 'desktop', name: 'Laptop' } })
    t.equal(pre.status, 200, 'a device can be registered before it connects')
    t.equal(pre.body.online, false)

    await phone.endAsync()
    const firstSeen = (await db.prisma.device.findUnique({ where: { clientId: phoneId } }))!
    await waitFor('a later millisecond', () => (Date.now() > firstSeen.lastSeen.getTime() + 5 ? true : undefined))
    await chime.connect(alice, { clientId: phoneId })
    // A known device's last_seen is written in batches, within a second (broker/src/device-seen.ts).
    const again = await waitFor('last_seen moved', async () => {
      const row = (await db.prisma.device.findUnique({ where: { clientId: phoneId } }))!
      return row.lastSeen.getTime() > firstSeen.lastSeen.getTime() ? row : undefined
    }, 5000)
    t.pass('a reconnect moves last_seen')
    t.equal(again.firstSeen.getTime(), firstSeen.firstSeen.getTime(), 'first_seen stays')
    t.equal(again.platform, 'ios', 'the metadata stays')
    mine = await list(alice)
    t.same(mine.map((x) => x.client_id).sort(), [laptopId, phoneId].sort())

    expectError(t, await chime.http('POST', '/api/devices', { token: alice.token, body: { platform: 'ios' } }), 400, 'INVALID_FIELD', 'no client_id')
    expectError(t, await chime.http('POST', '/api/devices', { token: alice.token, body: { client_id: 'has space', platform: 'ios' } }), 400, 'INVALID_FIELD', 'a client id that cannot name a requests topic')
    expectError(t, await chime.http('POST', '/api/devices', { token: alice.token, body: { client_id: cid('x'), platform: 'not a platform!' } }), 400, 'INVALID_FIELD', 'a malformed platform')
    expectError(t, await chime.http('POST', '/api/devices', { token: alice.token, body: { client_id: cid('x'), name: 'n'.repeat(129) } }), 400, 'INVALID_FIELD', 'a name over 128 characters')
    expectError(t, await chime.http('GET', '/api/devices'), 401, 'UNAUTHENTICATED', 'without a token')
  })

  await t.test('revoking a device disconnects it and refuses it until it is registered again', async (t) => {
    const alice = await chime.register()
    const bob = await chime.register()
    const tabletId = cid('tablet')
    const otherId = cid('other')
    const tablet = await chime.connect(alice, { clientId: tabletId })
    const tabletWs = await chime.connect(alice, { clientId: `${tabletId}-ws`, transport: 'ws' })
    const other = await chime.connect(alice, { clientId: otherId })

    expectError(t, await chime.http('DELETE', `/api/devices/${tabletId}`, { token: bob.token }), 404, 'DEVICE_NOT_FOUND', "revoking another user's device")
    expectError(t, await chime.http('DELETE', `/api/devices/${cid('never')}`, { token: alice.token }), 404, 'DEVICE_NOT_FOUND', 'an unknown client id')
    expectError(t, await chime.http('DELETE', '/api/devices/bad%20id', { token: alice.token }), 400, 'INVALID_FIELD', 'a malformed client id')
    t.equal(tablet.connected, true, 'refused revocations disconnect nothing')

    const rev = await chime.http('DELETE', `/api/devices/${tabletId}`, { token: alice.token })
    t.equal(rev.status, 200, 'revoke answers')
    await disconnected(tablet, 'the revoked device to be disconnected')
    t.ok((await db.prisma.device.findUnique({ where: { clientId: tabletId } }))!.revokedAt, 'revoked_at is set')
    t.equal(other.connected, true, "the user's other devices stay connected")
    t.equal(tabletWs.connected, true, 'another client id stays connected')
    t.equal(await connackCode(chime.mqttUrl, { username: alice.username, password: alice.token, clientId: tabletId }), 5, 'the revoked client id: CONNACK 5')
    t.equal(await connackCode(chime.wsUrl, { username: alice.username, password: alice.token, clientId: tabletId }), 5, 'over WebSocket too')
    t.equal(await connackCode(chime.mqttUrl, { username: alice.username, password: alice.token, clientId: cid('fresh') }), 0, 'the same token with another client id connects')
    t.equal((await chime.http('GET', '/api/users/me', { token: alice.token })).status, 200, 'the sign-in itself is not revoked')
    t.equal((await chime.http<{ devices: DeviceJson[] }>('GET', '/api/devices', { token: alice.token })).body.devices.find((d) => d.client_id === tabletId)?.revoked, true, 'listed as revoked')

    expectError(t, await chime.http('POST', '/api/devices', { token: bob.token, body: { client_id: tabletId, platform: 'android' } }), 409, 'CLIENT_ID_TAKEN', "another user registering Alice's revoked client id")
    t.equal(await connackCode(chime.mqttUrl, { username: bob.username, password: bob.token, clientId: tabletId }), 2, "another user may not connect with Alice's client id either: CONNACK 2")
    t.equal((await db.prisma.device.findUnique({ where: { clientId: tabletId } }))!.userId, alice.user_id, "which leaves Alice's revocation in place")
    t.equal(await connackCode(chime.mqttUrl, { username: alice.username, password: alice.token, clientId: tabletId }), 5, 'still refused for Alice')

    const back = await chime.http<DeviceJson>('POST', '/api/devices', { token: alice.token, body: { client_id: tabletId, platform: 'android', name: 'Tablet' } })
    t.equal(back.status, 200)
    t.equal(back.body.revoked, false, 'registering again lifts the revocation')
    const again = await chime.connect(alice, { clientId: tabletId })
    t.equal(again.connected, true, 'and the device connects again')
    expectError(t, await chime.http('POST', '/api/devices', { token: bob.token, body: { client_id: tabletId, platform: 'android' } }), 409, 'CLIENT_ID_TAKEN', "another user registering Alice's live device")
    t.equal((await db.prisma.device.findUnique({ where: { clientId: tabletId } }))!.userId, alice.user_id, 'it stays hers')
  })
}

t.test('embedded profile (SQLite, in-memory broker)', async (t) => {
  await devicesSuite(t, await startTestChime(t))
})

t.test('production stores (MariaDB + Redis) in one process', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  await devicesSuite(t, await startTestChime(t, { databaseUrl, redisUrl: redis.url }))
})

t.test('a failing device write never fails the CONNECT; a failing check refuses with CONNACK 3', async (t) => {
  const tokens = createTokenService('x'.repeat(40), 60)
  const token = await tokens.issue({ userId: 'U1', username: 'u1', sessionId: 'S1' })
  const broker = { clients: {} } as unknown as Aedes
  const run = (registry: ConnectRegistry): Promise<{ err: AuthenticateError | null; ok: boolean | null; client: Client }> => {
    const client = { id: 'dev-1' } as unknown as Client
    return new Promise((resolve) => createAuthenticate(tokens, () => broker, registry)(client, 'u1', Buffer.from(token), (err, ok) => resolve({ err, ok, client })))
  }
  let recorded = 0
  const failing = await run({
    checkConnect: async () => ({ verdict: null, device: null }),
    recordNewDevice: async () => {
      recorded++
      throw new Error('disk full')
    },
  })
  t.equal(recorded, 1, 'the device write was attempted')
  t.equal(failing.ok, true, 'the CONNECT is accepted anyway')
  t.equal(sessionOf(failing.client)?.sessionId, 'S1', 'the connection knows its sign-in')
  const down = await run({
    checkConnect: async () => {
      throw new Error('database down')
    },
    recordNewDevice: async () => {},
  })
  t.equal(down.ok, false)
  t.equal(down.err?.returnCode, 3, 'a sign-in that cannot be checked: server unavailable')
  for (const verdict of ['session-revoked', 'user-deleted', 'device-revoked'] as const) {
    const refused = await run({ checkConnect: async () => ({ verdict, device: null }), recordNewDevice: async () => {
        t.fail('no write for a refused CONNECT')
      } })
    t.equal(refused.err?.returnCode, 5, `${verdict}: not authorized`)
  }
})
