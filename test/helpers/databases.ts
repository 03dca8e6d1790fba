// Fresh, migrated databases for tests: a SQLite file in a temporary directory, or a uniquely
// named MariaDB database dropped in teardown. MariaDB suites run whenever the service answers;
// with CHIME_TEST_SERVICES=require an unreachable MariaDB fails the test instead of skipping it.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { createConnection, type Connection } from 'mysql2/promise'
import { migrate } from '../../api/src/db/migrate.ts'
import { mysqlParts, redactUrl } from '../../api/src/db/open-database.ts'

export const requireServices = process.env['CHIME_TEST_SERVICES'] === 'require'

/** The MariaDB server the tests create their databases on (no database in the path). */
export const mysqlServerUrl = (process.env['CHIME_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '')

function connectToServer(): Promise<Connection> {
  const p = mysqlParts(mysqlServerUrl)
  return createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, connectTimeout: 3000 })
}

let availability: Promise<string | null> | undefined

/** Why MariaDB cannot be used, or null when it answers (checked once per test process). */
function mysqlUnavailableReason(): Promise<string | null> {
  availability ??= connectToServer().then(
    async (conn) => {
      await conn.end()
      return null
    },
    (err: unknown) => `MariaDB at ${redactUrl(mysqlServerUrl)} is not reachable: ${err instanceof Error ? err.message : String(err)}`,
  )
  return availability
}

export async function mysqlAvailable(): Promise<boolean> {
  return (await mysqlUnavailableReason()) === null
}

/**
 * An empty, uniquely named MariaDB database (not migrated), dropped in teardown; null when
 * MariaDB is down and not required (the caller then ends its test).
 */
export async function emptyMysqlUrl(t: Test): Promise<string | null> {
  const reason = await mysqlUnavailableReason()
  if (reason !== null) {
    if (requireServices) {
      t.fail(`${reason} (CHIME_TEST_SERVICES=require)`)
      throw new Error(reason)
    }
    t.comment(`${reason}: the MariaDB suite is not run because the service is down (CHIME_TEST_SERVICES=require makes this a failure)`)
    return null
  }
  const name = `chime_t_${randomBytes(6).toString('hex')}`
  const admin = await connectToServer()
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  } finally {
    await admin.end()
  }
  t.teardown(async () => {
    const conn = await connectToServer()
    try {
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``)
    } finally {
      await conn.end()
    }
  })
  return `${mysqlServerUrl}/${name}`
}

/** A migrated, uniquely named MariaDB database dropped in teardown, or null (see emptyMysqlUrl). */
export async function freshMysqlUrl(t: Test): Promise<string | null> {
  const url = await emptyMysqlUrl(t)
  if (url !== null) await migrate(url)
  return url
}

/** file:<temporary dir>/chime.db, not created yet; the directory is removed in teardown. */
export async function emptySqliteUrl(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chime-db-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return `file:${join(dir, 'chime.db')}`
}

/** A migrated SQLite database in a temporary directory removed in teardown. */
export async function freshSqliteUrl(t: Test): Promise<string> {
  const url = await emptySqliteUrl(t)
  await migrate(url)
  return url
}

/** Runs fn as the subtests `${name} [sqlite]` and `${name} [mysql]`, each on a fresh database. */
export async function eachBackend(t: Test, name: string, fn: (t: Test, url: string) => Promise<void>): Promise<void> {
  await t.test(`${name} [sqlite]`, async (t) => {
    await fn(t, await freshSqliteUrl(t))
  })
  await t.test(`${name} [mysql]`, async (t) => {
    const url = await freshMysqlUrl(t)
    if (url !== null) await fn(t, url)
  })
}
