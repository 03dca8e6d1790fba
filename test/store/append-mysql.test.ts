// The MySQL/MariaDB append transaction: its reads stay cheap as a channel grows, and its
// statements, sent several per round trip, behave as one transaction.
import t from 'tap'
import { createConnection, type RowDataPacket } from 'mysql2/promise'
import { openStore } from '../../api/src/store/store.ts'
import { planReads } from '../../api/src/store/append-mysql.ts'
import * as changes from '../../api/src/store/changes.ts'
import { mysqlParts } from '../../api/src/db/open-database.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { defer } from '../helpers/cleanup.ts'

t.test('the retry lookup reads deltas by (user_id, client_msg_id), not every delta of the channel', async (t) => {
  const url = await freshMysqlUrl(t)
  if (url === null) return
  const store = await openStore(url, { maxDeltas: 100_000, maxBytes: 100 * 1024 * 1024 })
  defer(t, () => store.close())
  const u = await store.directory.createUser({ username: 'u', passwordHash: 'h' })
  const { channelId } = await store.log.transact(changes.createServer(u.id, { name: 'S', isPublic: true })).then((r) => r.value.result)
  const post = (i: number) => ({ channelId, userId: u.id, type: 'message' as const, content: `m${i}`, clientMsgId: `k${i}` })
  for (let i = 0; i < 3000; i += 500) await store.log.append(Array.from({ length: 500 }, (_, k) => post(i + k)))

  const retried = [post(7), post(1500), post(2999), post(5000)]
  const again = await store.log.append(retried)
  t.same(again.map((r) => r.duplicate), [true, true, true, false], 'retries answer with their first commit; a new key commits')
  t.same(again.slice(0, 3).map((r) => r.delta.content), ['m7', 'm1500', 'm2999'])

  const p = mysqlParts(url)
  const conn = await createConnection({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database })
  defer(t, () => conn.end())
  // No ANALYZE TABLE: as in production, the plan is chosen on the statistics InnoDB keeps by
  // itself (with them, a join to channels was read through the channel's every delta).
  const [, lookup] = planReads(retried)
  const [plan] = await conn.query<RowDataPacket[]>(`EXPLAIN ${conn.format(lookup![0], lookup![1] as unknown[])}`)
  const deltas = plan.find((row) => row['table'] === 'd')
  t.ok(deltas !== undefined, 'the plan reads the deltas table')
  t.equal(deltas!['key'], 'deltas_user_id_client_msg_id_key', `through the unique key of retries (${JSON.stringify(plan)})`)
  t.ok(Number.parseInt(String(deltas!['rows']), 10) <= retried.length * 2, `examining about one row per retried key (${deltas!['rows']} for ${retried.length}, of 3,001 in the channel)`)
})
