// Requests published on chime/v1/requests/{clientId} are consumed here, inside the
// authorizePublish hook, so the PUBACK (which aedes writes when the hook calls back) is sent
// only after the request is done: for POST_MESSAGE, after its commit. The packets of one
// client are queued in arrival order and handed over in batches, one batch in flight at a
// time, so a client's posts keep their order and group into one transaction under load.
//
// A QoS 1 request whose outcome is unknown (the API sidecar or the database went away while it
// ran: UNAVAILABLE with details.outcome 'unknown') is never acknowledged, since a PUBACK must
// mean "done" (BRIEF invariant 1). The broker acknowledges the rest of the batch, then closes
// the connection; the client's MQTT layer sends the unacknowledged request again after it
// reconnects, and the same client_msg_id makes a post that had committed come back
// `duplicate: true` instead of twice.
import type { Aedes, Client } from 'aedes'
import { ChatError, isOutcomeUnknown } from '../../clients/sdk/src/errors.ts'
import type { Envelope, ErrorData } from '../../clients/sdk/src/protocol.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import { errorEnvelope, requestIdOf } from '../../api/src/requests/dispatch.ts'
import type { RequestBackend } from './request-backend.ts'
import { sessionOf, type Session } from './sessions.ts'

interface Queued {
  value: unknown
  parseError?: ChatError
  /** Whether the client waits for a PUBACK (QoS 1 or 2). */
  acknowledged: boolean
  done: () => void
}

interface ClientQueue {
  items: Queued[]
  running: boolean
  /** Set once the connection is being closed over an unacknowledged request: nothing more is answered. */
  closing: boolean
}

export interface GatewayLogger {
  warn(obj: object, msg: string): void
}

/** How long the PUBACKs written before a close may take to leave (a client that does not read). */
const FLUSH_BEFORE_CLOSE_MS = 2_000

export class RequestGateway {
  private readonly queues = new WeakMap<Client, ClientQueue>()

  constructor(
    private readonly broker: Aedes,
    private readonly backend: RequestBackend,
    private readonly log: GatewayLogger,
  ) {}

  /**
   * Takes one request packet's payload; `done` is called once it has been answered (and
   * never, for a request whose outcome is unknown: its connection is closed instead).
   */
  accept(client: Client, payload: Buffer, qos: number, done: () => void): void {
    const acknowledged = qos > 0
    let item: Queued
    try {
      item = { value: JSON.parse(payload.toString('utf8')), acknowledged, done }
    } catch {
      item = { value: undefined, parseError: new ChatError('BAD_JSON'), acknowledged, done }
    }
    let q = this.queues.get(client)
    if (q === undefined) {
      q = { items: [], running: false, closing: false }
      this.queues.set(client, q)
    }
    // After an unknown outcome the client sends everything unacknowledged again on its next connection.
    if (q.closing) return
    q.items.push(item)
    if (!q.running) {
      q.running = true
      // Packets parsed from the same socket read arrive in this tick: let them join.
      const queue = q
      queueMicrotask(() => void this.drain(client, queue))
    }
  }

  /** Publishes an ERROR on the user's inbox (for refused publishes). */
  replyError(session: Session, err: ChatError): void {
    this.sendToInbox(session.userId, [errorEnvelope(err, undefined)])
  }

  private async drain(client: Client, q: ClientQueue): Promise<void> {
    while (q.items.length > 0) {
      const batch = q.items.splice(0, q.items.length)
      const session = sessionOf(client)
      const replies: Envelope[] = new Array(batch.length)
      if (session === undefined) {
        batch.forEach((b) => b.done())
        continue
      }
      const valid = batch.filter((b) => b.parseError === undefined)
      const answered = valid.length === 0 ? [] : await this.backend.handle(session, client.id, valid.map((b) => b.value))
      let k = 0
      batch.forEach((b, i) => {
        replies[i] = b.parseError !== undefined ? errorEnvelope(b.parseError, undefined) : answered[k++] ?? errorEnvelope(new ChatError('INTERNAL'), requestIdOf(b.value))
      })
      const withheld = batch.filter((b, i) => b.acknowledged && replies[i]!.action === 'ERROR' && isOutcomeUnknown(replies[i]!.data as ErrorData))
      this.sendToInbox(session.userId, replies.filter((_, i) => !withheld.includes(batch[i]!)))
      for (const b of batch) if (!withheld.includes(b)) b.done()
      if (withheld.length > 0) {
        q.closing = true
        const unanswered = withheld.length + q.items.length
        q.items.length = 0
        this.log.warn({ clientId: client.id, unanswered }, 'closing the connection: the outcome of its requests is unknown (API sidecar or database unavailable); the client sends them again')
        closeAfterFlush(client)
      }
    }
    q.running = false
  }

  private sendToInbox(userId: string, replies: readonly Envelope[]): void {
    const topic = topics.inbox(userId)
    for (const reply of replies) {
      this.broker.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(reply)), qos: 1, retain: false, dup: false }, () => {})
    }
  }
}

/** Closes a client's connection once what was written to it (the PUBACKs just sent) has left. */
function closeAfterFlush(client: Client): void {
  const conn = client.conn as { writableLength?: number; once?(event: 'drain', fn: () => void): unknown }
  if (conn.writableLength === undefined || conn.writableLength === 0 || conn.once === undefined) {
    setImmediate(() => client.close())
    return
  }
  const timer = setTimeout(() => client.close(), FLUSH_BEFORE_CLOSE_MS)
  conn.once('drain', () => {
    clearTimeout(timer)
    client.close()
  })
}
