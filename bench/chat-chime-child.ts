// The process of Chime for the chat scenarios (started by bench/chat-chime.ts), so its CPU and
// RSS are read from /proc alone: either profile exactly as bench-chime.ts starts it
// (embedded: SQLite and the in-memory broker; production: MariaDB + Redis, one process).
//
// Seeding, the fastest honest way: an owner registers through the API (argon2 once) and
// creates one server per group; the group's users are inserted straight into the database
// with a sign-in each (hashing thousands of passwords would measure argon2), join the server
// through the API (POST /api/servers/{id}/members, 2,000 per call: real memberships, one
// member_joined delta per call; the last one joins by itself), and get access tokens from the token service the API uses
// (the same secret, the same claims as a login), so every CONNECT passes the real checks.
//
// IPC: { type: 'start' } → { type: 'ready' }; then 'stats' → 'stats', and 'stop'.
import Sqlite from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { createConnection } from 'mysql2/promise'
import { startBenchChime, type BenchChime } from './bench-chime.ts'
import { mysqlParts, sqlitePath } from '../api/src/db/open-database.ts'
import { newId } from '../api/src/ids.ts'
import { sha256Hex } from '../api/src/store/accounts.ts'
import { topics } from '../clients/sdk/src/topics.ts'
import type { ChatChimeCommand, ChatChimeReport, ChatUser, SeededGroup } from './chat-chime.ts'

interface Row {
  id: string
  username: string
  sessionId: string
}

/** Users and their sign-ins in one transaction (SQLite) or a few multi-row statements (MariaDB). */
async function insertUsers(databaseUrl: string, rows: Row[]): Promise<void> {
  const expires = new Date(Date.now() + 86_400_000)
  if (databaseUrl.startsWith('file:')) {
    const db = new Sqlite(sqlitePath(databaseUrl))
    try {
      const now = new Date().toISOString().replace('Z', '+00:00')
      const user = db.prepare('INSERT INTO users (id, username, password_hash, display_name, created_at) VALUES (?, ?, ?, ?, ?)')
      const session = db.prepare('INSERT INTO auth_sessions (id, user_id, refresh_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
      db.transaction(() => {
        for (const r of rows) {
          user.run(r.id, r.username, 'x', r.username, now)
          session.run(r.sessionId, r.id, sha256Hex(randomBytes(16).toString('hex')), now, expires.toISOString().replace('Z', '+00:00'))
        }
      })()
    } finally {
      db.close()
    }
    return
  }
  const p = mysqlParts(databaseUrl)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database, timezone: 'Z' })
  try {
    for (let i = 0; i < rows.length; i += 2000) {
      const chunk = rows.slice(i, i + 2000)
      await conn.query('INSERT INTO users (id, username, password_hash, display_name) VALUES ?', [chunk.map((r) => [r.id, r.username, 'x', r.username])])
      await conn.query('INSERT INTO auth_sessions (id, user_id, refresh_hash, expires_at) VALUES ?', [chunk.map((r) => [r.sessionId, r.id, sha256Hex(randomBytes(16).toString('hex')), expires])])
    }
  } finally {
    await conn.end()
  }
}

async function main(): Promise<void> {
  const first = await new Promise<ChatChimeCommand>((resolve) => process.once('message', (m: ChatChimeCommand) => resolve(m)))
  if (first.type !== 'start') throw new Error(`expected start, got ${first.type}`)
  const t0 = performance.now()
  let chime: BenchChime | null = await startBenchChime(first.profile, first.name, first.overrides ?? {})
  const running = chime.running
  const stop = async (): Promise<void> => {
    const c = chime
    chime = null
    await c?.close()
  }
  try {
    const tag = Date.now().toString(36)
    const owner = await chime.call<{ user_id: string; token: string; username: string }>('POST', '/api/auth/register', { username: `owner${tag}`, password: 'benchmark password' })
    const tokens = running.core!.tokens
    const groups: SeededGroup[] = []
    for (let g = 0; g < first.groups.length; g++) {
      const server = await chime.call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: `chat bench ${g}` }, owner.token)
      const rows: Row[] = Array.from({ length: first.groups[g]!.members }, (_, i) => ({ id: newId(), username: `b${tag}g${g}u${i}`, sessionId: newId() }))
      await insertUsers(running.databaseUrl, rows)
      const users: ChatUser[] = []
      for (const r of rows) users.push({ userId: r.id, username: r.username, token: await tokens.issue({ userId: r.id, username: r.username, sessionId: r.sessionId }), inbox: topics.inbox(r.id) })
      const bulk = rows.slice(0, -1)
      for (let i = 0; i < bulk.length; i += 2000) await chime.call('POST', `/api/servers/${server.server_id}/members`, { user_ids: bulk.slice(i, i + 2000).map((r) => r.id) }, owner.token)
      // The last one joins the (public) server itself: a join is announced to every process,
      // which re-reads the server's size, so its deltas go out at the QoS of its real size
      // from the first post (a bulk add announces nothing and the size cached when the
      // server was created would hold for up to 30 s).
      if (users.length > 0) await chime.call('POST', `/api/servers/${server.server_id}/join`, {}, users.at(-1)!.token)
      groups.push({ serverId: server.server_id, channelId: server.channel_id, topic: topics.serverChannel(server.server_id, server.channel_id), users })
    }
    const reply = (m: ChatChimeReport): void => void process.send?.(m)
    process.on('message', (cmd: ChatChimeCommand) => {
      if (cmd.type === 'stats') {
        const m = process.memoryUsage()
        reply({ type: 'stats', connected: running.aedes?.connectedClients ?? -1, rss: m.rss, heapUsed: m.heapUsed })
      } else if (cmd.type === 'stop') {
        void stop().finally(() => process.exit(0))
      }
    })
    process.on('disconnect', () => void stop().finally(() => process.exit(0)))
    reply({
      type: 'ready', pid: process.pid, mqttPort: running.mqttPort!, httpPort: running.httpPort, databaseUrl: running.databaseUrl,
      owner: { userId: owner.user_id, username: `owner${tag}`, token: owner.token, inbox: topics.inbox(owner.user_id) },
      groups, seedMs: Math.round(performance.now() - t0),
    })
  } catch (err) {
    await stop().catch(() => undefined)
    throw err
  }
}

main().catch((err: unknown) => {
  process.send?.({ type: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies ChatChimeReport)
  process.exitCode = 1
  setTimeout(() => process.exit(1), 100)
})
