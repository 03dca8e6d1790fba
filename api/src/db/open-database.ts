// Opens the Prisma client for a database URL: mysql:// or mariadb:// through the MariaDB
// driver adapter (generated/mysql), file: through better-sqlite3 (generated/sqlite). Both
// clients come from one model (prisma/schema.prisma and its derived SQLite twin), so they
// have the same API, but TypeScript sees two unrelated classes; the single cast in
// openSqlite() is where that is hidden. The rest of the code only sees the MySQL type.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaClient as MysqlPrismaClient, type Prisma } from '../../../generated/mysql/client.ts'
import { PrismaClient as SqlitePrismaClient } from '../../../generated/sqlite/client.ts'

export type PrismaClient = MysqlPrismaClient
/** The client inside an interactive transaction (`prisma.$transaction(async (tx) => ...)`). */
export type TransactionClient = Prisma.TransactionClient
export type Dialect = 'mysql' | 'sqlite'

export interface Database {
  prisma: PrismaClient
  dialect: Dialect
  url: string
  close(): Promise<void>
}

/** How long a SQLite writer waits for the lock of another connection before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 5000
export const DEFAULT_CONNECTION_LIMIT = 10

/** The URL with its password masked, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, '$1:***@')
}

export function dialectOf(url: string): Dialect {
  if (/^(mysql|mariadb):\/\//i.test(url)) return 'mysql'
  if (url.startsWith('file:')) return 'sqlite'
  throw new Error(`unsupported database URL ${redactUrl(url)}: use mysql://, mariadb:// or file:`)
}

/** The SQLite file of the embedded profile, file:<abs dir>/chime.db; creates the directory. */
export function sqliteUrlForDataDir(dir: string): string {
  const abs = resolve(dir)
  mkdirSync(abs, { recursive: true })
  return `file:${join(abs, 'chime.db')}`
}

/** The file path of a file: URL (file:/abs, file:///abs, file:rel; a ?query is ignored). */
export function sqlitePath(url: string): string {
  return url.slice('file:'.length).replace(/\?.*$/, '').replace(/^\/\/(?=\/)/, '')
}

export interface MysqlParts {
  host: string
  port: number
  user: string
  password: string
  /** '' when the URL names no database (a server URL). */
  database: string
  connectionLimit: number
}

/** The parts of a mysql:// or mariadb:// URL; `?connection_limit=` sets the pool size (default 10). */
export function mysqlParts(url: string): MysqlParts {
  const u = new URL(url)
  const limitParam = u.searchParams.get('connection_limit')
  const connectionLimit = limitParam === null ? DEFAULT_CONNECTION_LIMIT : Number(limitParam)
  if (!Number.isInteger(connectionLimit) || connectionLimit < 1) {
    throw new Error(`connection_limit must be a positive integer, got ${JSON.stringify(limitParam)} in ${redactUrl(url)}`)
  }
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port === '' ? 3306 : Number(u.port),
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\/+/, '').replace(/\/+$/, '')),
    connectionLimit,
  }
}

async function openMysql(url: string): Promise<Database> {
  const p = mysqlParts(url)
  if (p.database === '') throw new Error(`the database URL ${redactUrl(url)} names no database (mysql://user@host:3306/chime)`)
  const adapter = new PrismaMariaDb(
    { host: p.host, port: p.port, user: p.user, password: p.password, database: p.database, connectionLimit: p.connectionLimit },
    { database: p.database },
  )
  const prisma = new MysqlPrismaClient({ adapter })
  await prisma.$connect()
  return { prisma, dialect: 'mysql', url, close: () => prisma.$disconnect() }
}

async function openSqlite(url: string): Promise<Database> {
  // The adapter opens one better-sqlite3 connection per client, so per-connection pragmas
  // (foreign_keys, busy_timeout) set once here hold for every later query.
  const adapter = new PrismaBetterSqlite3({ url: sqlitePath(url), timeout: SQLITE_BUSY_TIMEOUT_MS })
  const prisma = new SqlitePrismaClient({ adapter }) as unknown as PrismaClient
  await prisma.$connect()
  await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL')
  await prisma.$queryRawUnsafe(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`)
  await prisma.$executeRawUnsafe('PRAGMA foreign_keys = ON')
  return { prisma, dialect: 'sqlite', url, close: () => prisma.$disconnect() }
}

/** Connects to the database of the URL; the caller closes it. */
export async function openDatabase(url: string): Promise<Database> {
  return dialectOf(url) === 'mysql' ? openMysql(url) : openSqlite(url)
}
