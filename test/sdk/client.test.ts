// The SDK against a real running Chime, on both profiles: deltas arrive once each and in
// order across network cuts in the middle of a burst (a TCP proxy drops the connection), the
// outbox posts each message exactly once even when its replies are lost or the app restarts,
// a client far behind is told to restore instead of getting a silent gap, and refusals and
// timeouts are ChatErrors with their codes.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ChatError, ChimeClient, ChimeHttp, MemoryStorage, type ClientStorage, type DeltaJson, type Session } from '../../clients/sdk/src/index.ts'
import { FileStorage } from '../../clients/sdk/src/node.ts'
import type { TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/wait.ts'
import { defer } from '../helpers/cleanup.ts'

let n = 0
async function account(chime: TestChime): Promise<Session> {
  return new ChimeHttp({ baseUrl: chime.baseUrl }).register(`sdk${process.pid}x${++n}`, 'correct horse battery')
}

/** A client through `proxy` (or straight to the broker), closed in teardown. */
async function client(t: Test, chime: TestChime, session: Session, opts: { proxy?: TcpProxy; storage?: ClientStorage; clientId?: string; webSocket?: boolean } = {}): Promise<ChimeClient> {
  const port = opts.proxy?.port ?? chime.running.mqttPort!
  const c = new ChimeClient({
    baseUrl: chime.baseUrl, session, storage: opts.storage ?? new MemoryStorage(),
    // Without mqttUrl the SDK goes to ws://<API host>/mqtt, as in a browser.
    ...(opts.webSocket === true ? {} : { mqttUrl: `mqtt://127.0.0.1:${port}` }),
    reconnect: { minDelayMs: 20, maxDelayMs: 200 }, requestTimeoutMs: 10_000, ...(opts.clientId !== undefined ? { clientId: opts.clientId } : {}),
  })
  defer(t, () => c.close())
  await c.connect()
  return c
}

/** Every delta a client emits for a channel, in emission order. */
function received(c: ChimeClient, channelId: string): DeltaJson[] {
  const out: DeltaJson[] = []
  c.on('delta', (d) => {
    if (d.channel_id === channelId) out.push(d)
  })
  return out
}

async function run(t: Test, chime: TestChime): Promise<void> {
  const [ann, bob] = await Promise.all([account(chime), account(chime)])
  const annHttp = new ChimeHttp({ baseUrl: chime.baseUrl, token: ann.token })
  const bobHttp = new ChimeHttp({ baseUrl: chime.baseUrl, token: bob.token })
  const server = await annHttp.post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'sdk' })
  await bobHttp.post(`/api/servers/${server.server_id}/join`)
  const channel = { channel_id: server.channel_id, server_id: server.server_id }
  const seqsOf = (ds: readonly DeltaJson[]): number[] => ds.map((d) => Number(d.seq))
  const upTo = (k: number): number[] => Array.from({ length: k }, (_, i) => i + 1)

  await t.test('posts through the outbox reach a watcher once each, in order (the watcher over WebSocket, as in a browser)', async (t) => {
    const a = await client(t, chime, ann)
    const b = await client(t, chime, bob, { webSocket: true })
    const got = received(b, channel.channel_id)
    await b.watch(channel)
    const sent: string[] = []
    a.on('sent', (s) => sent.push(s.client_msg_id))
    const items = []
    for (let i = 1; i <= 20; i++) items.push(await a.send(channel.channel_id, `hello ${i}`))
    t.equal(a.pendingPosts().length > 0 || sent.length === 20, true, 'posts are in the outbox until confirmed')
    await waitFor('20 deltas at bob', () => (got.length >= 20 ? true : undefined))
    await waitFor('20 confirmations at ann', () => (sent.length >= 20 ? true : undefined))
    t.same(seqsOf(got), upTo(20), 'seq 1..20, each once')
    t.same(got.map((d) => d.content), items.map((_, i) => `hello ${i + 1}`), 'in the order they were written')
    t.same(got.map((d) => d.client_msg_id), items.map((i) => i.client_msg_id), 'each delta carries the client_msg_id of its outbox item (the local echo is replaced)')
    t.same(a.pendingPosts(), [], 'the outbox is empty')
    t.equal(b.watermark(channel.channel_id), '20')
  })

  await t.test('a network cut in the middle of a burst: nothing lost, nothing doubled, order kept', async (t) => {
    const base = Number((await bobHttp.request<{ last_seq: string }>('RESTORE_HISTORY', { channel_id: channel.channel_id, limit: 1 })).last_seq)
    const annProxy = await startTcpProxy(t, chime.running.mqttPort!)
    const bobProxy = await startTcpProxy(t, chime.running.mqttPort!)
    const a = await client(t, chime, ann, { proxy: annProxy })
    const b = await client(t, chime, bob, { proxy: bobProxy })
    await b.resetWatermark(channel.channel_id, String(base))
    const got = received(b, channel.channel_id)
    await b.watch(channel)
    const confirmed = new Map<string, number>()
    a.on('sent', (s) => confirmed.set(s.client_msg_id, (confirmed.get(s.client_msg_id) ?? 0) + 1))
    const statuses: string[] = []
    b.on('status', (s) => statuses.push(s))
    const M = 150
    const ids: string[] = []
    for (let i = 1; i <= M; i++) {
      ids.push((await a.send(channel.channel_id, `burst ${i}`)).client_msg_id)
      // Both sides lose their network twice while the burst is under way: posts are in
      // flight, some answered, some not, and bob is receiving.
      if (i === 50 || i === 110) {
        const answered = i === 50 ? 30 : 90
        await waitFor(`${answered} confirmations`, () => (confirmed.size >= answered ? true : undefined), 20_000)
        annProxy.cut()
        bobProxy.cut()
      }
    }
    await waitFor(`${M} confirmations`, () => (confirmed.size >= M ? true : undefined), 30_000)
    await waitFor(`${M} deltas at bob`, () => (got.length >= M ? true : undefined), 30_000)
    t.ok(annProxy.connections >= 3 && bobProxy.connections >= 3, `both reconnected after each cut (${annProxy.connections}, ${bobProxy.connections} connections)`)
    t.ok(statuses.includes('offline') && statuses.at(-1) === 'online', 'bob saw itself go offline and come back')
    t.same(seqsOf(got), upTo(M).map((k) => base + k), 'bob: every seq once, in order, no gap')
    t.same(got.map((d) => d.client_msg_id), ids, "bob: ann's posts in the order she wrote them")
    t.ok([...confirmed.values()].every((k) => k === 1), 'each post confirmed once')
    const log = await bobHttp.request<{ deltas: DeltaJson[] }>('RESTORE_HISTORY', { channel_id: channel.channel_id, after_seq: String(base), limit: 1000 })
    t.same(log.deltas.map((d) => d.client_msg_id), ids, 'the log holds each post exactly once')
  })

  await t.test('the outbox survives a restart: a post written offline is sent once by the next run', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'chime-sdk-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const file = join(dir, 'state.json')
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    const first = await client(t, chime, ann, { proxy, storage: new FileStorage(file) })
    proxy.hold()
    proxy.cut()
    await waitFor('the first run to be offline', () => (first.status !== 'online' ? true : undefined))
    const item = await first.send(channel.channel_id, 'written on the train')
    t.same(first.pendingPosts().map((p) => [p.client_msg_id, p.state]), [[item.client_msg_id, 'pending']], 'pending while offline')
    await first.close()
    proxy.release()

    const second = await client(t, chime, ann, { storage: new FileStorage(file) })
    t.equal(second.id, first.id, 'the same device (client id) after the restart')
    const sent = await new Promise<{ client_msg_id: string; delta: DeltaJson }>((resolve) => {
      second.once('sent', resolve)
      if (second.pendingPosts().length === 0) resolve({ client_msg_id: item.client_msg_id, delta: { client_msg_id: item.client_msg_id } as DeltaJson })
    })
    t.equal(sent.client_msg_id, item.client_msg_id, 'the next run sent it')
    await waitFor('the outbox to empty', () => (second.pendingPosts().length === 0 ? true : undefined))
    const log = await bobHttp.request<{ deltas: DeltaJson[] }>('RESTORE_HISTORY', { channel_id: channel.channel_id, after_seq: '0', limit: 1000 })
    t.equal(log.deltas.filter((d) => d.client_msg_id === item.client_msg_id).length, 1, 'it is in the log once')
  })

  await t.test('a channel watched while offline is subscribed when the kept session comes back', async (t) => {
    const other = await annHttp.post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'watched offline' })
    await bobHttp.post(`/api/servers/${other.server_id}/join`)
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    const b = await client(t, chime, bob, { proxy })
    proxy.hold()
    proxy.cut()
    await waitFor('bob to be offline', () => (b.status !== 'online' ? true : undefined))
    const got = received(b, other.channel_id)
    await b.watch({ channel_id: other.channel_id, server_id: other.server_id })
    proxy.release()
    await waitFor('bob to be back', () => (b.status === 'online' ? true : undefined), 10_000)
    await annHttp.request('POST_MESSAGE', { channel_id: other.channel_id, content: 'are you there?' })
    await waitFor('the post to reach bob live', () => (got.length >= 1 ? true : undefined))
    t.same(got.map((d) => d.content), ['are you there?'])
  })

  await t.test('refusals are ChatErrors with their codes; a post refused for good is marked failed, not retried', async (t) => {
    const a = await client(t, chime, ann)
    await t.rejects(a.request('SYNC', { channel_id: 'not an id' }), { code: 'INVALID_FIELD' }, 'a bad request: INVALID_FIELD')
    await t.rejects(a.request('NO_SUCH_ACTION', {}), { code: 'UNKNOWN_ACTION' })
    const thief = new ChimeClient({ baseUrl: chime.baseUrl, session: bob, mqttUrl: `mqtt://127.0.0.1:${chime.running.mqttPort!}`, clientId: a.id })
    defer(t, () => thief.close())
    await t.rejects(thief.connect(), { code: 'CLIENT_ID_TAKEN' }, "connecting with another user's client id is refused at once, not retried forever")
    const failed = new Promise<ChatError>((resolve) => a.once('send-failed', (f) => resolve(f.error)))
    const item = await a.send('NOSUCHCHANNEL0000000000001', 'into nothing')
    const err = await failed
    t.ok(err instanceof ChatError, 'a ChatError')
    t.equal(a.pendingPosts().find((p) => p.client_msg_id === item.client_msg_id)?.state, 'failed', 'it stays in the outbox as failed')
    await a.discard(item.client_msg_id)
    t.same(a.pendingPosts(), [], 'until discarded')
  })

  await t.test('no reply in time: REQUEST_TIMEOUT', async (t) => {
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    const c = new ChimeClient({ baseUrl: chime.baseUrl, session: bob, mqttUrl: `mqtt://127.0.0.1:${proxy.port}`, requestTimeoutMs: 300, reconnect: { minDelayMs: 5_000, maxDelayMs: 5_000 } })
    defer(t, () => c.close())
    await c.connect()
    proxy.hold()
    proxy.cut()
    await t.rejects(c.request('SYNC', { channel_id: channel.channel_id, client_seq: '0' }), { code: 'REQUEST_TIMEOUT' })
  })
}

t.test('SDK client', async (t) => {
  await eachProfile(t, 'SDK client', run)

  await eachProfile(t, 'a client too far behind is told to restore, and continues after resetWatermark', async (t, chime) => {
    const ann = await account(chime)
    const http = new ChimeHttp({ baseUrl: chime.baseUrl, token: ann.token })
    const server = await http.post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'far' })
    for (let i = 0; i < 30; i++) await http.request('POST_MESSAGE', { channel_id: server.channel_id, content: `m${i}` })
    const c = await client(t, chime, ann)
    const restore = new Promise<{ channel_id: string }>((resolve) => c.once('restore-required', resolve))
    const got = received(c, server.channel_id)
    await c.watch({ channel_id: server.channel_id, server_id: server.server_id })
    t.equal((await restore).channel_id, server.channel_id, 'restore-required for the channel')
    t.same(got, [], 'and nothing delivered with a gap')
    await c.resetWatermark(server.channel_id, '30')
    await c.send(server.channel_id, 'after the restore')
    await waitFor('the next delta', () => (got.length >= 1 ? true : undefined))
    t.same(got.map((d) => [d.seq, d.content]), [['31', 'after the restore']], 'live deltas continue after the restored seq')
  }, { syncMaxBehind: 10 })
})
