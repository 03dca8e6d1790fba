// Applies Prisma-layout migrations without Prisma's schema engine (which cannot be
// downloaded everywhere): prisma/migrations/<name>/migration.sql on MySQL/MariaDB,
// prisma/sqlite/migrations/<name>/migration.sql on SQLite, in name order, recorded in
// Prisma's own _prisma_migrations table (same columns, sha256 checksums), so that
// `prisma migrate deploy` keeps working wherever the engine is available.
//
// Refuses to continue when an applied migration was edited (checksum differs), when one
// was started but never finished, or when an applied one has no folder. After applying,
// the live schema is compared with prisma/schema.prisma and any difference is an error:
// a migration that silently did nothing cannot pass.
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { createConnection, type Connection } from 'mysql2/promise'
import { dialectOf, mysqlParts, redactUrl, sqlitePath, SQLITE_BUSY_TIMEOUT_MS, type Dialect } from './open-database.ts'
import { checkSchemaDrift } from './schema-drift.ts'

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED'
  constructor(message: string) {
    super(message)
    this.name = 'MigrationError'
  }
}

export const MIGRATIONS_DIRS: Record<Dialect, string> = {
  mysql: fileURLToPath(new URL('../../../prisma/migrations/', import.meta.url)),
  sqlite: fileURLToPath(new URL('../../../prisma/sqlite/migrations/', import.meta.url)),
}

export interface MigrationFile {
  name: string
  sql: string
  /** sha256 hex of migration.sql, as Prisma records it. */
  checksum: string
}

export interface MigrateOptions {
  /** Another migrations folder in Prisma's layout (tests). */
  dir?: string
}

interface AppliedRow {
  migration_name: string
  checksum: string
  finished_at: unknown
  rolled_back_at: unknown
}

export const checksumOf = (sql: string): string => createHash('sha256').update(sql).digest('hex')

/** The migrations of a folder in name order; checks migration_lock.toml names the dialect. */
export async function readMigrations(dialect: Dialect, dir: string = MIGRATIONS_DIRS[dialect]): Promise<MigrationFile[]> {
  const lock = await readFile(join(dir, 'migration_lock.toml'), 'utf8').catch(() => null)
  const provider = lock === null ? null : /^\s*provider\s*=\s*"([^"]+)"/m.exec(lock)?.[1]
  if (provider !== dialect) throw new MigrationError(`${join(dir, 'migration_lock.toml')} must say provider = "${dialect}" (found ${provider ?? 'no lock file'})`)
  const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()
  if (names.length === 0) throw new MigrationError(`no migrations in ${dir}`)
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: checksumOf(sql) }
    }),
  )
}

/** The migrations still to apply; throws if the recorded history cannot be trusted. */
export function pendingMigrations(files: MigrationFile[], applied: AppliedRow[]): MigrationFile[] {
  const live = applied.filter((row) => row.rolled_back_at === null)
  const done = new Set<string>()
  for (const row of live) {
    const file = files.find((f) => f.name === row.migration_name)
    if (row.finished_at === null) {
      throw new MigrationError(`migration ${row.migration_name} was started but never finished; repair the database by hand, then mark it rolled back (prisma migrate resolve --rolled-back) or delete its row from _prisma_migrations`)
    }
    if (file === undefined) throw new MigrationError(`migration ${row.migration_name} is recorded as applied but its folder is missing`)
    if (file.checksum !== row.checksum) {
      throw new MigrationError(`migration ${row.migration_name} was modified after it was applied (checksum ${file.checksum} differs from the recorded ${row.checksum}); add a new migration instead of editing an applied one`)
    }
    done.add(row.migration_name)
  }
  return files.filter((f) => !done.has(f.name))
}

// Prisma's bookkeeping table, column for column (prisma-engines, sql-migration-connector).
const MYSQL_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`

const SQLITE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`

const APPLIED_QUERY = 'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at'

/** Connects to the URL's database, creating it (utf8mb4) if it does not exist yet. */
async function connectCreatingDatabase(url: string): Promise<Connection> {
  const p = mysqlParts(url)
  if (!/^[A-Za-z0-9_$]+$/.test(p.database)) {
    throw new MigrationError(`the database URL ${redactUrl(url)} must name a database made of letters, digits, _ and $`)
  }
  const server = { host: p.host, port: p.port, user: p.user, password: p.password, multipleStatements: true }
  try {
    return await createConnection({ ...server, database: p.database })
  } catch (err) {
    if ((err as { code?: string }).code !== 'ER_BAD_DB_ERROR') throw err
  }
  const admin = await createConnection(server)
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${p.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  } finally {
    await admin.end()
  }
  return createConnection({ ...server, database: p.database })
}

async function migrateMysql(url: string, files: MigrationFile[]): Promise<string[]> {
  const conn = await connectCreatingDatabase(url)
  const lockName = `chime_migrate_${mysqlParts(url).database}`
  try {
    // One migrator at a time per database (several API nodes may start together).
    const [lockRows] = await conn.query('SELECT GET_LOCK(?, 120) AS got', [lockName])
    if (Number((lockRows as { got: unknown }[])[0]?.got) !== 1) throw new MigrationError('another migration held the migration lock for 120 s')
    await conn.query(MYSQL_MIGRATIONS_TABLE)
    const [rows] = await conn.query(APPLIED_QUERY)
    const pending = pendingMigrations(files, rows as AppliedRow[])
    for (const file of pending) {
      const id = randomUUID()
      await conn.query('INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES (?, ?, ?, CURRENT_TIMESTAMP(3))', [id, file.checksum, file.name])
      try {
        // MySQL DDL is not transactional: a failure leaves the row unfinished, as Prisma does.
        await conn.query(file.sql)
      } catch (err) {
        await conn.query('UPDATE _prisma_migrations SET logs = ? WHERE id = ?', [String(err), id])
        throw new MigrationError(`migration ${file.name} failed: ${(err as Error).message}`)
      }
      await conn.query('UPDATE _prisma_migrations SET finished_at = CURRENT_TIMESTAMP(3), applied_steps_count = 1 WHERE id = ?', [id])
    }
    return pending.map((f) => f.name)
  } finally {
    await conn.query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => undefined)
    await conn.end().catch(() => undefined)
  }
}

function migrateSqlite(url: string, files: MigrationFile[]): string[] {
  const path = sqlitePath(url)
  mkdirSync(dirname(path), { recursive: true })
  const db = new Sqlite(path, { timeout: SQLITE_BUSY_TIMEOUT_MS })
  try {
    db.pragma('journal_mode = WAL')
    db.exec(SQLITE_MIGRATIONS_TABLE)
    const pending = pendingMigrations(files, db.prepare(APPLIED_QUERY).all() as AppliedRow[])
    const record = db.prepare(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)`,
    )
    for (const file of pending) {
      const startedAt = new Date().toISOString()
      // SQLite DDL is transactional: a migration applies whole or not at all.
      try {
        db.transaction(() => {
          db.exec(file.sql)
          record.run(randomUUID(), file.checksum, file.name, startedAt, new Date().toISOString())
        }).immediate()
      } catch (err) {
        throw new MigrationError(`migration ${file.name} failed and was rolled back: ${(err as Error).message}`)
      }
    }
    return pending.map((f) => f.name)
  } finally {
    db.close()
  }
}

/**
 * Creates the database if needed, applies pending migrations and verifies the result against
 * prisma/schema.prisma. Throws MigrationError on any problem, drift included.
 */
export async function migrate(url: string, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const dialect = dialectOf(url)
  const files = await readMigrations(dialect, options.dir)
  const applied = dialect === 'mysql' ? await migrateMysql(url, files) : migrateSqlite(url, files)
  const drift = await checkSchemaDrift(url)
  if (drift.length > 0) {
    throw new MigrationError(`after migrating, the database does not match prisma/schema.prisma:\n  ${drift.join('\n  ')}`)
  }
  return { applied }
}
