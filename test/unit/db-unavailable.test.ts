// Which database errors are UNAVAILABLE (retry) rather than INTERNAL, with the shapes the
// two drivers really produce (the Prisma one as logged by a sidecar while MariaDB was down).
import t from 'tap'
import { isDatabaseUnavailable, unexpectedError } from '../../api/src/db/unavailable.ts'

const prismaPoolTimeout = Object.assign(new Error('Invalid `prisma.authSession.findUnique()` invocation: Database error. Code: `45028`.'), {
  code: 'P2039',
  meta: {
    modelName: 'AuthSession',
    driverAdapterError: {
      name: 'DriverAdapterError',
      cause: { originalCode: '45028', kind: 'mysql', code: 45028, message: 'pool timeout: failed to retrieve a connection from pool after 10002ms', state: 'HY000', cause: 'connect ECONNREFUSED 127.0.0.1:41849' },
    },
  },
})

t.test('an unreachable database', async (t) => {
  const cases: [string, unknown][] = [
    ['mysql2: connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED', errno: -111, fatal: true })],
    ['mysql2: connection lost mid-query', Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true })],
    ['mysql2: closed connection reused', new Error("Can't add new command when connection is in closed state")],
    ['server shutting down', Object.assign(new Error('Server shutdown in progress'), { code: 'ER_SERVER_SHUTDOWN', errno: 1053 })],
    ['Prisma over the mariadb connector: pool timeout', prismaPoolTimeout],
    ['Prisma: cannot reach the server', Object.assign(new Error("Can't reach database server"), { code: 'P1001' })],
    ['a driver adapter error kind', { name: 'DriverAdapterError', cause: { kind: 'TooManyConnections', cause: 'N/A' } }],
    ['wrapped in cause', new Error('append failed', { cause: Object.assign(new Error('socket'), { code: 'ECONNRESET' }) })],
  ]
  for (const [what, err] of cases) {
    t.ok(isDatabaseUnavailable(err), what)
    t.equal(unexpectedError(err).code, 'UNAVAILABLE', `${what}: UNAVAILABLE`)
    t.same(unexpectedError(err).details, { outcome: 'unknown' }, `${what}: the outcome is unknown (the commit may have gone through)`)
  }
})

t.test('other failures stay INTERNAL', async (t) => {
  const cases: [string, unknown][] = [
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['mysql2: duplicate key (not fatal)', Object.assign(new Error("Duplicate entry 'x' for key 'PRIMARY'"), { code: 'ER_DUP_ENTRY', errno: 1062 })],
    ['Prisma: unique constraint', Object.assign(new Error('Unique constraint failed'), { code: 'P2002' })],
    ['mysql2: a fatal ER_ error is a refused query, not a lost server', Object.assign(new Error('Access denied'), { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, fatal: true })],
    ['not an error at all', 'something'],
    ['null', null],
  ]
  for (const [what, err] of cases) {
    t.notOk(isDatabaseUnavailable(err), what)
    t.equal(unexpectedError(err).code, 'INTERNAL', `${what}: INTERNAL`)
  }
  const loop: Record<string, unknown> = { message: 'loops' }
  loop['cause'] = loop
  t.notOk(isDatabaseUnavailable(loop), 'a cause chain that loops ends')
})
