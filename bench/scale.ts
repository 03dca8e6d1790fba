// Scale of who-may-see-what (seed 000: 1M members in a server, 100 servers per user):
//   1. time to add N members to one server through the API (POST /api/servers/:id/members,
//      2,000 per call, each call one change in the server's log);
//   2. permission check latency with N members: a cold check (database) and a warm one
//      (the broker's cache), for random members, channels and a private channel;
//   3. connect-and-subscribe time of a user in 100 servers: CONNECT, then one SUBSCRIBE with
//      100 server wildcards and the inbox, until the SUBACK.
// The N users themselves are inserted straight into the database first (registering a
// million users through argon2 would measure the password hash, not membership).
//   npm run bench -- scale [--profile embedded|production] [--members 1000000]
import Sqlite from 'better-sqlite3'
import mqtt from 'mqtt'
import { createConnection } from 'mysql2/promise'
import { mysqlParts, sqlitePath } from '../api/src/db/open-database.ts'
import { openStore } from '../api/src/store/store.ts'
import { AccessPolicy } from '../broker/src/access.ts'
import { newId } from '../api/src/ids.ts'
import { startBenchChime } from './bench-chime.ts'
import { topics } from '../clients/sdk/src/topics.ts'

export interface ScaleResult {
  profile: string
  members: number
  addSeconds: number
  addPerSecond: number
  checkColdP50: number
  checkColdP99: number
  checkWarmP50: number
  checkWarmP99: number
  subscribe100P50: number
  subscribe100P99: number
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100
}

async function insertUsers(url: string, ids: string[]): Promise<void> {
  const chunk = 5000
  if (url.startsWith('file:')) {
    const db = new Sqlite(sqlitePath(url))
    const now = new Date().toISOString().replace('Z', '+00:00')
    const st = db.prepare('INSERT INTO users (id, username, password_hash, display_name, created_at) VALUES (?, ?, ?, ?, ?)')
    db.transaction(() => {
      for (const id of ids) st.run(id, `m${id}`, 'x', 'member', now)
    })()
    db.close()
    return
  }
  const p = mysqlParts(url)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database })
  for (let i = 0; i < ids.length; i += chunk) {
    await conn.query('INSERT INTO users (id, username, password_hash, display_name) VALUES ?', [ids.slice(i, i + chunk).map((id) => [id, `m${id}`, 'x', 'member'])])
  }
  await conn.end()
}

export async function scale(args: { profile: 'embedded' | 'production'; members: number }): Promise<ScaleResult> {
  const chime = await startBenchChime(args.profile, 'scale')
  const running = chime.running
  try {
    const call = <T>(method: string, path: string, body: unknown, token?: string): Promise<T> => chime.call<T>(method, path, body, token)
    const owner = await call<{ user_id: string; token: string }>('POST', '/api/auth/register', { username: `owner${Date.now()}`, password: 'benchmark password' })
    const server = await call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: 'Million' }, owner.token)
    const secret = await call<{ channel_id: string }>('POST', `/api/servers/${server.server_id}/channels`, { name: 'staff', private: true }, owner.token)

    process.stdout.write(`scale [${args.profile}]: inserting ${args.members} users... `)
    const ids = Array.from({ length: args.members }, () => newId())
    await insertUsers(running.databaseUrl, ids)
    process.stdout.write('adding them as members... ')
    const t0 = performance.now()
    for (let i = 0; i < ids.length; i += 2000) await call('POST', `/api/servers/${server.server_id}/members`, { user_ids: ids.slice(i, i + 2000) }, owner.token)
    const addSeconds = (performance.now() - t0) / 1000
    process.stdout.write(`${addSeconds.toFixed(1)} s\n`)

    // Permission checks on a separate store handle, as a broker node makes them.
    const store = await openStore(running.databaseUrl, { maxDeltas: 10_000, maxBytes: 10 * 1024 * 1024 })
    const cold: number[] = []
    const warm: number[] = []
    const policy = new AccessPolicy(store.directory)
    const session = (userId: string) => ({ userId, username: 'm', token: '', granted: new Set<string>() })
    const filters = [topics.serverChannel(server.server_id, server.channel_id), topics.serverChannel(server.server_id, secret.channel_id), topics.serverWildcard(server.server_id)]
    for (let i = 0; i < 2000; i++) {
      const userId = ids[Math.floor(Math.random() * ids.length)]!
      const filter = filters[i % filters.length]!
      let t = performance.now()
      const allowed = await policy.maySubscribe(session(userId), filter)
      cold.push(performance.now() - t)
      t = performance.now()
      const again = await policy.maySubscribe(session(userId), filter)
      warm.push(performance.now() - t)
      if (allowed !== again || allowed === (filter === filters[1])) throw new Error(`wrong decision for ${filter}`)
    }
    await store.close()

    // A user in 100 servers: connect and subscribe to all of them at once.
    const travellerName = `traveller${Date.now()}`
    const traveller = await call<{ user_id: string; token: string }>('POST', '/api/auth/register', { username: travellerName, password: 'benchmark password' })
    const serverIds: string[] = []
    for (let i = 0; i < 100; i++) {
      const s = await call<{ server_id: string }>('POST', '/api/servers', { name: `s${i}` }, owner.token)
      await call('POST', `/api/servers/${s.server_id}/join`, {}, traveller.token)
      serverIds.push(s.server_id)
    }
    const subs: number[] = []
    for (let i = 0; i < 51; i++) {
      const t = performance.now()
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${running.mqttPort}`, { username: travellerName, password: traveller.token, reconnectPeriod: 0 })
      const granted = await client.subscribeAsync([...serverIds.map((s) => topics.serverWildcard(s)), topics.inbox(traveller.user_id)], { qos: 1 })
      if (i > 0) subs.push(performance.now() - t) // the first one warms the caches and the JIT
      if (granted.some((g) => g.qos === 128)) throw new Error('a subscription was refused')
      await client.endAsync()
    }
    return {
      profile: args.profile === 'embedded' ? 'embedded (SQLite)' : 'production (MariaDB + Redis)',
      members: args.members,
      addSeconds: Math.round(addSeconds * 10) / 10,
      addPerSecond: Math.round(args.members / addSeconds),
      checkColdP50: q(cold, 50), checkColdP99: q(cold, 99), checkWarmP50: q(warm, 50), checkWarmP99: q(warm, 99),
      subscribe100P50: q(subs, 50), subscribe100P99: q(subs, 99),
    }
  } finally {
    await chime.close()
  }
}
