// History (seed 000): partitions sealed into gzip NDJSON archives in object storage,
// RESTORE_HISTORY handing out their links then paging the rest, SYNC's explicit verdicts
// (recovered / has_more / restore_required), the restore rate limit, and bad input.
// Embedded profile (SQLite, files under the data dir, links signed by the API) and
// production (MariaDB + Redis, an S3-compatible server).
import t from 'tap'
import type { Test } from 'tap'
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import type { Config } from '../../config/schema.ts'
import type { ArchivedPartitionJson, DeltaJson, RestoreHistoryResponseData, SyncResponseData } from '../../clients/sdk/src/protocol.ts'
import { startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { startS3 } from '../helpers/s3.ts'
import { waitFor } from '../helpers/wait.ts'

/** Runs fn on the embedded profile and on production with an S3-compatible server. */
async function eachStore(t: Test, name: string, overrides: Partial<Config>, fn: (t: Test, chime: TestChime) => Promise<void>): Promise<void> {
  await t.test(`${name} [embedded, local store]`, async (t) => fn(t, await startTestChime(t, overrides)))
  await t.test(`${name} [production, S3]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    const s3 = await startS3(t)
    await fn(t, await startTestChime(t, { ...overrides, databaseUrl, redisUrl: redis.url, s3Endpoint: s3.endpoint, s3AccessKey: s3.accessKey, s3SecretKey: s3.secretKey }))
  })
}

interface Env<T> {
  status: number
  body: { action: string; data: T }
}

async function call<T>(chime: TestChime, path: string, user: TestUser, action: string, data: object): Promise<Env<T>> {
  return chime.http<{ action: string; data: T }>('POST', path, { token: user.token, body: { action, data } })
}

async function postMany(chime: TestChime, user: TestUser, channelId: string, n: number, prefix: string): Promise<void> {
  const list = Array.from({ length: n }, (_, i) => ({ action: 'POST_MESSAGE', request_id: `${prefix}${i}`, data: { channel_id: channelId, content: `${prefix} ${i}`, client_msg_id: `${prefix}-${i}` } }))
  const res = await chime.http<{ action: string }[]>('POST', '/api/requests', { token: user.token, body: list })
  if (res.status !== 200 || res.body.some((r) => r.action !== 'POST_MESSAGE_RESPONSE')) throw new Error(`posting failed: ${JSON.stringify(res.body).slice(0, 300)}`)
}

interface Setup {
  alice: TestUser
  bob: TestUser
  eve: TestUser
  channelId: string
  serverId: string
  /** Registers a user and lets it join the private server. */
  member(): Promise<TestUser>
}

/** Alice's private server with Bob in it; Eve is not a member. */
async function setup(chime: TestChime): Promise<Setup> {
  const alice = await chime.register()
  const eve = await chime.register()
  const created = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: alice.token, body: { name: 'History', is_public: false } })
  const member = async (): Promise<TestUser> => {
    const user = await chime.register()
    const invite = await chime.http<{ code: string }>('POST', `/api/servers/${created.body.server_id}/invites`, { token: alice.token, body: {} })
    const joined = await chime.http('POST', `/api/invites/${invite.body.code}/accept`, { token: user.token, body: {} })
    if (joined.status !== 200) throw new Error(`could not join: ${JSON.stringify(joined.body)}`)
    return user
  }
  return { alice, bob: await member(), eve, channelId: created.body.channel_id, serverId: created.body.server_id, member }
}

/** Every delta of the channel from the database, by paged SYNC. */
async function syncAll(chime: TestChime, user: TestUser, channelId: string): Promise<DeltaJson[]> {
  const out: DeltaJson[] = []
  let seq = '0'
  for (;;) {
    const r = await call<SyncResponseData>(chime, '/api/sync/', user, 'SYNC', { channel_id: channelId, client_seq: seq, limit: 1000 })
    out.push(...r.body.data.missing_deltas)
    seq = r.body.data.next_client_seq!
    if (!r.body.data.has_more) return out
  }
}

/** Downloads an archive link, checks its size and checksum, and parses it. */
async function fetchArchive(t: Test, chime: TestChime, p: ArchivedPartitionJson): Promise<{ header: Record<string, unknown>; deltas: DeltaJson[] }> {
  const res = await fetch(new URL(p.url, chime.baseUrl))
  t.equal(res.status, 200, `partition ${p.partition_no}: the link serves the file`)
  const bytes = Buffer.from(await res.arrayBuffer())
  t.equal(String(bytes.length), p.size, 'of the announced size')
  t.equal(createHash('sha256').update(bytes).digest('hex'), p.sha256, 'with the announced SHA-256')
  const lines = gunzipSync(bytes).toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  return { header: lines[0]!, deltas: lines.slice(1) as unknown as DeltaJson[] }
}

const SMALL = { partitionMaxDeltas: 10, archiveIntervalMs: 20 } satisfies Partial<Config>

t.test('sealed partitions become gzip NDJSON archives, and RESTORE links them then pages the rest', async (t) => {
  await eachStore(t, 'archive and restore', SMALL, async (t, chime) => {
    const { alice, bob, channelId, serverId } = await setup(chime)
    await postMany(chime, alice, channelId, 33, 'm') // seq 1..33 after the server's own deltas
    const all = await syncAll(chime, bob, channelId)
    const lastSeq = Number(all.at(-1)!.seq)
    t.same(all.map((d) => Number(d.seq)), Array.from({ length: lastSeq }, (_, i) => i + 1), 'SYNC: gapless 1..last')
    const sealed = Math.floor((lastSeq - 1) / 10) // the open partition holds the rest
    const restored = await waitFor('every sealed partition archived', async () => {
      const r = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId })
      return r.body.data.partitions.length === sealed ? r.body.data : undefined
    })
    t.same(restored.partitions.map((p) => [p.partition_no, p.start_seq, p.end_seq, p.delta_count]), Array.from({ length: sealed }, (_, i) => [i + 1, String(i * 10 + 1), String(i * 10 + 10), 10]), 'the sealed partitions, in order')
    t.same(restored.deltas, all.slice(sealed * 10), 'then the open partition, as SYNC shows it')
    t.equal(restored.has_more, false)
    t.equal(restored.next_after_seq, String(lastSeq))
    t.equal(restored.last_seq, String(lastSeq))
    const fromFiles: DeltaJson[] = []
    for (const p of restored.partitions) {
      t.ok(Date.parse(p.expires_at) > Date.now(), 'the link expires in the future')
      const { header, deltas } = await fetchArchive(t, chime, p)
      t.match(header, { format: 'chime-history/1', channel_id: channelId, server_id: serverId, partition_no: p.partition_no, start_seq: p.start_seq, end_seq: p.end_seq, delta_count: 10 }, 'the header describes the partition')
      fromFiles.push(...deltas)
    }
    t.same([...fromFiles, ...restored.deltas], all, 'archives + page = the whole history, delta for delta')

    // Range requests work on the links (resumable downloads).
    const first = restored.partitions[0]!
    const ranged = await fetch(new URL(first.url, chime.baseUrl), { headers: { range: 'bytes=0-9' } })
    t.equal(ranged.status, 206, 'a Range request answers 206')
    t.equal((await ranged.arrayBuffer()).byteLength, 10, 'with just those bytes')

    // Starting inside a sealed partition: the page ends with that partition; the next request links the rest.
    const mid = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId, after_seq: '5' })
    t.same(mid.body.data.partitions, [], 'no link for a partition the client holds in part')
    t.same(mid.body.data.deltas.map((d) => d.seq), ['6', '7', '8', '9', '10'], 'the page ends where the partition does')
    t.equal(mid.body.data.has_more, true)
    const next = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId, after_seq: mid.body.data.next_after_seq })
    t.same(next.body.data.partitions.map((p) => p.start_seq), Array.from({ length: sealed - 1 }, (_, i) => String(i * 10 + 11)), 'then links from the next partition on')

    // links: false pages everything from the database.
    const paged = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId, links: false, limit: 1000 })
    t.same(paged.body.data.partitions, [])
    t.same(paged.body.data.deltas, all, 'links: false pages the whole log')

    // Over MQTT too.
    const client = await chime.connect(bob)
    const { request } = await import('../helpers/chime.ts')
    const reply = await request(client, bob.user_id, 'RESTORE_HISTORY', { channel_id: channelId })
    t.equal(reply.action, 'RESTORE_HISTORY_RESPONSE')
    t.equal((reply.data as RestoreHistoryResponseData).partitions.length, sealed, 'the same links over MQTT')
  })
})

t.test('SYNC says restore_required when the client is too far behind', async (t) => {
  await eachStore(t, 'sync verdicts', { syncMaxBehind: 20 }, async (t, chime) => {
    const { alice, bob, channelId, serverId } = await setup(chime)
    const before = await call<SyncResponseData>(chime, '/api/sync/', bob, 'SYNC', { channel_id: channelId, client_seq: '0' })
    const base = Number(before.body.data.next_client_seq)
    const baseId = before.body.data.server_delta_id
    await postMany(chime, alice, channelId, 30, 'v')
    const far = await call<SyncResponseData>(chime, '/api/sync/', bob, 'SYNC', { channel_id: channelId, client_seq: String(base) })
    t.equal(far.status, 200)
    t.match(far.body.data, { restore_required: true, recovered: false, has_more: false, missing_deltas: [], next_client_seq: String(base) }, '30 behind with a bound of 20: restore_required, no deltas')
    t.same(far.body.data.behind, [{ channel_id: channelId, missing: '30' }], 'naming the channel and how far behind it is')
    const near = await call<SyncResponseData>(chime, '/api/sync/', bob, 'SYNC', { channel_id: channelId, client_seq: String(base + 10) })
    t.match(near.body.data, { restore_required: false, recovered: true, has_more: false }, '20 behind: recovered')
    t.equal(near.body.data.missing_deltas.length, 20)

    // By delta id, across a server and everything: paged below the bound, restore_required above it.
    const serverWide = await call<SyncResponseData>(chime, '/api/sync/', bob, 'SYNC', { server_id: serverId, client_delta_id: baseId, limit: 5 })
    t.match(serverWide.body.data, { restore_required: true, missing_deltas: [] }, 'server-wide, 30 missed: restore_required (counted past the page)')
    t.same(serverWide.body.data.behind, [{ channel_id: channelId, missing: '21' }], 'counted up to the bound + 1')
    const everything = await call<SyncResponseData>(chime, '/api/sync/', bob, 'SYNC', { client_delta_id: baseId })
    t.match(everything.body.data, { restore_required: true }, 'everything, 30 missed, one page: restore_required too')
    const recent = String(BigInt(far.body.data.server_delta_id) - 15n)
    let cursor = recent
    const got: DeltaJson[] = []
    for (let page = 0; page < 10; page++) {
      const r = await call<SyncResponseData>(chime, '/api/sync/', bob, 'SYNC', { server_id: serverId, client_delta_id: cursor, limit: 4 })
      t.equal(r.body.data.restore_required, false)
      got.push(...r.body.data.missing_deltas)
      cursor = r.body.data.next_client_delta_id
      if (r.body.data.recovered) break
      t.equal(r.body.data.has_more, true, 'has_more until recovered')
    }
    t.equal(got.length, 15, '15 behind, paged by 4: all of them')
    t.equal(cursor, far.body.data.server_delta_id, 'and the cursor ends at the server delta id')
  })
})

t.test('RESTORE is rate limited with a retry time; refusals change nothing', async (t) => {
  await eachStore(t, 'restore rate limit', { ...SMALL, restoreBurst: 7, restoreRatePerSecond: 1, restoreBusyDeltasPerSecond: 10_000_000 }, async (t, chime) => {
    const { alice, bob, channelId, member } = await setup(chime)
    const carol = await member()
    await postMany(chime, alice, channelId, 25, 'r')
    // Alice's budget is spent on waiting (her refused polls are part of the test too).
    await waitFor('two partitions archived', async () => {
      const r = await call<RestoreHistoryResponseData>(chime, '/api/restore/', alice, 'RESTORE_HISTORY', { channel_id: channelId })
      return r.body.data.partitions?.length === 2 ? true : undefined
    })
    // 1 + 2 links + the open page's 5 deltas: 3.005 units of bob's 7 (traffic not counted here).
    const ok = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId })
    t.equal(ok.status, 200)
    const second = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId })
    t.equal(second.status, 200, 'a second restore fits the burst')
    const flood = await call<{ code: string; details?: { retry_after_ms?: number } }>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId })
    t.equal(flood.status, 429)
    t.equal(flood.body.data.code, 'RATE_LIMITED', 'the third is refused with RATE_LIMITED')
    t.ok((flood.body.data.details?.retry_after_ms ?? 0) > 0, `with a retry time (${flood.body.data.details?.retry_after_ms} ms)`)
    const sync = await call<SyncResponseData>(chime, '/api/sync/', bob, 'SYNC', { channel_id: channelId, client_seq: '0' })
    t.equal(sync.status, 200, 'SYNC is not limited by the restore budget')
    const other = await call<RestoreHistoryResponseData>(chime, '/api/restore/', carol, 'RESTORE_HISTORY', { channel_id: channelId })
    t.equal(other.status, 200, "another user's budget is its own")
    const wait = flood.body.data.details!.retry_after_ms!
    await waitFor('the budget refills', async () => {
      const again = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: channelId })
      return again.status === 200 ? true : undefined
    }, wait + 5000)
  })
})

t.test('bad SYNC and RESTORE input gets coded errors and changes nothing', async (t) => {
  await eachStore(t, 'bad input', {}, async (t, chime) => {
    const { alice, eve, channelId, serverId } = await setup(chime)
    await postMany(chime, alice, channelId, 3, 'b')
    const before = await call<SyncResponseData>(chime, '/api/sync/', alice, 'SYNC', { channel_id: channelId, client_seq: '0' })
    const cases: [string, string, object, TestUser, string][] = [
      ['/api/sync/', 'SYNC', { client_delta_id: '99999999999' }, alice, 'INVALID_CURSOR'],
      ['/api/sync/', 'SYNC', { client_delta_id: '-1' }, alice, 'INVALID_CURSOR'],
      ['/api/sync/', 'SYNC', { client_delta_id: 'abc' }, alice, 'INVALID_CURSOR'],
      ['/api/sync/', 'SYNC', { client_delta_id: 1.5 }, alice, 'INVALID_CURSOR'],
      ['/api/sync/', 'SYNC', { channel_id: channelId, client_seq: '999999' }, alice, 'INVALID_CURSOR'],
      ['/api/sync/', 'SYNC', { client_seq: '1' }, alice, 'INVALID_FIELD'],
      ['/api/sync/', 'SYNC', { channel_id: channelId, client_seq: '0' }, eve, 'CHANNEL_NOT_FOUND'],
      ['/api/sync/', 'SYNC', { server_id: serverId }, eve, 'SERVER_NOT_FOUND'],
      ['/api/sync/', 'SYNC', { limit: 0 }, alice, 'INVALID_FIELD'],
      ['/api/restore/', 'RESTORE_HISTORY', {}, alice, 'INVALID_FIELD'],
      ['/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId, after_seq: '-3' }, alice, 'INVALID_CURSOR'],
      ['/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId, after_seq: '1000' }, alice, 'INVALID_CURSOR'],
      ['/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId, after_seq: { $gt: 0 } }, alice, 'INVALID_CURSOR'],
      ['/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId, links: 'yes' }, alice, 'INVALID_FIELD'],
      ['/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId }, eve, 'CHANNEL_NOT_FOUND'],
      ['/api/restore/', 'RESTORE_HISTORY', { channel_id: 'NOSUCHCHANNEL' }, alice, 'CHANNEL_NOT_FOUND'],
    ]
    for (const [path, action, data, who, code] of cases) {
      const r = await call<{ code: string }>(chime, path, who, action, data)
      t.equal(r.body.data.code, code, `${action} ${JSON.stringify(data)} by ${who === eve ? 'a stranger' : 'a member'}: ${code}`)
      t.ok(r.status >= 400 && r.status < 500, 'a 4xx status')
    }
    const after = await call<SyncResponseData>(chime, '/api/sync/', alice, 'SYNC', { channel_id: channelId, client_seq: '0' })
    t.same(after.body.data, before.body.data, 'the log is unchanged')
  })
})

t.test('a purge of expired messages rewrites the archive that held them and removes the old file', async (t) => {
  await eachStore(t, 'archive after purge', { ...SMALL, expirySweepMs: 50 }, async (t, chime) => {
    const alice = await chime.register()
    const bob = await chime.register()
    const chat = await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: alice.token, body: { user_ids: [bob.user_id] } })
    const chatId = chat.body.chat_id
    const list = Array.from({ length: 12 }, (_, i) => ({ action: 'POST_MESSAGE', data: { channel_id: chatId, content: `secret ${i}`, ...(i < 3 ? { expires_in: 1 } : {}) } }))
    const posted = await chime.http<{ action: string; data: { delta: DeltaJson } }[]>('POST', '/api/requests', { token: alice.token, body: list })
    t.ok(posted.body.every((r) => r.action === 'POST_MESSAGE_RESPONSE'), 'posted')
    const expiring = posted.body.slice(0, 3).map((r) => r.data.delta.delta_id)
    const latest = Math.max(...posted.body.slice(0, 3).map((r) => Date.parse(r.data.delta.meta!.expires_at!)))
    const first = await waitFor('the first partition archived', async () => {
      const r = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: chatId })
      return r.body.data.partitions.length === 1 ? r.body.data.partitions[0]! : undefined
    })
    const rewritten = await waitFor('the partition archived again after the purge', async () => {
      if (Date.now() <= latest) return undefined
      const r = await call<RestoreHistoryResponseData>(chime, '/api/restore/', bob, 'RESTORE_HISTORY', { channel_id: chatId })
      const p = r.body.data.partitions[0]
      return p !== undefined && p.sha256 !== first.sha256 ? p : undefined
    }, 15_000)
    const { deltas } = await fetchArchive(t, chime, rewritten)
    for (const id of expiring) {
      const d = deltas.find((x) => x.delta_id === id)
      t.equal(d?.content, null, `message ${id}: the new archive holds no content`)
    }
    t.ok(deltas.some((d) => d.content === 'secret 5'), 'the other messages are still there')
    const old = await fetch(new URL(first.url, chime.baseUrl))
    t.equal(old.status, 404, 'the old file is gone, so its link serves nothing')
  })
})
