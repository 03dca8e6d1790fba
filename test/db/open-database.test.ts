// openDatabase() on both backends: BigInt, DateTime(3) and Json values survive a round trip
// through Prisma (also in a time zone other than UTC), SQLite runs with WAL, busy_timeout and
// foreign keys, and URLs map to the right adapter settings.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { dialectOf, mysqlParts, openDatabase, sqlitePath, sqliteUrlForDataDir } from '../../api/src/db/open-database.ts'
import { eachBackend } from '../helpers/databases.ts'

// Dates must not depend on the process time zone (Node re-reads TZ when it is assigned).
process.env['TZ'] = 'America/New_York'

const BIG = 2n ** 62n + 12345n // far beyond Number.MAX_SAFE_INTEGER
const AT = new Date('2026-03-08T06:59:59.123Z') // milliseconds, on a DST switch in New York
const ATTACHMENTS = { files: [{ key: 'a/b.png', size: 12345, width: null, tags: ['x', 'ü', '😀'] }], nested: { ok: true, ratio: 0.25 } }

await t.test('the process time zone is not UTC', async (t) => {
  t.not(new Date('2026-01-15T00:00:00Z').getTimezoneOffset(), 0)
})

await eachBackend(t, 'BigInt, DateTime(3) and Json round-trip', async (t, url) => {
  const db = await openDatabase(url)
  t.teardown(() => db.close())
  t.equal(db.dialect, dialectOf(url))
  t.equal(db.url, url)
  const { prisma } = db

  await prisma.delta.create({
    data: { id: BIG, channelId: 'C1', seq: BIG - 1n, type: 'message', userId: 'U1', content: 'hello', attachments: ATTACHMENTS, createdAt: AT },
  })
  await prisma.delta.create({ data: { id: BIG + 1n, channelId: 'C1', seq: BIG, type: 'message', userId: 'U1', createdAt: AT } })
  const [first, second] = await prisma.delta.findMany({ where: { channelId: 'C1' }, orderBy: { seq: 'asc' } })
  t.equal(first?.id, BIG, 'BigInt id')
  t.equal(first?.seq, BIG - 1n, 'BigInt column')
  t.equal(typeof first?.id, 'bigint')
  t.equal(first?.createdAt.toISOString(), AT.toISOString(), 'DateTime keeps milliseconds and the instant')
  t.same(first?.attachments, ATTACHMENTS, 'Json object')
  t.equal(second?.attachments, null, 'absent Json is null')

  const found = await prisma.delta.findUnique({ where: { channelId_seq: { channelId: 'C1', seq: BIG } } })
  t.equal(found?.id, BIG + 1n, 'lookup by a BigInt in a compound unique key')
  t.equal((await prisma.delta.count({ where: { createdAt: { gte: AT, lte: AT } } })), 2, 'DateTime equality in a filter')

  const channel = await prisma.channel.create({ data: { id: 'C1', kind: 'text', name: 'general' } })
  t.equal(channel.lastSeq, 0n, 'BigInt default')
  t.ok(Math.abs(channel.createdAt.getTime() - Date.now()) < 60_000, '@default(now()) is the current instant')
  await prisma.channel.update({ where: { id: 'C1' }, data: { lastSeq: { increment: BIG } } })
  t.equal((await prisma.channel.findUniqueOrThrow({ where: { id: 'C1' } })).lastSeq, BIG, 'BigInt increment')

  const raw = await prisma.$queryRaw<{ last: bigint }[]>`SELECT last_seq AS last FROM channels WHERE id = 'C1'`
  t.equal(BigInt(raw[0]!.last), BIG, 'BigInt through $queryRaw')

  const next = await prisma.$transaction(async (tx) => {
    const row = await tx.sequencer.update({ where: { id: 1 }, data: { lastDeltaId: { increment: 1n } } })
    return row.lastDeltaId
  })
  t.equal(next, 1n, 'the migrated sequencer row, updated in an interactive transaction')
})

await t.test('SQLite runs with WAL, busy_timeout 5000 and foreign keys on', async (t) => {
  const url = sqliteUrlForDataDir(join(t.testdir(), 'nested', 'data'))
  const db = await openDatabase(url)
  t.teardown(() => db.close())
  const pragma = async (name: string): Promise<unknown> => Object.values((await db.prisma.$queryRawUnsafe<Record<string, unknown>[]>(`PRAGMA ${name}`))[0] ?? {})[0]
  t.equal(await pragma('journal_mode'), 'wal')
  t.equal(Number(await pragma('busy_timeout')), 5000)
  t.equal(Number(await pragma('foreign_keys')), 1)
})

t.test('sqliteUrlForDataDir makes an absolute file: URL and creates the directory', async (t) => {
  const dir = join(t.testdir(), 'a', 'b')
  const url = sqliteUrlForDataDir(dir)
  t.equal(url, `file:${join(dir, 'chime.db')}`)
  t.ok(existsSync(dir))
  t.equal(sqlitePath(url), join(dir, 'chime.db'))
  t.equal(sqlitePath('file:///var/x.db?mode=rwc'), '/var/x.db')
})

t.test('database URLs', async (t) => {
  t.equal(dialectOf('mysql://root@localhost/chime'), 'mysql')
  t.equal(dialectOf('mariadb://root@localhost/chime'), 'mysql')
  t.equal(dialectOf('file:/tmp/chime.db'), 'sqlite')
  t.throws(() => dialectOf('postgres://u:secret@h/db'), { message: /unsupported database URL postgres:\/\/u:\*\*\*@h\/db/ })
  t.same(mysqlParts('mysql://chime:p%40ss@db.example:3307/chime_prod?connection_limit=25'), {
    host: 'db.example', port: 3307, user: 'chime', password: 'p@ss', database: 'chime_prod', connectionLimit: 25,
  })
  t.same(mysqlParts('mariadb://root@127.0.0.1'), { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: '', connectionLimit: 10 })
  t.throws(() => mysqlParts('mysql://root@h/db?connection_limit=0'), /connection_limit must be a positive integer/)
  await t.rejects(openDatabase('mysql://root@127.0.0.1:3306'), /names no database/)
})
