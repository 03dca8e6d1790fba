// Message search latency (issue 4, item 9): GET /api/search over a channel set holding
// 100,000 messages the searching user may read (one server, 20 channels), for several kinds of
// query: a rare, a medium and a very common word, two words, a prefix, a channel or author
// filter, the second page, a query that finds nothing, and a word too short for MariaDB's
// FULLTEXT index (matched with LIKE there).
//
// The messages are inserted straight into the messages table (ids reserved from the
// sequencer row, so later appends cannot collide): the search reads only that table, and
// 100,000 POST_MESSAGEs would measure the append instead. The full-text indexes are filled as
// they are in production, by the FTS5 triggers (SQLite) and InnoDB (MariaDB).
//   npm run bench -- search [--profile embedded|production]   (CHIME_BENCH_SEARCH_MESSAGES=100000)
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import Sqlite from 'better-sqlite3'
import { createConnection } from 'mysql2/promise'
import { mysqlParts, openDatabase, sqlitePath } from '../api/src/db/open-database.ts'
import { parseSearch, searchDataFromQuery } from '../api/src/services/search.ts'
import { SearchStore } from '../api/src/store/search.ts'
import type { SearchResponseData } from '../clients/sdk/src/protocol.ts'
import { startBenchChime } from './bench-chime.ts'

export interface SearchKindResult {
  kind: string
  query: string
  /** Matching messages in the whole set (not only the first page). */
  matches: number
  p50: number
  p99: number
  /** Production only: the SearchStore with the FULLTEXT index alone, in process. */
  indexOnlyP50?: number
}

export interface SearchBenchResult {
  profile: string
  messages: number
  insertSeconds: number
  /** Every measured search, all kinds together. */
  p50: number
  p99: number
  kinds: SearchKindResult[]
}

const CHANNELS = 20
const ROUNDS = 200
const WARMUP = 20
const INDEX_ONLY_ROUNDS = 15

/** mulberry32: the same messages on every run and profile. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'tor', 'vi', 'sa', 'dun', 'pe', 'gri', 'mo', 'tal', 'zu', 'bel', 'fi', 'nor', 'qua', 'shi', 'ver', 'ox']

/** A vocabulary of 3,000 made-up words; a Zipf-like pick makes a few of them very common. */
function vocabulary(rnd: () => number): string[] {
  const words = new Set<string>()
  while (words.size < 3000) {
    const n = 2 + Math.floor(rnd() * 3)
    words.add(Array.from({ length: n }, () => SYLLABLES[Math.floor(rnd() * SYLLABLES.length)]).join(''))
  }
  return [...words]
}

/** Marker words with known shares: alpha in half the messages, quarterly in 1 %, zeppelin in 0.01 %. */
function messageText(rnd: () => number, words: string[]): string {
  const n = 5 + Math.floor(rnd() * 16)
  const out = Array.from({ length: n }, () => words[Math.floor(words.length * rnd() ** 3)]!)
  if (rnd() < 0.5) out.push('alpha')
  if (rnd() < 0.01) out.push('quarterly')
  if (rnd() < 0.0001) out.push('zeppelin')
  if (rnd() < 0.05) out.push('go')
  return out.sort(() => rnd() - 0.5).join(' ')
}

interface Row { id: bigint; channelId: string; seq: number; userId: string; content: string; at: Date }

async function insertMessages(url: string, rows: Row[]): Promise<void> {
  if (url.startsWith('file:')) {
    const db = new Sqlite(sqlitePath(url))
    db.transaction(() => {
      const st = db.prepare('INSERT INTO messages (message_id, channel_id, seq, user_id, kind, content, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?)')
      for (const r of rows) st.run(r.id, r.channelId, r.seq, r.userId, 'text', r.content, r.at.toISOString().replace('Z', '+00:00'))
    })()
    db.close()
    return
  }
  const p = mysqlParts(url)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database, timezone: 'Z' })
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = rows.slice(i, i + 5000).map((r) => [r.id.toString(), r.channelId, r.seq, r.userId, 'text', r.content, r.at])
    await conn.query('INSERT INTO messages (message_id, channel_id, seq, user_id, kind, content, timestamp) VALUES ?', [chunk])
  }
  await conn.end()
}

/** Reserves `count` delta ids (the messages' ids) and moves the channels' seqs past the inserted ones. */
async function reserveIds(url: string, count: number, lastSeqs: Map<string, number>): Promise<bigint> {
  if (url.startsWith('file:')) {
    const db = new Sqlite(sqlitePath(url))
    const first = db.transaction(() => {
      const { last } = db.prepare('SELECT last_delta_id AS last FROM sequencer WHERE id = 1').get() as { last: number }
      db.prepare('UPDATE sequencer SET last_delta_id = ? WHERE id = 1').run(last + count)
      for (const [id, seq] of lastSeqs) db.prepare('UPDATE channels SET last_seq = last_seq + ? WHERE id = ?').run(seq, id)
      return BigInt(last) + 1n
    }).immediate()
    db.close()
    return first
  }
  const p = mysqlParts(url)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database })
  await conn.beginTransaction()
  const [rows] = await conn.query('SELECT last_delta_id AS last FROM sequencer WHERE id = 1 FOR UPDATE')
  const last = BigInt(String((rows as { last: unknown }[])[0]!.last))
  await conn.query('UPDATE sequencer SET last_delta_id = ? WHERE id = 1', [(last + BigInt(count)).toString()])
  for (const [id, seq] of lastSeqs) await conn.query('UPDATE channels SET last_seq = last_seq + ? WHERE id = ?', [seq, id])
  await conn.commit()
  await conn.end()
  return last + 1n
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100
}

export async function searchBench(args: { profile: 'embedded' | 'production'; count: number }): Promise<SearchBenchResult> {
  const chime = await startBenchChime(args.profile, 'search')
  try {
    const call = <T>(method: string, path: string, body: unknown, token?: string): Promise<T> => chime.call<T>(method, path, body, token)
    const owner = await call<{ user_id: string; token: string }>('POST', '/api/auth/register', { username: `seeker${Date.now()}`, password: 'benchmark password' })
    const other = await call<{ user_id: string; token: string }>('POST', '/api/auth/register', { username: `writer${Date.now()}`, password: 'benchmark password' })
    const server = await call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: 'Archive' }, owner.token)
    await call('POST', `/api/servers/${server.server_id}/join`, {}, other.token)
    const channels = [server.channel_id]
    for (let i = 1; i < CHANNELS; i++) channels.push((await call<{ channel_id: string }>('POST', `/api/servers/${server.server_id}/channels`, { name: `c${i}` }, owner.token)).channel_id)

    process.stdout.write(`search [${args.profile}]: inserting ${args.count} messages... `)
    const rnd = random(4)
    const words = vocabulary(rnd)
    const seqs = new Map(channels.map((c) => [c, 0]))
    const drafts = Array.from({ length: args.count }, (_, i) => {
      const channelId = channels[i % CHANNELS]!
      seqs.set(channelId, seqs.get(channelId)! + 1)
      return { channelId, seq: seqs.get(channelId)!, userId: rnd() < 0.02 ? other.user_id : owner.user_id, content: messageText(rnd, words) }
    })
    const first = await reserveIds(chime.running.databaseUrl, args.count, seqs)
    const start = Date.now() - args.count * 1000
    const rows = drafts.map((d, i) => ({ ...d, id: first + BigInt(i), at: new Date(start + i * 1000) }))
    const t0 = performance.now()
    await insertMessages(chime.running.databaseUrl, rows)
    const insertSeconds = Math.round((performance.now() - t0) / 100) / 10
    process.stdout.write(`${insertSeconds} s; searching... `)

    const matches = (test: (r: Row) => boolean): number => rows.filter(test).length
    const has = (word: string) => (r: Row): boolean => r.content.split(' ').includes(word)
    const alphaPage = await call<SearchResponseData>('GET', '/api/search?q=alpha&limit=20', undefined, owner.token)
    // Each kind: the query string of GET /api/search (a function: the random word changes).
    const kinds: { kind: string; query: string; params: () => Record<string, string>; matches: number }[] = [
      { kind: 'rare word (0.01 %)', query: 'zeppelin', params: () => ({ q: 'zeppelin' }), matches: matches(has('zeppelin')) },
      { kind: 'medium word (1 %)', query: 'quarterly', params: () => ({ q: 'quarterly' }), matches: matches(has('quarterly')) },
      { kind: 'common word (50 %)', query: 'alpha', params: () => ({ q: 'alpha' }), matches: matches(has('alpha')) },
      { kind: 'two words (AND)', query: 'alpha quarterly', params: () => ({ q: 'alpha quarterly' }), matches: matches((r) => has('alpha')(r) && has('quarterly')(r)) },
      { kind: 'prefix', query: 'quart', params: () => ({ q: 'quart' }), matches: matches((r) => r.content.split(' ').some((w) => w.startsWith('quart'))) },
      { kind: 'random vocabulary word', query: '(one of 3,000)', params: () => ({ q: `${words[Math.floor(words.length * Math.random() ** 3)]!} ` }), matches: 0 },
      { kind: 'common word in one channel', query: 'alpha, channel_id', params: () => ({ q: 'alpha', channel_id: channels[3]! }), matches: matches((r) => r.channelId === channels[3] && has('alpha')(r)) },
      { kind: 'common word by a rare author (2 %)', query: 'alpha, author_id', params: () => ({ q: 'alpha', author_id: other.user_id }), matches: matches((r) => r.userId === other.user_id && has('alpha')(r)) },
      { kind: 'common word, second page', query: 'alpha, cursor', params: () => ({ q: 'alpha', limit: '20', cursor: alphaPage.next_cursor! }), matches: matches(has('alpha')) },
      { kind: 'no match', query: 'alpha zeppelinx', params: () => ({ q: 'alpha zeppelinx' }), matches: 0 },
      { kind: 'short word (LIKE on MariaDB)', query: 'go', params: () => ({ q: 'go ' }), matches: matches(has('go')) },
    ]
    const all: number[] = []
    const results: SearchKindResult[] = []
    for (const k of kinds) {
      const times: number[] = []
      for (let i = 0; i < WARMUP + ROUNDS; i++) {
        const t = performance.now()
        const res = await call<SearchResponseData>('GET', `/api/search?${new URLSearchParams(k.params()).toString()}`, undefined, owner.token)
        const ms = performance.now() - t
        if (i >= WARMUP) times.push(ms)
        if (i === 0 && k.matches > 0 && res.results.length !== Math.min(20, k.matches)) throw new Error(`${k.kind}: ${res.results.length} results, expected ${Math.min(20, k.matches)}`)
      }
      all.push(...times)
      results.push({ kind: k.kind, query: k.query, matches: k.matches, p50: q(times, 50), p99: q(times, 99) })
    }
    if (args.profile === 'production') {
      // For comparison: the FULLTEXT index alone (CHIME_SEARCH_SCAN_ROWS=0), in this process
      // (no HTTP), fewer rounds: the common words take long that way.
      process.stdout.write('the index alone... ')
      const db = await openDatabase(chime.running.databaseUrl)
      const indexOnly = new SearchStore(db, { scanRows: 0 })
      const channelIds = [...channels, server.server_id]
      for (const [n, k] of kinds.entries()) {
        const times: number[] = []
        for (let i = 0; i < 2 + INDEX_ONLY_ROUNDS; i++) {
          const r = parseSearch(searchDataFromQuery(k.params()))
          const t = performance.now()
          await indexOnly.search({
            terms: r.terms, channelIds: r.channelId !== undefined ? [r.channelId] : channelIds, now: new Date(), limit: r.limit + 1,
            ...(r.authorId !== undefined ? { authorId: r.authorId } : {}), ...(r.belowId !== undefined ? { belowId: r.belowId } : {}),
          })
          if (i >= 2) times.push(performance.now() - t)
        }
        results[n]!.indexOnlyP50 = q(times, 50)
      }
      await db.close()
    }
    process.stdout.write('done\n')
    return {
      profile: args.profile === 'embedded' ? 'embedded (SQLite FTS5)' : 'production (MariaDB FULLTEXT)',
      messages: args.count,
      insertSeconds,
      p50: q(all, 50),
      p99: q(all, 99),
      kinds: results,
    }
  } finally {
    await chime.close()
  }
}

/** `npm run bench -- search`: both tables, and bench/results/search.json. CHIME_BENCH_SEARCH_MESSAGES sets the count (default 100,000). */
export async function runSearch(profiles: readonly ('embedded' | 'production')[]): Promise<void> {
  const count = Number(process.env['CHIME_BENCH_SEARCH_MESSAGES'] ?? 100_000)
  if (!Number.isInteger(count) || count < 1000 || count > 10_000_000) throw new Error('CHIME_BENCH_SEARCH_MESSAGES must be a whole number from 1000 to 10000000')
  const results: SearchBenchResult[] = []
  for (const profile of profiles) results.push(await searchBench({ profile, count }))
  console.log('| profile | messages | insert (s) | all searches p50 / p99 ms |')
  console.log('|---|---|---|---|')
  for (const r of results) console.log(`| ${r.profile} | ${r.messages} | ${r.insertSeconds} | ${r.p50} / ${r.p99} |`)
  console.log('')
  const indexOnly = results.some((r) => r.kinds.some((k) => k.indexOnlyP50 !== undefined))
  console.log(`| query | matches | ${results.map((r) => `${r.profile} p50 / p99 ms`).join(' | ')} |${indexOnly ? ' MariaDB, index alone, p50 ms |' : ''}`)
  console.log(`|---|---|${results.map(() => '---|').join('')}${indexOnly ? '---|' : ''}`)
  for (const [i, k] of (results[0]?.kinds ?? []).entries()) {
    const alone = results.map((r) => r.kinds[i]!.indexOnlyP50).find((v) => v !== undefined)
    console.log(`| ${k.kind}: \`${k.query}\` | ${k.matches} | ${results.map((r) => `${r.kinds[i]!.p50} / ${r.kinds[i]!.p99}`).join(' | ')} |${indexOnly ? ` ${alone ?? ''} |` : ''}`)
  }
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL('./results/search.json', import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2))
}
