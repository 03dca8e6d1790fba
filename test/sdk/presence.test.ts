// Presence through the SDK against a real running Chime, on both profiles: a watcher sees a
// co-member online and its status changes; a connection that drops without a word (its
// network cut) turns offline through the MQTT will; a user who shares nothing with the
// watcher stays unknown without hurting the connection; a watcher whose session was lost
// asks for the presence again when it reconnects; a second device of the same user keeps it
// online when the first one drops; close() says offline.
import t, { type Test } from 'tap'
import { ChimeClient, ChimeHttp, MemoryStorage, type PresenceEvent, type Session } from '../../clients/sdk/src/index.ts'
import type { TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/wait.ts'
import { defer } from '../helpers/cleanup.ts'
import type { IClientOptions } from 'mqtt'

let n = 0
async function account(chime: TestChime): Promise<Session> {
  return new ChimeHttp({ baseUrl: chime.baseUrl }).register(`pres${process.pid}x${++n}`, 'correct horse battery')
}

async function client(t: Test, chime: TestChime, session: Session, opts: { proxy?: TcpProxy; mqtt?: Partial<IClientOptions>; presence?: boolean } = {}): Promise<ChimeClient> {
  const c = new ChimeClient({
    baseUrl: chime.baseUrl, session, storage: new MemoryStorage(),
    mqttUrl: `mqtt://127.0.0.1:${opts.proxy?.port ?? chime.running.mqttPort!}`,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 }, requestTimeoutMs: 10_000,
    ...(opts.mqtt !== undefined ? { mqtt: opts.mqtt } : {}),
    ...(opts.presence !== undefined ? { presence: opts.presence } : {}),
  })
  defer(t, () => c.close())
  await c.connect()
  return c
}

/** Every presence event a client emits for a user, in order. */
function seen(c: ChimeClient, userId: string): PresenceEvent[] {
  const out: PresenceEvent[] = []
  c.on('presence', (p) => {
    if (p.user_id === userId) out.push(p)
  })
  return out
}

/** Waits until the client's latest known presence of userId has this status. */
function statusOf(c: ChimeClient, userId: string, status: string, what: string, timeoutMs = 10_000): Promise<PresenceEvent> {
  return waitFor(what, () => {
    const p = c.presenceOf(userId)
    return p?.status === status ? p : undefined
  }, timeoutMs)
}

async function run(t: Test, chime: TestChime): Promise<void> {
  const [ann, bob, cyd] = await Promise.all([account(chime), account(chime), account(chime)])
  const annHttp = new ChimeHttp({ baseUrl: chime.baseUrl, token: ann.token })
  const bobHttp = new ChimeHttp({ baseUrl: chime.baseUrl, token: bob.token })
  const server = await annHttp.post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'presence' })
  await bobHttp.post(`/api/servers/${server.server_id}/join`)

  await t.test('a co-member sees her online, her changes, and offline by the will when her network drops', async (t) => {
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    const a = await client(t, chime, ann, { proxy })
    const b = await client(t, chime, bob)
    const events = seen(b, ann.user_id)
    t.same(await b.watchPresence([ann.user_id]), [], 'the watch is granted')
    await statusOf(b, ann.user_id, 'online', 'ann online at bob')
    t.same(events[0], { user_id: ann.user_id, status: 'online' }, 'a typed presence event')

    await a.setPresence('away', 'at lunch')
    const away = await statusOf(b, ann.user_id, 'away', 'ann away at bob')
    t.equal(away.text, 'at lunch', 'with its text')
    await t.rejects(a.setPresence('asleep' as 'away'), { code: 'INVALID_FIELD' }, 'an unknown status is refused before it is sent')

    // Her network goes without a DISCONNECT (and stays away): the broker publishes the will.
    proxy.hold()
    proxy.cut()
    await statusOf(b, ann.user_id, 'offline', 'the will at bob')
    t.pass('bob sees ann offline after her connection dropped')
    const later = await client(t, chime, bob)
    await later.watchPresence([ann.user_id])
    await statusOf(later, ann.user_id, 'offline', 'the retained offline at a newcomer')
    t.pass('offline is retained for whoever watches next')

    proxy.release()
    await waitFor('ann back', () => (a.status === 'online' ? true : undefined), 10_000)
    const back = await statusOf(b, ann.user_id, 'away', 'ann back at bob')
    t.equal(back.text, 'at lunch', 'a reconnect publishes the presence the device chose again')

    await b.unwatchPresence([ann.user_id])
    t.equal(b.presenceOf(ann.user_id), undefined, 'unwatching forgets it')
    const count = events.length
    await a.setPresence('online')
    await statusOf(later, ann.user_id, 'online', 'the change at the other watcher')
    t.equal(events.length, count, 'nothing more reaches the client that unwatched')
  })

  await t.test('a user who shares no server cannot be watched: unknown, and the connection carries on', async (t) => {
    await client(t, chime, ann)
    const c = await client(t, chime, cyd)
    const b = await client(t, chime, bob)
    t.same(await c.watchPresence([ann.user_id, cyd.user_id]), [ann.user_id], 'the broker refused the stranger (SUBACK 0x80); her own is granted')
    t.equal(c.presenceOf(ann.user_id), undefined, 'the stranger stays unknown')
    t.equal(c.status, 'online', 'still online')
    const list = await c.request<{ chats: unknown[] }>('LIST_CHATS', {})
    t.ok(Array.isArray(list.chats), 'and requests are still answered')
    // Watched users are subscribed again on every connect, together with the inbox: a
    // refusal among them must not keep the client from coming online.
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    const d = new ChimeClient({ baseUrl: chime.baseUrl, session: cyd, storage: new MemoryStorage(), mqttUrl: `mqtt://127.0.0.1:${proxy.port}`, reconnect: { minDelayMs: 20, maxDelayMs: 200 }, mqtt: { clean: true } })
    defer(t, () => d.close())
    await d.connect()
    await d.watchPresence([ann.user_id, bob.user_id])
    proxy.cut()
    await waitFor('the client back online with a refused watch among its filters', () => (d.status === 'online' && proxy.connections >= 2 ? true : undefined), 10_000)
    t.equal(d.presenceOf(bob.user_id), undefined, 'bob, who shares nothing with cyd either, stays unknown')
    t.ok(b.status === 'online', 'while he is online')
  })

  await t.test('a watcher whose session was lost watches again when it reconnects', async (t) => {
    const a = await client(t, chime, ann)
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    // clean: true: the broker keeps nothing of the watcher while it is away, so only a
    // SUBSCRIBE after the reconnect brings the presence.
    const b = await client(t, chime, bob, { proxy, mqtt: { clean: true } })
    await b.watchPresence([ann.user_id])
    await statusOf(b, ann.user_id, 'online', 'ann online')
    proxy.hold()
    proxy.cut()
    await waitFor('bob offline', () => (b.status !== 'online' ? true : undefined))
    await a.setPresence('away', 'changed while bob was away')
    proxy.release()
    const p = await statusOf(b, ann.user_id, 'away', 'the retained presence after the reconnect', 15_000)
    t.equal(p.text, 'changed while bob was away', 'bob sees what changed while he was away')
    await a.setPresence('online')
    await statusOf(b, ann.user_id, 'online', 'live changes after the reconnect')
    t.pass('and follows the changes live again')
  })

  await t.test("a second device keeps the user online when the first one drops; close() says offline", async (t) => {
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    const phone = await client(t, chime, ann, { proxy })
    const laptop = await client(t, chime, ann)
    const b = await client(t, chime, bob)
    const events = seen(b, ann.user_id)
    await b.watchPresence([ann.user_id])
    await statusOf(b, ann.user_id, 'online', 'ann online')
    proxy.hold()
    proxy.cut()
    await waitFor('the phone offline', () => (phone.status !== 'online' ? true : undefined))
    // The will says offline; the laptop, still connected, says online again at once.
    await waitFor('offline then online again', () => (events.some((e, i) => e.status === 'offline' && events.slice(i + 1).some((x) => x.status === 'online')) ? true : undefined))
    t.equal(b.presenceOf(ann.user_id)?.status, 'online', 'ann is online while a device of hers is')
    await phone.close()
    await laptop.close()
    await statusOf(b, ann.user_id, 'offline', 'offline after the last device closed')
    t.pass('closing the last device says offline')
    const script = await client(t, chime, ann, { presence: false })
    t.equal(script.status, 'online', 'a client with presence: false connects')
    await b.request('LIST_CHATS', {})
    t.equal(b.presenceOf(ann.user_id)?.status, 'offline', 'without showing the user online')
  })
}

void eachProfile(t, 'SDK presence', run)
