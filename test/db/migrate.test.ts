// migrate() and `npm run db:migrate` on SQLite and MariaDB: a fresh database gets the init
// migration, recorded as Prisma records it; a second run applies nothing; an edited or
// unfinished migration is refused; and the drift check really fails when the database
// differs from prisma/schema.prisma (so a migration that did nothing cannot pass).
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import Sqlite from 'better-sqlite3'
import { createConnection } from 'mysql2/promise'
import { checksumOf, migrate, MIGRATIONS_DIRS } from '../../api/src/db/migrate.ts'
import { dialectOf, mysqlParts, sqlitePath } from '../../api/src/db/open-database.ts'
import { checkSchemaDrift } from '../../api/src/db/schema-drift.ts'
import { emptyMysqlUrl, emptySqliteUrl } from '../helpers/databases.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const INIT = '20261123000000_init'
// Every migration, in order: the runner applies them all and the tests below expect each.
const ALL = readdirSync(fileURLToPath(new URL('../../prisma/migrations/', import.meta.url)), { withFileTypes: true })
  .filter((e) => e.isDirectory()).map((e) => e.name).sort()

type Row = Record<string, unknown>

/** Runs SQL statements directly on the database of the URL (bypassing Prisma and migrate). */
async function rawQuery(url: string, sql: string): Promise<Row[]> {
  if (dialectOf(url) === 'sqlite') {
    const db = new Sqlite(sqlitePath(url))
    try {
      const statement = db.prepare(sql)
      return statement.reader ? (statement.all() as Row[]) : (statement.run(), [])
    } finally {
      db.close()
    }
  }
  const p = mysqlParts(url)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database })
  try {
    const [rows] = await conn.query(sql)
    return Array.isArray(rows) ? (rows as Row[]) : []
  } finally {
    await conn.end()
  }
}

/** Runs fn on an empty (unmigrated) SQLite and MariaDB database; `[mysql]` ends early if MariaDB is down. */
async function onEmptyDatabases(t: Test, name: string, fn: (t: Test, url: string) => Promise<void>): Promise<void> {
  await t.test(`${name} [sqlite]`, async (t) => fn(t, await emptySqliteUrl(t)))
  await t.test(`${name} [mysql]`, async (t) => {
    const url = await emptyMysqlUrl(t)
    if (url === null) return
    // migrate() must create the database itself; teardown still drops it.
    await rawQuery(url, `DROP DATABASE \`${mysqlParts(url).database}\``)
    await fn(t, url)
  })
}

function runMigrateScript(databaseUrl: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (databaseUrl === undefined) delete env['DATABASE_URL']
  else env['DATABASE_URL'] = databaseUrl
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import=tsx', 'prisma/scripts/migrate.ts'], { cwd: root, env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

const dirOf = (url: string): string => MIGRATIONS_DIRS[dialectOf(url)]

await onEmptyDatabases(t, 'a fresh database gets the init migration, recorded like Prisma does', async (t, url) => {
  t.same(await migrate(url), { applied: ALL })
  t.same(await checkSchemaDrift(url), [], 'the migrated database matches prisma/schema.prisma')
  const rows = await rawQuery(url, 'SELECT id, checksum, migration_name, started_at, finished_at, logs, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name')
  t.same(rows.map((r) => r['migration_name']), ALL)
  const row = rows[0]!
  const sql = await readFile(join(dirOf(url), INIT, 'migration.sql'), 'utf8')
  t.equal(row['checksum'], checksumOf(sql), 'checksum is the sha256 of migration.sql')
  t.match(String(row['checksum']), /^[0-9a-f]{64}$/)
  t.match(String(row['id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(row['migration_name'], INIT)
  t.not(row['started_at'], null)
  t.not(row['finished_at'], null)
  t.equal(row['logs'], null)
  t.equal(row['rolled_back_at'], null)
  t.equal(Number(row['applied_steps_count']), 1)
  const sequencer = await rawQuery(url, 'SELECT id, last_delta_id FROM sequencer')
  t.same(sequencer.map((r) => [Number(r['id']), Number(r['last_delta_id'])]), [[1, 0]], 'the single sequencer row')
})

await onEmptyDatabases(t, 'a second run applies nothing and still verifies', async (t, url) => {
  await migrate(url)
  t.same(await migrate(url), { applied: [] })
  const rows = await rawQuery(url, 'SELECT COUNT(*) AS n FROM _prisma_migrations')
  t.equal(Number(rows[0]!['n']), ALL.length)
  const sequencer = await rawQuery(url, 'SELECT COUNT(*) AS n FROM sequencer')
  t.equal(Number(sequencer[0]!['n']), 1, 'the sequencer row is not inserted twice')
})

await onEmptyDatabases(t, 'an applied migration that was edited is refused', async (t, url) => {
  const dir = t.testdir()
  await cp(dirOf(url), dir, { recursive: true })
  t.same(await migrate(url, { dir }), { applied: ALL })
  const file = join(dir, INIT, 'migration.sql')
  await writeFile(file, `${await readFile(file, 'utf8')}\n-- an edit after the fact\n`)
  await t.rejects(migrate(url, { dir }), { name: 'MigrationError', message: /migration 20261123000000_init was modified after it was applied/ })
  // The committed file still matches what was applied; a changed recorded checksum is refused too.
  t.same(await migrate(url), { applied: [] })
  await rawQuery(url, `UPDATE _prisma_migrations SET checksum = '${'0'.repeat(64)}'`)
  await t.rejects(migrate(url), { name: 'MigrationError', message: /checksum [0-9a-f]{64} differs from the recorded 0{64}/ })
})

await onEmptyDatabases(t, 'an unfinished migration is refused', async (t, url) => {
  await migrate(url)
  await rawQuery(url, `INSERT INTO _prisma_migrations (id, checksum, migration_name, applied_steps_count) VALUES ('00000000-0000-4000-8000-000000000000', '${'1'.repeat(64)}', '20261124000000_half_done', 0)`)
  await t.rejects(migrate(url), { name: 'MigrationError', message: /20261124000000_half_done was started but never finished/ })
})

await onEmptyDatabases(t, 'a failing migration stops the run and is not recorded as finished', async (t, url) => {
  const dir = t.testdir()
  await cp(dirOf(url), dir, { recursive: true })
  const broken = '20991231000000_broken'
  await mkdir(join(dir, broken))
  await writeFile(join(dir, broken, 'migration.sql'), 'CREATE TABLE half_done (id INTEGER NOT NULL);\nTHIS IS NOT SQL;\n')
  await t.rejects(migrate(url, { dir }), { name: 'MigrationError', message: /migration 20991231000000_broken failed/ })
  const rows = await rawQuery(url, 'SELECT migration_name, finished_at, logs FROM _prisma_migrations ORDER BY migration_name')
  if (dialectOf(url) === 'sqlite') {
    // SQLite DDL is transactional: the failed migration left nothing behind.
    t.same(rows.map((r) => r['migration_name']), ALL)
    t.same(await rawQuery(url, `SELECT name FROM sqlite_master WHERE name = 'half_done'`), [])
  } else {
    // MySQL DDL is not: the row stays unfinished with the error, and the next run refuses.
    t.same(rows.map((r) => [r['migration_name'], r['finished_at'] === null]), [...ALL.map((m) => [m, false]), [broken, true]])
    t.match(String(rows.at(-1)!['logs']), /SQL syntax/)
    await t.rejects(migrate(url, { dir }), { message: /20991231000000_broken was started but never finished/ })
  }
})

await onEmptyDatabases(t, 'the drift check reports a database that differs from the schema', async (t, url) => {
  await migrate(url)
  await rawQuery(url, 'ALTER TABLE servers DROP COLUMN description')
  await rawQuery(url, 'DROP INDEX messages_user_id_idx' + (dialectOf(url) === 'mysql' ? ' ON messages' : ''))
  await rawQuery(url, 'CREATE TABLE stray (id INTEGER PRIMARY KEY)')
  await rawQuery(url, 'DROP TABLE sequencer')
  const drift = await checkSchemaDrift(url)
  t.ok(drift.includes('column servers.description is missing'), 'a dropped column')
  t.ok(drift.includes('index on messages(user_id) is missing'), 'a dropped index')
  t.ok(drift.includes('table stray is not in the schema'), 'an extra table')
  t.ok(drift.includes('table sequencer is missing'), 'a missing table')
  t.equal(drift.length, 4, drift.join('; '))
  await t.rejects(migrate(url), { name: 'MigrationError', message: /does not match prisma\/schema\.prisma:[\s\S]*column servers\.description is missing/ })
})

await t.test('the drift check compares nullability, keys and MySQL native types [mysql]', async (t) => {
  const url = await emptyMysqlUrl(t)
  if (url === null) return
  await migrate(url)
  await rawQuery(url, 'ALTER TABLE users MODIFY display_name VARCHAR(64) NOT NULL')
  await rawQuery(url, 'ALTER TABLE channels MODIFY server_id VARCHAR(32) NOT NULL')
  await rawQuery(url, 'ALTER TABLE deltas MODIFY attachments TEXT NULL')
  await rawQuery(url, 'ALTER TABLE deltas DROP INDEX deltas_user_id_client_msg_id_key, ADD INDEX deltas_user_id_client_msg_id_key (user_id, client_msg_id)')
  await rawQuery(url, 'ALTER TABLE server_users DROP PRIMARY KEY, ADD PRIMARY KEY (user_id, server_id)')
  t.same((await checkSchemaDrift(url)).sort(), [
    'column channels.server_id is NOT NULL, the schema says nullable',
    'column deltas.attachments is string, the schema says json',
    'column users.display_name is varchar(64), the schema says varchar(128)',
    'index on deltas(user_id, client_msg_id) is not in the schema',
    'primary key of server_users is (user_id, server_id), the schema says (server_id, user_id)',
    'unique index on deltas(user_id, client_msg_id) is missing',
  ].sort())
})

await t.test('the drift check compares nullability and types [sqlite]', async (t) => {
  const url = await emptySqliteUrl(t)
  await migrate(url)
  await rawQuery(url, 'ALTER TABLE channels RENAME COLUMN server_id TO old_server_id')
  await rawQuery(url, 'ALTER TABLE channels ADD COLUMN server_id INTEGER NOT NULL DEFAULT 0')
  t.same((await checkSchemaDrift(url)).sort(), [
    'column channels.old_server_id is not in the schema',
    'column channels.server_id is NOT NULL, the schema says nullable',
    'column channels.server_id is int, the schema says string',
    'index on channels(old_server_id) is not in the schema',
    'index on channels(server_id) is missing',
  ].sort())
})

await onEmptyDatabases(t, 'npm run db:migrate migrates, and exits 1 on drift', async (t, url) => {
  const first = await runMigrateScript(url)
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, new RegExp(`applied ${ALL.join(', ')}; the schema matches`))
  const second = await runMigrateScript(url)
  t.equal(second.code, 0, second.stderr)
  t.match(second.stdout, /nothing to apply; the schema matches/)
  await rawQuery(url, 'ALTER TABLE servers DROP COLUMN description')
  const drifted = await runMigrateScript(url)
  t.equal(drifted.code, 1, 'exit status 1 when the database does not match the schema')
  t.match(drifted.stderr, /does not match prisma\/schema\.prisma:[\s\S]*column servers\.description is missing/)
})

await onEmptyDatabases(t, 'the social migration gives existing servers their log and existing 1:1 chats their pair key', async (t, url) => {
  const dir = t.testdir()
  await cp(join(dirOf(url), INIT), join(dir, INIT), { recursive: true })
  await writeFile(join(dir, 'migration_lock.toml'), await readFile(join(dirOf(url), 'migration_lock.toml'), 'utf8'))
  // Only the init migration: the database is at the previous schema (the drift check is for the full schema).
  await t.rejects(migrate(url, { dir }), { name: 'MigrationError', message: /does not match/ })
  const statements = [
    "INSERT INTO servers (id, name, owner_id) VALUES ('s1', 'Old server', 'u1')",
    "INSERT INTO server_users (server_id, user_id, role) VALUES ('s1', 'u1', 'owner')",
    "INSERT INTO server_users (server_id, user_id, role) VALUES ('s1', 'u2', 'member')",
    "INSERT INTO channels (id, server_id, kind, name) VALUES ('c1', NULL, 'dm', 'direct')",
    "INSERT INTO chat_members (channel_id, user_id, role) VALUES ('c1', 'u9', 'member')",
    "INSERT INTO chat_members (channel_id, user_id, role) VALUES ('c1', 'u3', 'member')",
    "INSERT INTO messages (message_id, channel_id, seq, user_id, content, timestamp) VALUES (7, 'c1', 1, 'u3', 'before', '2026-01-01 00:00:00')",
  ]
  for (const sql of statements) await rawQuery(url, sql)
  t.same(await migrate(url), { applied: ALL.slice(1) })
  const [old] = await rawQuery(url, 'SELECT kind, content, is_edited, expires_at FROM messages WHERE message_id = 7')
  t.same({ ...old, is_edited: Number(old!['is_edited']) }, { kind: 'text', content: 'before', is_edited: 0, expires_at: null }, 'messages from before the messaging migration are text messages')
  const log = await rawQuery(url, "SELECT server_id, kind, name FROM channels WHERE id = 's1'")
  t.same(log, [{ server_id: 's1', kind: 'server', name: 'Old server' }], 'the server log channel')
  t.equal(Number((await rawQuery(url, "SELECT member_count FROM servers WHERE id = 's1'"))[0]!['member_count']), 2)
  t.equal((await rawQuery(url, "SELECT dm_key FROM channels WHERE id = 'c1'"))[0]!['dm_key'], 'u3:u9')
})

await t.test('npm run db:migrate without DATABASE_URL exits 1', async (t) => {
  const result = await runMigrateScript(undefined)
  t.equal(result.code, 1)
  t.match(result.stderr, /set DATABASE_URL/)
})
