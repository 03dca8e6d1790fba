// Tells "the database cannot be reached" (down, restarting, refusing connections, a
// connection lost in the middle of a query, a pool that found no connection in time) from
// other failures. Such a request gets UNAVAILABLE (retry with backoff and the same
// client_msg_id) instead of INTERNAL (a fault inside Chime): nothing is wrong with the
// request, and it may even have committed if the connection went during COMMIT, which the
// retry with the same client_msg_id resolves. The errors come from two drivers: mysql2 (the
// append transaction, api/src/store/append-mysql.ts) and the mariadb connector under Prisma's
// driver adapter, which nests the driver's error in `meta.driverAdapterError.cause`.
import { ChatError, outcomeUnknown } from '../../../clients/sdk/src/errors.ts'

/** Socket errors of Node.js, and mysql2's codes for a connection that is gone. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'ER_CONNECTION_KILLED',
])

/**
 * Error numbers: the server's (1040 too many connections, 1053 shutting down, 1203 too many
 * connections of the user, 1927 connection killed), the client library's (2002, 2003, 2006,
 * 2013: cannot connect, server gone away, lost during query), and the mariadb connector's
 * 45001-45061 that mean the connection or pool is unusable (45009 socket closed, 45012
 * connect timeout, 45028 no connection from the pool in time, ...).
 */
const UNREACHABLE_ERRNOS = new Set([1040, 1053, 1203, 1927, 2002, 2003, 2006, 2013, 45001, 45004, 45009, 45012, 45013, 45019, 45026, 45028, 45039, 45042, 45061])

/** Prisma's codes for an unreachable server, a timeout or a closed connection. */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024'])

/** Prisma driver adapter error kinds with the same meaning. */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections'])

const SOCKET_MESSAGE = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH)\b/

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null
}

/** Whether err (or an error it wraps) says the database could not be reached. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>()
  const queue: unknown[] = [err]
  while (queue.length > 0) {
    const e = queue.shift()
    if (!isRecord(e) || seen.has(e)) {
      if (typeof e === 'string' && SOCKET_MESSAGE.test(e)) return true
      continue
    }
    seen.add(e)
    const code = e['code']
    if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || PRISMA_CODES.has(code))) return true
    if (typeof code === 'number' && UNREACHABLE_ERRNOS.has(code)) return true
    if (typeof e['errno'] === 'number' && UNREACHABLE_ERRNOS.has(e['errno'])) return true
    if (typeof e['kind'] === 'string' && ADAPTER_KINDS.has(e['kind'])) return true
    // mysql2 marks errors that end the connection as fatal; a refused query (a constraint) is not.
    if (e['fatal'] === true && typeof code === 'string' && !code.startsWith('ER_')) return true
    if (typeof e['message'] === 'string' && /Can't add new command when connection is in closed state|Pool is closed/.test(e['message'])) return true
    const meta = e['meta']
    queue.push(e['cause'], isRecord(meta) ? meta['driverAdapterError'] : undefined)
  }
  return false
}

/** The coded error a client gets for an error that is not a ChatError. */
export function unexpectedError(err: unknown): ChatError {
  return isDatabaseUnavailable(err) ? outcomeUnknown('the database did not answer; retry later (a post with the same client_msg_id)') : new ChatError('INTERNAL')
}
