// `npx tsx bench/notify-fanout.ts [members]`: the notification work of one API process for a
// server of `members` members (default 20000), on SQLite and on MariaDB (CHIME_TEST_MYSQL_URL,
// default mysql://root@127.0.0.1:3306; a scratch database is made and dropped). Measures the
// per-post cost when nobody is mentioned (the default level of server channels) and the rate
// of an @everyone fan-out, with inbox publishes counted instead of sent.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'
import { migrate } from '../api/src/db/migrate.ts'
import { mysqlParts, sqliteUrlForDataDir } from '../api/src/db/open-database.ts'
import { openStore } from '../api/src/store/store.ts'
import { Notifier } from '../api/src/services/notifier.ts'
import type { Core } from '../api/src/services/context.ts'
import type { DeltaRecord } from '../api/src/store/types.ts'

const SERVER = 'SRV0000000000000000000000A'
const CHANNEL = 'CHN0000000000000000000000A'
const OWNER = 'OWNER00000000000000000000A'

async function bench(url: string, label: string, members: number): Promise<void> {
  await migrate(url)
  const store = await openStore(url, { maxDeltas: 10_000, maxBytes: 10_000_000 })
  const p = store.db.prisma
  const users = Array.from({ length: members }, (_, i) => `U${String(i).padStart(25, '0')}`)
  for (let i = 0; i < users.length + 1; i += 5000) {
    await p.user.createMany({ data: [OWNER, ...users].slice(i, i + 5000).map((id) => ({ id, username: id.toLowerCase(), passwordHash: 'x', displayName: id })) })
  }
  await p.server.create({ data: { id: SERVER, name: 'bench', ownerId: OWNER } })
  await p.channel.create({ data: { id: CHANNEL, serverId: SERVER, kind: 'text', name: 'general' } })
  for (let i = 0; i < users.length; i += 5000) await p.serverMember.createMany({ data: users.slice(i, i + 5000).map((userId) => ({ serverId: SERVER, userId, role: 'member' })) })
  await p.serverMember.create({ data: { serverId: SERVER, userId: OWNER, role: 'owner' } })
  let sent = 0
  const notifier = new Notifier(store, null, 10_000, { warn: () => {}, error: (obj, msg) => console.error(msg, obj) })
  notifier.attach({ inbox: { notify: async () => void sent++ } } as unknown as Core)
  const delta = (id: number, content: string, mentions?: string[]): DeltaRecord => ({
    deltaId: BigInt(id), channelId: CHANNEL, serverId: SERVER, seq: BigInt(id), type: 'message', userId: OWNER, content, clientMsgId: null, targetId: null,
    meta: mentions ? JSON.stringify({ mentions }) : null, attachments: null, isPartitionHead: false, createdAt: new Date(),
  })
  const posts = 200
  let t0 = performance.now()
  for (let i = 1; i <= posts; i++) notifier.enqueue([delta(i, 'plain')])
  await notifier.idle()
  const plainMs = (performance.now() - t0) / posts
  const afterPlain = sent
  t0 = performance.now()
  notifier.enqueue([delta(posts + 1, '<@everyone>', ['everyone'])])
  await notifier.idle()
  const ms = performance.now() - t0
  console.log(`${label}: ${members}-member server; a post mentioning nobody: ${plainMs.toFixed(2)} ms of notification work and ${afterPlain} notifications; @everyone: ${sent - afterPlain} notifications in ${ms.toFixed(0)} ms (${Math.round((sent - afterPlain) / (ms / 1000))}/s)`)
  await store.close()
}

const members = Number(process.argv[2] ?? 20_000)
const dir = await mkdtemp(join(tmpdir(), 'chime-notify-bench-'))
await bench(sqliteUrlForDataDir(dir), 'SQLite', members)
await rm(dir, { recursive: true, force: true })
const server = (process.env['CHIME_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '')
const parts = mysqlParts(server)
const conn = await createConnection({ host: parts.host, port: parts.port, user: parts.user, password: parts.password })
const db = `chime_notify_bench_${process.pid}`
await conn.query(`CREATE DATABASE ${db}`)
try {
  await bench(`${server}/${db}`, 'MariaDB', members)
} finally {
  await conn.query(`DROP DATABASE ${db}`)
  await conn.end()
}
