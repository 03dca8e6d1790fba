// The process of Chime's broker for the raw MQTT scenarios (started by bench/mqtt-chime.ts), so its
// CPU and RSS are read from /proc alone: the embedded profile exactly as `npm start` runs it
// (startEmbedded: Aedes with Chime's hooks and bounded in-memory persistence, the API and
// SQLite in the same process, idle during the MQTT scenarios). Nothing in the broker is
// changed or bypassed: load-generator connections authenticate with real tokens, and
// publish on the one topic kind a client may fan out on, its own presence topic.
//
// Seeding: one owner registers through the API and creates a server; `users` more users are
// inserted straight into SQLite with a sign-in each (hashing thousands of passwords would
// measure argon2, not the broker), join the server through the API (so each may watch every
// other's presence), and get an access token from the same token service the API uses.
//
// IPC: answers { type: 'ready', ... } once seeded; then 'profile-start' / 'profile-stop'
// (a CPU profile of the window in between, written to `file`), 'gc' (full collections until
// the committed heap stops shrinking), 'memory',
// 'heap-snapshot' and 'stop'.
import Sqlite from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { writeHeapSnapshot } from 'node:v8'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { loadConfig } from '../config/load-config.ts'
import { startEmbedded } from '../bin/processes.ts'
import { sqlitePath } from '../api/src/db/open-database.ts'
import { newId } from '../api/src/ids.ts'
import { sha256Hex } from '../api/src/store/accounts.ts'
import { topics } from '../clients/sdk/src/topics.ts'
import type { BenchUser, ChimeChildCommand, ChimeChildReport } from './mqtt-chime.ts'

/** Users and their sign-ins, in one SQLite transaction (dates as the schema's other inserts write them). */
function insertUsers(databaseUrl: string, users: Array<{ id: string; username: string; sessionId: string }>): void {
  const db = new Sqlite(sqlitePath(databaseUrl))
  try {
    const now = new Date().toISOString().replace('Z', '+00:00')
    const expires = new Date(Date.now() + 86_400_000).toISOString().replace('Z', '+00:00')
    const user = db.prepare('INSERT INTO users (id, username, password_hash, display_name, created_at) VALUES (?, ?, ?, ?, ?)')
    const session = db.prepare('INSERT INTO auth_sessions (id, user_id, refresh_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
    db.transaction(() => {
      for (const u of users) {
        user.run(u.id, u.username, 'x', u.username, now)
        session.run(u.sessionId, u.id, sha256Hex(randomBytes(16).toString('hex')), now, expires)
      }
    })()
  } finally {
    db.close()
  }
}

/** Full collections one 'gc' command runs at most. */
const MAX_COLLECTIONS = 30

async function main(): Promise<void> {
  const first = await new Promise<ChimeChildCommand>((resolve) => process.once('message', (m: ChimeChildCommand) => resolve(m)))
  if (first.type !== 'seed') throw new Error(`expected seed, got ${first.type}`)
  const t0 = performance.now()
  const dataDir = await mkdtemp(join(tmpdir(), 'chime-bench-mqtt-'))
  const config = loadConfig({}, { httpPort: 0, mqttPort: 0, host: '127.0.0.1', dataDir, logLevel: 'silent', databaseUrl: '', redisUrl: '' })
  const running = await startEmbedded(config, pino({ level: 'silent' }))
  const base = `http://127.0.0.1:${running.httpPort}`
  const call = async <T>(path: string, body: unknown, token?: string): Promise<T> => {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const owner = await call<{ user_id: string; token: string }>('/api/auth/register', { username: `owner${Date.now().toString(36)}`, password: 'benchmark password' })
  const server = await call<{ server_id: string }>('/api/servers', { name: 'MQTT bench' }, owner.token)
  const rows = Array.from({ length: first.users }, (_, i) => ({ id: newId(), username: `bench${i}`, sessionId: newId() }))
  insertUsers(running.databaseUrl, rows)
  for (let i = 0; i < rows.length; i += 2000) await call(`/api/servers/${server.server_id}/members`, { user_ids: rows.slice(i, i + 2000).map((r) => r.id) }, owner.token)
  const tokens = running.core!.tokens
  const users: BenchUser[] = []
  for (const r of rows) users.push({ userId: r.id, username: r.username, token: await tokens.issue({ userId: r.id, username: r.username, sessionId: r.sessionId }), topic: topics.presence(r.id) })

  let profiler: Session | null = null
  const reply = (m: ChimeChildReport): void => void process.send?.(m)
  process.on('message', (cmd: ChimeChildCommand) => {
    void (async () => {
      if (cmd.type === 'profile-start') {
        profiler = new Session()
        profiler.connect()
        await profiler.post('Profiler.enable')
        await profiler.post('Profiler.setSamplingInterval', { interval: 500 })
        await profiler.post('Profiler.start')
        reply({ type: 'profiling' })
      } else if (cmd.type === 'profile-stop' && profiler !== null) {
        const { profile } = await profiler.post('Profiler.stop')
        profiler.disconnect()
        profiler = null
        await writeFile(cmd.file, JSON.stringify(profile))
        reply({ type: 'profiled', file: cmd.file })
      } else if (cmd.type === 'gc') {
        // Full collections until the committed heap stops shrinking: each one compacts only
        // part of a fragmented old generation (V8 bounds what one collection moves), so one or
        // two leave free pages that later collections of a quiet broker give back.
        const gc = (globalThis as { gc?: () => void }).gc
        let collections = 0
        if (gc !== undefined) {
          let committed = Number.POSITIVE_INFINITY
          for (let same = 0; collections < MAX_COLLECTIONS && same < 3; collections++) {
            gc()
            const now = process.memoryUsage().heapTotal
            same = now < committed ? 0 : same + 1
            committed = Math.min(committed, now)
          }
        }
        const m = process.memoryUsage()
        reply({ type: 'collected', heapUsed: m.heapUsed, external: m.external, memory: m, collections })
      } else if (cmd.type === 'memory') {
        reply({ type: 'memory', memory: process.memoryUsage() })
      } else if (cmd.type === 'heap-snapshot') {
        writeHeapSnapshot(cmd.file)
        reply({ type: 'heap-snapshot', file: cmd.file })
      } else if (cmd.type === 'stop') {
        await running.close()
        await rm(dataDir, { recursive: true, force: true })
        process.exit(0)
      }
    })().catch((err: unknown) => reply({ type: 'failed', error: String(err) }))
  })
  process.on('disconnect', () => {
    void running.close().finally(() => rm(dataDir, { recursive: true, force: true })).finally(() => process.exit(0))
  })
  reply({ type: 'ready', pid: process.pid, mqttPort: running.mqttPort!, httpPort: running.httpPort, users, seedMs: Math.round(performance.now() - t0) })
}

main().catch((err: unknown) => {
  process.send?.({ type: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies ChimeChildReport)
  process.exitCode = 1
  setTimeout(() => process.exit(1), 100)
})
