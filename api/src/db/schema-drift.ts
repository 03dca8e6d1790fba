// Compares a live database with prisma/schema.prisma: tables, columns (type and nullability),
// primary keys, unique, plain and FULLTEXT indexes (by column list). An empty list means they
// match. On SQLite a @@fulltext of the schema is an FTS5 table kept by triggers instead, which
// Prisma cannot describe: SQLITE_SEARCH_EXTRAS lists those objects, and exactly those must exist.
// migrate() runs it after applying migrations, so a migration that did nothing fails; the
// production profile runs it at start-up.
//
// Types are compared by family (string, int, bigint, bool, datetime, json, ...) on both
// dialects and, on MySQL/MariaDB, also by native type (varchar(32), text, datetime(3), ...)
// as Prisma maps the field. Relation fields and list fields are not columns and are ignored.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { createConnection } from 'mysql2/promise'
import { dialectOf, mysqlParts, sqlitePath } from './open-database.ts'

export type TypeFamily = 'string' | 'int' | 'bigint' | 'bool' | 'datetime' | 'json' | 'float' | 'decimal' | 'bytes' | 'other'

export interface ColumnShape {
  family: TypeFamily
  nullable: boolean
  /** MySQL column type, lower case without integer display width (varchar(32), int, json); null on SQLite. */
  mysqlType: string | null
}

export interface TableShape {
  columns: Map<string, ColumnShape>
  primaryKey: string[]
  uniques: string[][]
  indexes: string[][]
  /** @@fulltext in the schema; FULLTEXT indexes on MySQL/MariaDB (none on SQLite). */
  fulltexts: string[][]
}

/**
 * The objects the SQLite migrations create for full-text search (docs/operations.md, "Search
 * index") that prisma/schema.prisma cannot describe. On SQLite the drift check requires each
 * of them (an FTS5 table over its content table, the FTS5 shadow tables, the triggers that
 * keep it in step) and reports any other table or trigger; each @@fulltext of the schema
 * must have its FTS5 table here and the other way round. Add to this list only with a
 * migration that creates the object.
 */
export const SQLITE_SEARCH_EXTRAS = {
  fts5Tables: [{ name: 'messages_fts', contentTable: 'messages', columns: ['content'] }],
  /** What FTS5 makes for an external-content table named messages_fts. */
  shadowTables: ['messages_fts_config', 'messages_fts_data', 'messages_fts_docsize', 'messages_fts_idx'],
  triggers: [
    { name: 'messages_fts_insert', table: 'messages', event: 'AFTER INSERT' },
    { name: 'messages_fts_update', table: 'messages', event: 'AFTER UPDATE OF content' },
    { name: 'messages_fts_delete', table: 'messages', event: 'AFTER DELETE' },
  ],
} as const

export const SCHEMA_PATH = fileURLToPath(new URL('../../../prisma/schema.prisma', import.meta.url))

const SCALAR_FAMILY: Record<string, TypeFamily> = {
  String: 'string', Int: 'int', BigInt: 'bigint', Boolean: 'bool', DateTime: 'datetime',
  Json: 'json', Float: 'float', Decimal: 'decimal', Bytes: 'bytes',
}

/** The MySQL type Prisma creates for a scalar without a @db attribute. */
const MYSQL_DEFAULT_TYPE: Record<string, string> = {
  String: 'varchar(191)', Int: 'int', BigInt: 'bigint', Boolean: 'tinyint(1)', DateTime: 'datetime(3)',
  Json: 'json', Float: 'double', Decimal: 'decimal(65,30)', Bytes: 'longblob',
}

const emptyTable = (): TableShape => ({ columns: new Map(), primaryKey: [], uniques: [], indexes: [], fulltexts: [] })

/** `int(11)` -> `int`, `bigint(20) unsigned` -> `bigint unsigned`; tinyint(1) (boolean) is kept. */
function normalizeMysqlType(type: string): string {
  const t = type.toLowerCase().replace(/\s+/g, ' ').replace(/, /g, ',').trim()
  if (t === 'tinyint(1)' || t === 'boolean' || t === 'bool') return 'tinyint(1)'
  if (t === 'integer') return 'int'
  return t.replace(/^(tinyint|smallint|mediumint|int|bigint)\(\d+\)/, '$1')
}

/** `@db.VarChar(32)` -> `varchar(32)`; no @db -> Prisma's default mapping. */
function expectedMysqlType(prismaType: string, attrs: string): string | null {
  const native = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(attrs)
  if (native === null) return MYSQL_DEFAULT_TYPE[prismaType] ?? null
  const name = native[1]!.toLowerCase()
  const args = native[2]?.replace(/\s+/g, '')
  const mapped = name === 'unsignedint' ? 'int unsigned' : name === 'unsignedbigint' ? 'bigint unsigned' : name
  return normalizeMysqlType(args === undefined || args === '' ? mapped : `${mapped}(${args})`)
}

/** Splits `[a, b(sort: Desc)]` into column names, mapping field names through @map. */
function columnList(list: string, columnOfField: Map<string, string>): string[] {
  return list.split(',').map((item) => item.trim().replace(/\(.*$/, '')).filter(Boolean).map((f) => columnOfField.get(f) ?? f)
}

/** The tables prisma/schema.prisma describes, by table name (scalar fields only). */
export function expectedShape(schemaText: string = readFileSync(SCHEMA_PATH, 'utf8')): Map<string, TableShape> {
  const tables = new Map<string, TableShape>()
  for (const model of schemaText.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const lines = model[2]!.split('\n').map((l) => l.replace(/\/\/.*$/, '').trim()).filter(Boolean)
    const table = lines.map((l) => /^@@map\("([^"]+)"\)/.exec(l)?.[1]).find((t) => t !== undefined) ?? model[1]!
    const shape = emptyTable()
    const columnOfField = new Map<string, string>()
    for (const line of lines) {
      const field = /^(\w+)\s+(\w+)(\?|\[\])?\s*(.*)$/.exec(line)
      if (field === null || line.startsWith('@@')) continue
      const name = field[1]!
      const type = field[2]!
      const modifier = field[3]
      const attrs = field[4] ?? ''
      const family = SCALAR_FAMILY[type]
      // A type that is not a scalar is another model (a relation field) or an enum; lists are relations.
      if (family === undefined || modifier === '[]' || /@relation\b/.test(attrs)) continue
      const column = /@map\("([^"]+)"\)/.exec(attrs)?.[1] ?? name
      columnOfField.set(name, column)
      shape.columns.set(column, { family, nullable: modifier === '?', mysqlType: expectedMysqlType(type, attrs) })
      if (/(^|\s)@id\b/.test(attrs)) shape.primaryKey = [column]
      if (/(^|\s)@unique\b/.test(attrs)) shape.uniques.push([column])
    }
    for (const line of lines) {
      const block = /^@@(id|unique|index|fulltext)\(\s*(?:fields:\s*)?\[([^\]]*)\]/.exec(line)
      if (block === null) continue
      const columns = columnList(block[2]!, columnOfField)
      if (block[1] === 'id') shape.primaryKey = columns
      else if (block[1] === 'unique') shape.uniques.push(columns)
      else if (block[1] === 'fulltext') shape.fulltexts.push(columns)
      else shape.indexes.push(columns)
    }
    tables.set(table, shape)
  }
  return tables
}

function familyOf(sqlType: string): TypeFamily {
  const t = sqlType.toLowerCase()
  if (t === 'tinyint(1)' || t === 'boolean' || t === 'bool') return 'bool'
  if (t.startsWith('bigint')) return 'bigint'
  if (/^(tinyint|smallint|mediumint|int|integer)\b/.test(t)) return 'int'
  if (/^(json|jsonb)\b/.test(t)) return 'json'
  if (/^(varchar|char|text|tinytext|mediumtext|longtext|clob)\b/.test(t)) return 'string'
  if (/^(datetime|timestamp|date)\b/.test(t)) return 'datetime'
  if (/^(double|float|real)\b/.test(t)) return 'float'
  if (/^(decimal|numeric)\b/.test(t)) return 'decimal'
  if (/blob|binary/.test(t)) return 'bytes'
  return 'other'
}

interface MysqlColumnRow { t: string; c: string; ty: string; n: string }
interface MysqlIndexRow { t: string; i: string; nu: number | string; c: string; ty: string }
interface MysqlCheckRow { t: string; clause: string }

/** MariaDB stores a JSON column as LONGTEXT with a CHECK (json_valid(`col`)) constraint. */
async function mariadbJsonColumns(conn: Awaited<ReturnType<typeof createConnection>>): Promise<Set<string>> {
  const json = new Set<string>()
  try {
    const [rows] = await conn.query('SELECT TABLE_NAME t, CHECK_CLAUSE clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()')
    for (const r of rows as MysqlCheckRow[]) {
      for (const m of r.clause.matchAll(/json_valid\(\s*`?(\w+)`?\s*\)/gi)) json.add(`${r.t}.${m[1]!}`)
    }
  } catch {
    // MySQL's CHECK_CONSTRAINTS has no TABLE_NAME; MySQL reports JSON columns as json anyway.
  }
  return json
}

async function liveMysql(url: string): Promise<Map<string, TableShape>> {
  const p = mysqlParts(url)
  if (p.database === '') throw new Error('checkSchemaDrift: the MySQL URL names no database')
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database })
  try {
    const [columns] = await conn.query('SELECT TABLE_NAME t, COLUMN_NAME c, COLUMN_TYPE ty, IS_NULLABLE n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION')
    const [stats] = await conn.query('SELECT TABLE_NAME t, INDEX_NAME i, NON_UNIQUE nu, COLUMN_NAME c, INDEX_TYPE ty FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX')
    const [tableRows] = await conn.query(`SELECT TABLE_NAME t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`)
    const jsonColumns = await mariadbJsonColumns(conn)
    const tables = new Map<string, TableShape>()
    for (const r of tableRows as { t: string }[]) tables.set(r.t, emptyTable())
    for (const r of columns as MysqlColumnRow[]) {
      const table = tables.get(r.t)
      if (table === undefined) continue // a view
      const type = jsonColumns.has(`${r.t}.${r.c}`) && r.ty.toLowerCase() === 'longtext' ? 'json' : normalizeMysqlType(r.ty)
      table.columns.set(r.c, { family: familyOf(type), nullable: r.n === 'YES', mysqlType: type })
    }
    const indexes = new Map<string, { table: string; name: string; unique: boolean; fulltext: boolean; columns: string[] }>()
    for (const r of stats as MysqlIndexRow[]) {
      const key = `${r.t}\u0000${r.i}`
      const index = indexes.get(key) ?? { table: r.t, name: r.i, unique: Number(r.nu) === 0, fulltext: r.ty.toUpperCase() === 'FULLTEXT', columns: [] }
      index.columns.push(r.c)
      indexes.set(key, index)
    }
    for (const index of indexes.values()) {
      const table = tables.get(index.table)
      if (table === undefined) continue
      if (index.name === 'PRIMARY') table.primaryKey = index.columns
      else (index.fulltext ? table.fulltexts : index.unique ? table.uniques : table.indexes).push(index.columns)
    }
    return tables
  } finally {
    await conn.end()
  }
}

interface SqliteColumnRow { name: string; type: string; notnull: number; pk: number }
interface SqliteIndexRow { name: string; unique: number; origin: string; partial: number }

function withSqlite<T>(url: string, fn: (db: Sqlite.Database) => T): T {
  const db = new Sqlite(sqlitePath(url), { readonly: true, fileMustExist: true })
  try {
    return fn(db)
  } finally {
    db.close()
  }
}

function liveSqlite(url: string): Map<string, TableShape> {
  const db = new Sqlite(sqlitePath(url), { readonly: true, fileMustExist: true })
  try {
    const tables = new Map<string, TableShape>()
    const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`
    const names = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]
    for (const { name } of names) {
      if (SEARCH_EXTRA_TABLES.has(name)) continue // checked by sqliteSearchDrift
      const shape = emptyTable()
      const info = db.prepare(`PRAGMA table_info(${quote(name)})`).all() as SqliteColumnRow[]
      const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk)
      // An INTEGER PRIMARY KEY is the rowid and never NULL even without NOT NULL; any other
      // primary key column without NOT NULL accepts NULL in SQLite, so it is reported.
      const rowidAlias = pk.length === 1 && pk[0]!.type.toUpperCase() === 'INTEGER' ? pk[0]!.name : null
      for (const c of info) {
        shape.columns.set(c.name, { family: familyOf(c.type), nullable: c.notnull === 0 && c.name !== rowidAlias, mysqlType: null })
      }
      shape.primaryKey = pk.map((c) => c.name)
      for (const index of db.prepare(`PRAGMA index_list(${quote(name)})`).all() as SqliteIndexRow[]) {
        if (index.origin === 'pk') continue
        const columns = (db.prepare(`PRAGMA index_info(${quote(index.name)})`).all() as { seqno: number; name: string }[])
          .sort((a, b) => a.seqno - b.seqno)
          .map((c) => c.name)
        ;(index.unique === 1 ? shape.uniques : shape.indexes).push(columns)
      }
      tables.set(name, shape)
    }
    return tables
  } finally {
    db.close()
  }
}

const listKey = (columns: readonly string[]): string => columns.join(', ')

const SEARCH_EXTRA_TABLES = new Set<string>([...SQLITE_SEARCH_EXTRAS.fts5Tables.map((f) => f.name), ...SQLITE_SEARCH_EXTRAS.shadowTables])

/** `CREATE TRIGGER "a" AFTER UPDATE OF "content" ON ...` -> `create trigger a after update of content on ...` */
const plainSql = (sql: string): string => sql.replace(/["`\[\]]/g, '').replace(/\s+/g, ' ').trim().toLowerCase()

/**
 * The differences between SQLITE_SEARCH_EXTRAS and a SQLite database: each FTS5 table must be
 * an external-content FTS5 table over its content table with the listed columns, its shadow
 * tables and triggers must exist, no other trigger may; and the list must match the schema's
 * @@fulltext indexes.
 */
export function sqliteSearchDrift(db: Sqlite.Database, expected: Map<string, TableShape>): string[] {
  const diffs: string[] = []
  const fts = SQLITE_SEARCH_EXTRAS.fts5Tables
  for (const [table, shape] of expected) {
    for (const columns of shape.fulltexts) {
      if (!fts.some((f) => f.contentTable === table && listKey(f.columns) === listKey(columns))) {
        diffs.push(`fulltext index on ${table}(${listKey(columns)}) has no FTS5 table in SQLITE_SEARCH_EXTRAS`)
      }
    }
  }
  const master = new Map(
    (db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')`).all() as { type: string; name: string; tbl_name: string; sql: string | null }[])
      .map((r) => [`${r.type}:${r.name}`, r]),
  )
  for (const f of fts) {
    if (!expected.get(f.contentTable)?.fulltexts.some((c) => listKey(c) === listKey(f.columns))) {
      diffs.push(`FTS5 table ${f.name} has no @@fulltext([${f.columns.join(', ')}]) on ${f.contentTable} in the schema`)
    }
    const row = master.get(`table:${f.name}`)
    if (row === undefined) {
      diffs.push(`full-text table ${f.name} is missing`)
      continue
    }
    const sql = plainSql(row.sql ?? '')
    if (!sql.startsWith('create virtual table') || !/using fts5\s*\(/.test(sql) || !sql.includes(`content='${f.contentTable}'`)) {
      diffs.push(`full-text table ${f.name} is not an FTS5 table over ${f.contentTable}`)
      continue
    }
    const columns = (db.prepare(`PRAGMA table_info("${f.name}")`).all() as { name: string }[]).map((c) => c.name)
    if (listKey(columns) !== listKey(f.columns)) diffs.push(`full-text table ${f.name} indexes (${listKey(columns)}), the search needs (${listKey(f.columns)})`)
  }
  for (const shadow of SQLITE_SEARCH_EXTRAS.shadowTables) {
    if (!master.has(`table:${shadow}`)) diffs.push(`table ${shadow} of the full-text index is missing`)
  }
  const triggers = [...master.values()].filter((r) => r.type === 'trigger')
  for (const want of SQLITE_SEARCH_EXTRAS.triggers) {
    const have = triggers.find((r) => r.name === want.name)
    if (have === undefined) diffs.push(`trigger ${want.name} is missing`)
    else if (have.tbl_name !== want.table || !plainSql(have.sql ?? '').includes(`${want.event.toLowerCase()} on ${want.table}`)) {
      diffs.push(`trigger ${want.name} is not ${want.event} on ${want.table}`)
    }
  }
  for (const have of triggers) {
    if (!SQLITE_SEARCH_EXTRAS.triggers.some((w) => w.name === have.name)) diffs.push(`trigger ${have.name} is not in the schema`)
  }
  return diffs
}

function compareColumns(table: string, want: TableShape, have: TableShape, diffs: string[]): void {
  for (const [column, w] of want.columns) {
    const h = have.columns.get(column)
    if (h === undefined) {
      diffs.push(`column ${table}.${column} is missing`)
      continue
    }
    if (h.family !== w.family) diffs.push(`column ${table}.${column} is ${h.family}, the schema says ${w.family}`)
    else if (h.mysqlType !== null && w.mysqlType !== null && h.mysqlType !== w.mysqlType) {
      diffs.push(`column ${table}.${column} is ${h.mysqlType}, the schema says ${w.mysqlType}`)
    }
    if (h.nullable !== w.nullable) diffs.push(`column ${table}.${column} is ${h.nullable ? 'nullable' : 'NOT NULL'}, the schema says ${w.nullable ? 'nullable' : 'NOT NULL'}`)
  }
  for (const column of have.columns.keys()) if (!want.columns.has(column)) diffs.push(`column ${table}.${column} is not in the schema`)
}

/** FULLTEXT indexes are compared on MySQL/MariaDB only (SQLite: sqliteSearchDrift). */
function compareKeys(table: string, want: TableShape, have: TableShape, diffs: string[], withFulltext: boolean): void {
  if (listKey(have.primaryKey) !== listKey(want.primaryKey)) {
    diffs.push(`primary key of ${table} is (${listKey(have.primaryKey)}), the schema says (${listKey(want.primaryKey)})`)
  }
  const kinds = [
    ['unique index', want.uniques, have.uniques],
    ['index', want.indexes, have.indexes],
    ...(withFulltext ? [['fulltext index', want.fulltexts, have.fulltexts] as const] : []),
  ] as const
  for (const [kind, wanted, existing] of kinds) {
    const haveKeys = existing.map(listKey)
    const wantKeys = wanted.map(listKey)
    for (const k of wantKeys) if (!haveKeys.includes(k)) diffs.push(`${kind} on ${table}(${k}) is missing`)
    for (const k of haveKeys) if (!wantKeys.includes(k)) diffs.push(`${kind} on ${table}(${k}) is not in the schema`)
  }
}

/** Human-readable differences between the live database and prisma/schema.prisma; empty = match. */
export async function checkSchemaDrift(url: string, schemaText?: string): Promise<string[]> {
  const expected = expectedShape(schemaText)
  const mysql = dialectOf(url) === 'mysql'
  const live = mysql ? await liveMysql(url) : liveSqlite(url)
  live.delete('_prisma_migrations')
  const diffs: string[] = mysql ? [] : withSqlite(url, (db) => sqliteSearchDrift(db, expected))
  for (const [table, want] of expected) {
    const have = live.get(table)
    if (have === undefined) {
      diffs.push(`table ${table} is missing`)
      continue
    }
    compareColumns(table, want, have, diffs)
    compareKeys(table, want, have, diffs, mysql)
  }
  for (const table of live.keys()) if (!expected.has(table)) diffs.push(`table ${table} is not in the schema`)
  return diffs
}
