// The search migration (20261124100000_search) on SQLite and MariaDB: the full-text index
// exists after migrating and covers messages written before it (backfill); on SQLite the
// triggers keep the FTS5 table in step with inserts, edits, deletes and expiry; the drift check
// accepts exactly the listed search objects (the FTS5 table, its shadow tables and triggers on
// SQLite; the FULLTEXT index on MySQL) and still reports every other difference.
import { cp, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import Sqlite from 'better-sqlite3'
import { createConnection } from 'mysql2/promise'
import { migrate, MIGRATIONS_DIRS } from '../../api/src/db/migrate.ts'
import { dialectOf, mysqlParts, sqlitePath } from '../../api/src/db/open-database.ts'
import { checkSchemaDrift, expectedShape, SCHEMA_PATH, SQLITE_SEARCH_EXTRAS } from '../../api/src/db/schema-drift.ts'
import { deriveSqliteSchema } from '../../prisma/scripts/derive-sqlite.ts'
import { eachBackend, emptyMysqlUrl, emptySqliteUrl, freshSqliteUrl } from '../helpers/databases.ts'

const SEARCH = '20261124100000_search'
type Row = Record<string, unknown>

/** Runs SQL directly on the database of the URL (bypassing Prisma and migrate). */
async function rawQuery(url: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  if (dialectOf(url) === 'sqlite') {
    const db = new Sqlite(sqlitePath(url))
    try {
      const statement = db.prepare(sql)
      return statement.reader ? (statement.all(...params) as Row[]) : (statement.run(...params), [])
    } finally {
      db.close()
    }
  }
  const p = mysqlParts(url)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database })
  try {
    const [rows] = await conn.query(sql, params)
    return Array.isArray(rows) ? (rows as Row[]) : []
  } finally {
    await conn.end()
  }
}

/** Ids of the messages the full-text index finds for one word, ascending. */
async function found(url: string, word: string): Promise<number[]> {
  const rows = dialectOf(url) === 'sqlite'
    ? await rawQuery(url, 'SELECT rowid AS id FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid', [`"${word}"`])
    : await rawQuery(url, 'SELECT message_id AS id FROM messages WHERE MATCH(content) AGAINST (? IN BOOLEAN MODE) ORDER BY message_id', [`+${word}`])
  return rows.map((r) => Number(r['id']))
}

const insertMessage = (url: string, id: number, content: string | null): Promise<Row[]> =>
  rawQuery(url, `INSERT INTO messages (message_id, channel_id, seq, user_id, content, timestamp) VALUES (?, 'c1', ?, 'u1', ?, '2026-01-01 00:00:00')`, [id, id, content])

/** FTS5's own check that the index matches messages row for row (external content). */
async function ftsIntegrity(url: string): Promise<void> {
  await rawQuery(url, `INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`)
}

async function onEmptyDatabases(t: Test, name: string, fn: (t: Test, url: string) => Promise<void>): Promise<void> {
  await t.test(`${name} [sqlite]`, async (t) => fn(t, await emptySqliteUrl(t)))
  await t.test(`${name} [mysql]`, async (t) => {
    const url = await emptyMysqlUrl(t)
    if (url !== null) await fn(t, url)
  })
}

t.test('the explicit list of SQLite search objects is what the migration creates', async (t) => {
  t.same(SQLITE_SEARCH_EXTRAS, {
    fts5Tables: [{ name: 'messages_fts', contentTable: 'messages', columns: ['content'] }],
    shadowTables: ['messages_fts_config', 'messages_fts_data', 'messages_fts_docsize', 'messages_fts_idx'],
    triggers: [
      { name: 'messages_fts_insert', table: 'messages', event: 'AFTER INSERT' },
      { name: 'messages_fts_update', table: 'messages', event: 'AFTER UPDATE OF content' },
      { name: 'messages_fts_delete', table: 'messages', event: 'AFTER DELETE' },
    ],
  }, 'the list changes only together with a migration and this test')
  const url = await freshSqliteUrl(t)
  const objects = await rawQuery(url, `SELECT type, name FROM sqlite_master WHERE name LIKE 'messages_fts%' ORDER BY type, name`)
  t.same(objects.map((o) => `${String(o['type'])} ${String(o['name'])}`), [
    'table messages_fts', 'table messages_fts_config', 'table messages_fts_data', 'table messages_fts_docsize', 'table messages_fts_idx',
    'trigger messages_fts_delete', 'trigger messages_fts_insert', 'trigger messages_fts_update',
  ])
  const [fts] = await rawQuery(url, `SELECT sql FROM sqlite_master WHERE name = 'messages_fts'`)
  t.match(String(fts!['sql']), /CREATE VIRTUAL TABLE "messages_fts" USING fts5\([\s\S]*content='messages',\s*content_rowid='message_id'/, 'an external-content FTS5 table over messages')
})

t.test('the schema declares the index as @@fulltext, and the SQLite derivation leaves it out', async (t) => {
  const source = await readFile(SCHEMA_PATH, 'utf8')
  t.same(expectedShape(source).get('messages')?.fulltexts, [['content']])
  t.notMatch(deriveSqliteSchema(source), /@@fulltext/)
  const withComment = deriveSqliteSchema('generator client {\n  output = "../generated/mysql"\n}\ndatasource db {\n  provider = "mysql"\n}\nmodel A {\n  id Int @id\n  body String @db.Text\n\n  // search\n  @@fulltext([body])\n  @@index([id])\n}\n')
  t.match(withComment, /body String\n\n  @@index\(\[id\]\)\n\}/, 'the line and its comment go, the rest stays')
})

await eachBackend(t, 'a migrated database has the full-text index and no drift', async (t, url) => {
  t.same(await checkSchemaDrift(url), [])
  if (dialectOf(url) === 'mysql') {
    const rows = await rawQuery(url, `SELECT INDEX_NAME i, COLUMN_NAME c, INDEX_TYPE ty FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND INDEX_TYPE = 'FULLTEXT'`)
    t.same(rows, [{ i: 'messages_content_idx', c: 'content', ty: 'FULLTEXT' }], 'one FULLTEXT index, on messages(content)')
  }
  await insertMessage(url, 1, 'searchable words here')
  t.same(await found(url, 'searchable'), [1], 'a new message is indexed')
})

await onEmptyDatabases(t, 'messages written before the migration are indexed by it (backfill)', async (t, url) => {
  const dir = t.testdir()
  const all = MIGRATIONS_DIRS[dialectOf(url)]
  for (const name of (await readdir(all, { withFileTypes: true })).filter((e) => e.isDirectory() && e.name < SEARCH)) {
    await cp(join(all, name.name), join(dir, name.name), { recursive: true })
  }
  await writeFile(join(dir, 'migration_lock.toml'), await readFile(join(all, 'migration_lock.toml'), 'utf8'))
  // The earlier migrations only: the drift check (for the full schema) misses the index.
  await t.rejects(migrate(url, { dir }), { name: 'MigrationError', message: /does not match/ })
  await insertMessage(url, 7, 'written before search existed')
  await insertMessage(url, 8, null)
  const { applied } = await migrate(url)
  t.ok(applied.includes(SEARCH), 'the search migration applied')
  t.same(await found(url, 'existed'), [7], 'the old message is found')
  if (dialectOf(url) === 'sqlite') await ftsIntegrity(url)
  t.same(await checkSchemaDrift(url), [])
})

await eachBackend(t, 'edits, deletes, expiry and removed rows change what the index finds', async (t, url) => {
  await insertMessage(url, 1, 'original wording')
  await insertMessage(url, 2, null)
  await insertMessage(url, 3, 'soon deleted')
  await insertMessage(url, 4, 'soon removed')
  await rawQuery(url, 'UPDATE messages SET content = ?, is_edited = ? WHERE message_id = 1', ['revised wording', 1])
  t.same(await found(url, 'original'), [], 'the old words of an edited message are gone')
  t.same(await found(url, 'revised'), [1], 'its new words are found')
  await rawQuery(url, 'UPDATE messages SET content = ? WHERE message_id = 2', ['filled later'])
  t.same(await found(url, 'filled'), [2], 'content set on a row that had none')
  await rawQuery(url, 'UPDATE messages SET is_deleted = ?, content = NULL WHERE message_id = 3', [1])
  t.same(await found(url, 'deleted'), [], 'a deleted (or expired: content NULL) message is gone')
  await rawQuery(url, 'UPDATE messages SET pinned_at = ? WHERE message_id = 1', ['2026-01-02 00:00:00'])
  t.same(await found(url, 'revised'), [1], 'other updates leave the index alone')
  await rawQuery(url, 'DELETE FROM messages WHERE message_id = 4')
  t.same(await found(url, 'removed'), [], 'a removed row is gone')
  if (dialectOf(url) === 'sqlite') await ftsIntegrity(url)
})

await t.test('the drift check still fails on anything else [sqlite]', async (t) => {
  await t.test('a missing or extra trigger', async (t) => {
    const url = await freshSqliteUrl(t)
    await rawQuery(url, 'DROP TRIGGER messages_fts_update')
    await rawQuery(url, `CREATE TRIGGER stray_trigger AFTER INSERT ON users BEGIN SELECT 1; END`)
    t.same((await checkSchemaDrift(url)).sort(), ['trigger messages_fts_update is missing', 'trigger stray_trigger is not in the schema'])
  })
  await t.test('a trigger on the wrong event', async (t) => {
    const url = await freshSqliteUrl(t)
    await rawQuery(url, 'DROP TRIGGER messages_fts_update')
    await rawQuery(url, `CREATE TRIGGER messages_fts_update AFTER UPDATE ON messages BEGIN SELECT 1; END`)
    t.same(await checkSchemaDrift(url), ['trigger messages_fts_update is not AFTER UPDATE OF content on messages'])
  })
  await t.test('a missing FTS5 table', async (t) => {
    const url = await freshSqliteUrl(t)
    for (const name of ['messages_fts_insert', 'messages_fts_update', 'messages_fts_delete']) await rawQuery(url, `DROP TRIGGER ${name}`)
    await rawQuery(url, 'DROP TABLE messages_fts')
    t.same((await checkSchemaDrift(url)).sort(), [
      'full-text table messages_fts is missing',
      'table messages_fts_config of the full-text index is missing',
      'table messages_fts_data of the full-text index is missing',
      'table messages_fts_docsize of the full-text index is missing',
      'table messages_fts_idx of the full-text index is missing',
      'trigger messages_fts_delete is missing',
      'trigger messages_fts_insert is missing',
      'trigger messages_fts_update is missing',
    ])
  })
  await t.test('a plain table in place of the FTS5 table', async (t) => {
    const url = await freshSqliteUrl(t)
    await rawQuery(url, 'DROP TABLE messages_fts')
    await rawQuery(url, 'CREATE TABLE messages_fts (content TEXT)')
    for (const shadow of SQLITE_SEARCH_EXTRAS.shadowTables) await rawQuery(url, `CREATE TABLE ${shadow} (x INTEGER)`)
    t.same(await checkSchemaDrift(url), ['full-text table messages_fts is not an FTS5 table over messages'])
  })
  await t.test('another FTS5 table', async (t) => {
    const url = await freshSqliteUrl(t)
    await rawQuery(url, `CREATE VIRTUAL TABLE deltas_fts USING fts5(content, content='deltas', content_rowid='delta_id')`)
    const drift = await checkSchemaDrift(url)
    t.ok(drift.includes('table deltas_fts is not in the schema'), drift.join('; '))
    t.ok(drift.includes('table deltas_fts_data is not in the schema'), 'and its shadow tables')
  })
  await t.test('a schema without the @@fulltext', async (t) => {
    const url = await freshSqliteUrl(t)
    const schema = (await readFile(SCHEMA_PATH, 'utf8')).replace(/@@fulltext\(\[content\]\)/, '')
    t.same(await checkSchemaDrift(url, schema), ['FTS5 table messages_fts has no @@fulltext([content]) on messages in the schema'])
    const more = (await readFile(SCHEMA_PATH, 'utf8')).replace('@@map("deltas")', '@@fulltext([content])\n  @@map("deltas")')
    t.same(await checkSchemaDrift(url, more), ['fulltext index on deltas(content) has no FTS5 table in SQLITE_SEARCH_EXTRAS'])
  })
})

await t.test('the drift check still fails on anything else [mysql]', async (t) => {
  const url = await emptyMysqlUrl(t)
  if (url === null) return
  await migrate(url)
  await rawQuery(url, 'ALTER TABLE messages DROP INDEX messages_content_idx')
  await rawQuery(url, 'CREATE FULLTEXT INDEX deltas_content_idx ON deltas(content)')
  t.same((await checkSchemaDrift(url)).sort(), [
    'fulltext index on deltas(content) is not in the schema',
    'fulltext index on messages(content) is missing',
  ])
  await rawQuery(url, 'ALTER TABLE deltas DROP INDEX deltas_content_idx')
  await rawQuery(url, 'CREATE INDEX messages_content_idx ON messages(content(100))')
  t.same((await checkSchemaDrift(url)).sort(), [
    'fulltext index on messages(content) is missing',
    'index on messages(content) is not in the schema',
  ], 'a plain index is no FULLTEXT index')
})
