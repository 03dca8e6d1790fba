// Requests published on chime/v1/requests/{clientId} are consumed here, inside the
// authorizePublish hook, so the PUBACK (which aedes writes when the hook calls back) is sent
// only after the request is done: for POST_MESSAGE, after its commit. The packets of one
// client are queued in arrival order and handed over in batches, one batch in flight at a
// time, so a client's posts keep their order and group into one transaction under load.
import type { Aedes, Client } from 'aedes'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import type { Envelope } from '../../clients/sdk/src/protocol.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import { errorEnvelope, requestIdOf } from '../../api/src/requests/dispatch.ts'
import type { RequestBackend } from './request-backend.ts'
import { sessionOf, type Session } from './sessions.ts'

interface Queued {
  value: unknown
  parseError?: ChatError
  done: () => void
}

interface ClientQueue {
  items: Queued[]
  running: boolean
}

export class RequestGateway {
  private readonly queues = new WeakMap<Client, ClientQueue>()

  constructor(
    private readonly broker: Aedes,
    private readonly backend: RequestBackend,
  ) {}

  /** Takes one request packet's payload; `done` is called once it has been answered. */
  accept(client: Client, payload: Buffer, done: () => void): void {
    let item: Queued
    try {
      item = { value: JSON.parse(payload.toString('utf8')), done }
    } catch {
      item = { value: undefined, parseError: new ChatError('BAD_JSON'), done }
    }
    let q = this.queues.get(client)
    if (q === undefined) {
      q = { items: [], running: false }
      this.queues.set(client, q)
    }
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
      this.sendToInbox(session.userId, replies)
      batch.forEach((b) => b.done())
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
