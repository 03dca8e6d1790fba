// SYNC and RESTORE on a channel with 100,000 deltas (seed targets at p99: SYNC < 50 ms,
// RESTORE < 500 ms to the first usable page):
//   1. seed: one server channel with 100,000 posts through POST /api/requests (1,000 per
//      request), then wait until every sealed partition (10,000 deltas each) is archived;
//   2. SYNC of 1,000 missed deltas: the first page of 1,000 for a client 1,000 to 10,000
//      deltas behind, by channel seq and by delta id (server-wide SYNC);
//   3. RESTORE_HISTORY from the start: the archive links plus the open partition's first
//      page, which is what a fresh device shows first; then, once, the time to download and
//      check every archive file through its link.
// Calls are sequential over HTTP after a warm-up; the restore rate limit is off here.
//   npm run bench -- history [--profile embedded|production|both]
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { gunzipSync } from 'node:zlib'
import { startBenchChime, type BenchProfile } from './bench-chime.ts'
import type { RestoreHistoryResponseData, SyncResponseData } from '../clients/sdk/src/protocol.ts'

export interface HistoryResult {
  profile: string
  deltas: number
  seedSeconds: number
  archiveSeconds: number
  partitions: number
  syncCalls: number
  syncSeqP50: number
  syncSeqP99: number
  syncIdP50: number
  syncIdP99: number
  restoreCalls: number
  restoreP50: number
  restoreP99: number
  downloadAllMs: number
  archiveBytes: number
}

const DELTAS = 100_000
const BATCH = 1000
const CALLS = 200
const WARMUP = 20
const MISSED = 1000

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100
}

async function timed(n: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn(i)
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await fn(i)
    out.push(performance.now() - t0)
  }
  return out
}

async function history(profile: BenchProfile): Promise<HistoryResult> {
  const chime = await startBenchChime(profile, 'history', { restoreBurst: 0, restoreMaxConcurrent: 10_000, archiveIntervalMs: 200 })
  try {
    const base = `http://127.0.0.1:${chime.running.httpPort}`
    const tag = Date.now().toString(36)
    const owner = await chime.call<{ user_id: string; token: string }>('POST', '/api/auth/register', { username: `owner${tag}`, password: 'correct horse battery' })
    const { server_id: serverId, channel_id: channelId } = await chime.call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: 'History' }, owner.token)
    const envelope = <T>(path: string, action: string, data: object): Promise<{ data: T }> => chime.call<{ data: T }>('POST', path, { action, data }, owner.token)
    let t0 = performance.now()
    for (let i = 0; i < DELTAS; i += BATCH) {
      const list = Array.from({ length: BATCH }, (_, k) => ({ action: 'POST_MESSAGE', data: { channel_id: channelId, content: `message ${i + k} ${'lorem ipsum dolor sit amet '.repeat(3)}` } }))
      await chime.call('POST', '/api/requests', list, owner.token)
      if ((i / BATCH) % 20 === 19) process.stdout.write(`${profile}: ${i + BATCH} posted, `)
    }
    const seedSeconds = (performance.now() - t0) / 1000
    t0 = performance.now()
    const first = await envelope<RestoreHistoryResponseData>('/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId })
    const lastSeq = Number(first.data.last_seq)
    const sealed = Math.floor((lastSeq - 1) / 10_000)
    for (;;) {
      const r = await envelope<RestoreHistoryResponseData>('/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId })
      if (r.data.partitions.length === sealed) break
      if (performance.now() - t0 > 300_000) throw new Error(`only ${r.data.partitions.length} of ${sealed} partitions archived after 300 s`)
      await new Promise((r) => setTimeout(r, 200))
    }
    const archiveSeconds = (performance.now() - t0) / 1000
    console.log(`${profile}: ${lastSeq} deltas seeded in ${seedSeconds.toFixed(1)} s, ${sealed} partitions archived ${archiveSeconds.toFixed(1)} s later`)

    const server = await envelope<SyncResponseData>('/api/sync/', 'SYNC', {})
    const upTo = BigInt(server.data.server_delta_id)
    // A client 1,000 to 10,000 deltas behind (within CHIME_SYNC_MAX_BEHIND) asks for its first
    // page of 1,000: the points vary so the reads are not all of one warm region.
    const behind = (i: number): number => MISSED + ((i * 7919) % 9000)
    const from = (i: number): number => lastSeq - behind(i)
    const syncSeq = await timed(CALLS, async (i) => {
      const r = await envelope<SyncResponseData>('/api/sync/', 'SYNC', { channel_id: channelId, client_seq: String(from(i)), limit: MISSED })
      if (r.data.missing_deltas.length !== MISSED) throw new Error(`SYNC returned ${r.data.missing_deltas.length} deltas`)
    })
    const syncId = await timed(CALLS, async (i) => {
      const after = upTo - BigInt(behind(i))
      const r = await envelope<SyncResponseData>('/api/sync/', 'SYNC', { server_id: serverId, client_delta_id: after.toString(), limit: MISSED })
      if (r.data.missing_deltas.length !== MISSED || r.data.restore_required) throw new Error('server-wide SYNC did not return a full page')
    })
    let archiveBytes = 0
    const restore = await timed(CALLS, async () => {
      const r = await envelope<RestoreHistoryResponseData>('/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId })
      if (r.data.partitions.length !== sealed || r.data.deltas.length === 0) throw new Error('RESTORE did not link every partition')
    })
    t0 = performance.now()
    const all = await envelope<RestoreHistoryResponseData>('/api/restore/', 'RESTORE_HISTORY', { channel_id: channelId })
    let lines = 0
    await Promise.all(all.data.partitions.map(async (p) => {
      const bytes = Buffer.from(await (await fetch(new URL(p.url, base))).arrayBuffer())
      if (createHash('sha256').update(bytes).digest('hex') !== p.sha256) throw new Error(`partition ${p.partition_no}: checksum mismatch`)
      archiveBytes += bytes.length
      lines += gunzipSync(bytes).toString('utf8').trimEnd().split('\n').length - 1
    }))
    const downloadAllMs = Math.round(performance.now() - t0)
    if (lines !== sealed * 10_000) throw new Error(`the archives hold ${lines} deltas, not ${sealed * 10_000}`)
    return {
      profile, deltas: lastSeq, seedSeconds: Math.round(seedSeconds * 10) / 10, archiveSeconds: Math.round(archiveSeconds * 10) / 10, partitions: sealed,
      syncCalls: CALLS, syncSeqP50: q(syncSeq, 50), syncSeqP99: q(syncSeq, 99), syncIdP50: q(syncId, 50), syncIdP99: q(syncId, 99),
      restoreCalls: CALLS, restoreP50: q(restore, 50), restoreP99: q(restore, 99), downloadAllMs, archiveBytes,
    }
  } finally {
    await chime.close()
  }
}

/** The scenario for bench/run.ts: each profile in turn, a table, bench/results/history.json. */
export async function runHistory(profiles: readonly BenchProfile[]): Promise<void> {
  const results: HistoryResult[] = []
  for (const profile of profiles) results.push(await history(profile))
  console.log(`| profile | deltas | SYNC 1,000 missed by seq p50 / p99 ms | by delta id (server) p50 / p99 ms | RESTORE first page p50 / p99 ms | all ${results[0]?.partitions ?? 0} archives downloaded + checked ms | archive MB |`)
  console.log('|---|---|---|---|---|---|---|')
  for (const r of results) console.log(`| ${r.profile} | ${r.deltas} | ${r.syncSeqP50} / ${r.syncSeqP99} | ${r.syncIdP50} / ${r.syncIdP99} | ${r.restoreP50} / ${r.restoreP99} | ${r.downloadAllMs} | ${(r.archiveBytes / 2 ** 20).toFixed(1)} |`)
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL('./results/history.json', import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2))
}
