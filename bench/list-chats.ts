// LIST_CHATS latency for a user in 100 servers with 2,000 channels and chats (seed 004
// ListChats; the target: under 50 ms p99):
//   1. seed through the API (messages through the log's append transaction): 100 servers (each with its general channel, 18 more channels
//      and one private channel the reader may not see), 20 partners with 20 1:1 chats and
//      80 groups, 10 messages in every channel and chat in shuffled order (some mentioning
//      the reader), and read markers in a quarter of them;
//   2. time GET /api/chats/list for the first page and for a later one (page_size 50),
//      sequentially, after a warm-up; then the first page right after a change in one of
//      the reader's servers (a new channel), which makes the readable set be computed again.
//   npm run bench -- list-chats [--profile embedded|production|both]
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { startBenchChime, type BenchChime, type BenchProfile } from './bench-chime.ts'
import { openStore } from '../api/src/store/store.ts'
import { parseMentions } from '../api/src/services/message-input.ts'
import type { AppendInput } from '../api/src/store/types.ts'

export interface ListChatsResult {
  profile: string
  listed: number
  messages: number
  seedSeconds: number
  calls: number
  firstP50: number
  firstP99: number
  laterPage: number
  laterP50: number
  laterP99: number
  coldCalls: number
  coldP50: number
  coldP99: number
}

const SERVERS = 100
const CHANNELS_PER_SERVER = 19 // the general channel and 18 more
const PARTNERS = 20
const DMS = 20
const GROUPS = 80
const MESSAGES_PER_CHANNEL = 10
const CALLS = 300
const COLD_CALLS = 100
const WARMUP = 30
const PAGE_SIZE = 50
const LATER_PAGE = 30

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100
}

interface User {
  user_id: string
  token: string
}

/** Runs fn over items with at most `width` calls in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}

/** Seeds the reader's world through the API (exported for profiling runs against a kept database). */
export async function seed(chime: Pick<BenchChime, 'call' | 'running'>): Promise<{ reader: User; owner: User; serverId: string; listed: number; messages: number }> {
  let mark = performance.now()
  const phase = (what: string): void => {
    process.stdout.write(`${what} ${((performance.now() - mark) / 1000).toFixed(1)} s, `)
    mark = performance.now()
  }
  const call = <T>(method: string, path: string, body: unknown, token?: string): Promise<T> => chime.call<T>(method, path, body, token)
  const tag = Date.now().toString(36)
  const register = (name: string): Promise<User> => call<User>('POST', '/api/auth/register', { username: `${name}${tag}`, password: 'benchmark password' })
  const [owner, reader] = [await register('owner'), await register('reader')]
  const partners: User[] = []
  for (let i = 0; i < PARTNERS; i++) partners.push(await register(`p${i}`))
  phase('users')

  const channels: { id: string; poster: User }[] = []
  const servers: string[] = []
  for (let i = 0; i < SERVERS; i++) {
    const s = await call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: `server ${i}` }, owner.token)
    servers.push(s.server_id)
    channels.push({ id: s.channel_id, poster: owner })
  }
  phase('servers')
  await pool(servers, 4, async (serverId) => {
    await call('POST', `/api/servers/${serverId}/join`, {}, reader.token)
    await call('POST', `/api/servers/${serverId}/channels`, { name: 'staff', type: 'text', private: true }, owner.token)
    for (let c = 1; c < CHANNELS_PER_SERVER; c++) {
      const ch = await call<{ channel_id: string }>('POST', `/api/servers/${serverId}/channels`, { name: `channel-${c}`, type: 'text' }, owner.token)
      channels.push({ id: ch.channel_id, poster: owner })
    }
  })
  phase('channels')
  for (let i = 0; i < DMS; i++) {
    const p = partners[i % PARTNERS]!
    channels.push({ id: (await call<{ chat_id: string }>('POST', '/api/chats', { user_ids: [reader.user_id] }, p.token)).chat_id, poster: p })
  }
  for (let i = 0; i < GROUPS; i++) {
    const p = partners[i % PARTNERS]!
    const other = partners[(i + 1) % PARTNERS]!
    channels.push({ id: (await call<{ chat_id: string }>('POST', '/api/chats', { user_ids: [reader.user_id, other.user_id], name: `group ${i}` }, p.token)).chat_id, poster: p })
  }
  phase('chats')

  // Messages in shuffled order (so activity order is not creation order), appended straight
  // through the delta log's append transaction (the one POST_MESSAGE commits through after its
  // checks; 20,000 posts through the API would time the post path, not the list).
  const store = await openStore(chime.running.databaseUrl, { maxDeltas: 10_000, maxBytes: 10 * 1024 * 1024 })
  let messages = 0
  try {
    const posts = shuffle(channels.flatMap((c) => Array.from({ length: MESSAGES_PER_CHANNEL }, (_, k) => ({ ...c, k }))))
    const inputs: AppendInput[] = posts.map((p) => {
      const mention = p.k % 4 === 0 ? ` <@${reader.user_id}>` : p.k === 5 && p.poster === owner ? ' <@everyone>' : ''
      const content = `message ${p.k} about the things of the day, long enough to be cut in a preview somewhere past here${mention}`
      const mentions = parseMentions(content)
      return {
        channelId: p.id, userId: p.poster.user_id, type: 'message', content,
        ...(mentions.length > 0 ? { meta: JSON.stringify({ mentions }) } : {}),
        message: { kind: 'text', replyTo: null, expiresAt: null, mentions },
      }
    })
    for (let i = 0; i < inputs.length; i += 1000) messages += (await store.log.append(inputs.slice(i, i + 1000))).length
  } finally {
    await store.close()
  }
  phase('messages')
  // The reader has read a quarter of its channels part of the way.
  const marks = channels.filter((_, i) => i % 4 === 0).map((c) => ({ action: 'MARK_READ', data: { channel_id: c.id, seq: '3' } }))
  for (let i = 0; i < marks.length; i += 200) await call('POST', '/api/requests', marks.slice(i, i + 200), reader.token)
  phase('read markers')
  return { reader, owner, serverId: servers[0]!, listed: channels.length, messages }
}

export async function listChats(profile: BenchProfile): Promise<ListChatsResult> {
  const chime = await startBenchChime(profile, 'listchats')
  try {
    process.stdout.write(`list-chats [${profile}]: seeding... `)
    const t0 = performance.now()
    const { reader, owner, serverId, listed, messages } = await seed(chime)
    const seedSeconds = (performance.now() - t0) / 1000
    process.stdout.write(`${listed} channels and chats, ${messages} messages in ${seedSeconds.toFixed(1)} s; timing\n`)
    const first = await chime.call<{ total: number; chats: unknown[] }>('GET', `/api/chats/list?page=0&page_size=${PAGE_SIZE}`, undefined, reader.token)
    if (first.total !== listed || first.chats.length !== PAGE_SIZE) throw new Error(`expected ${listed} listed, got ${first.total}`)
    const time = async (page: number): Promise<number[]> => {
      const out: number[] = []
      for (let i = 0; i < WARMUP + CALLS; i++) {
        const t = performance.now()
        const res = await chime.call<{ chats: unknown[] }>('GET', `/api/chats/list?page=${page}&page_size=${PAGE_SIZE}`, undefined, reader.token)
        if (i >= WARMUP) out.push(performance.now() - t)
        if (res.chats.length !== PAGE_SIZE) throw new Error(`page ${page} has ${res.chats.length} items`)
      }
      return out
    }
    const firstPage = await time(0)
    const laterPage = await time(LATER_PAGE)
    // Cold: before each call a change in one of the reader's servers (a channel created, not
    // timed) moves that server's log, so the readable set is computed afresh.
    const cold: number[] = []
    for (let i = 0; i < COLD_CALLS; i++) {
      await chime.call('POST', `/api/servers/${serverId}/channels`, { name: `new-${i}`, type: 'text' }, owner.token)
      const t = performance.now()
      await chime.call('GET', `/api/chats/list?page=0&page_size=${PAGE_SIZE}`, undefined, reader.token)
      cold.push(performance.now() - t)
    }
    return {
      profile: profile === 'embedded' ? 'embedded (SQLite)' : 'production (MariaDB + Redis)',
      listed, messages, seedSeconds: Math.round(seedSeconds), calls: CALLS,
      firstP50: q(firstPage, 50), firstP99: q(firstPage, 99), laterPage: LATER_PAGE, laterP50: q(laterPage, 50), laterP99: q(laterPage, 99),
      coldCalls: COLD_CALLS, coldP50: q(cold, 50), coldP99: q(cold, 99),
    }
  } finally {
    await chime.close()
  }
}

/** The scenario for bench/run.ts: each profile in turn, a table, bench/results/list-chats.json. */
export async function runListChats(profiles: readonly BenchProfile[]): Promise<void> {
  const results: ListChatsResult[] = []
  for (const profile of profiles) results.push(await listChats(profile))
  console.log(`| profile | channels and chats | messages | page 0 p50 / p99 ms (${CALLS} calls) | page ${LATER_PAGE} p50 / p99 ms (${CALLS} calls) | page 0 after a change p50 / p99 ms (${COLD_CALLS} calls) |`)
  console.log('|---|---|---|---|---|---|')
  for (const r of results) console.log(`| ${r.profile} | ${r.listed} | ${r.messages} | ${r.firstP50} / ${r.firstP99} | ${r.laterP50} / ${r.laterP99} | ${r.coldP50} / ${r.coldP99} |`)
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL('./results/list-chats.json', import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2))
}
