import type { Client, PublishPacket } from 'aedes'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { parseTopic } from '../../../clients/sdk/src/topics.ts'
import type { AccessPolicy } from '../access.ts'
import type { RequestGateway } from '../request-gateway.ts'
import { sessionOf } from '../sessions.ts'
import { presenceError } from '../presence.ts'
import { authorizeTyping } from '../typing.ts'
import type { IngressGate } from '../ingress.ts'

/**
 * PUBLISH. aedes disconnects a client whose publish is refused with an error, so a refused
 * publish is answered with an ERROR on the publisher's inbox and dropped instead (the
 * `dropped` set, read by the broker's publish guard): one bad packet never costs the
 * connection. Requests are consumed here and never enter the fan-out.
 */
export function createAuthorizePublish(access: AccessPolicy, gateway: RequestGateway, dropped: WeakSet<object>, onError: (err: unknown) => void, ingress?: IngressGate) {
  const check = createCheck(access, gateway, dropped, onError)
  return function authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    // Publishes without a client are the platform's own (wills are checked like any publish).
    if (client === null) return done(null)
    // Held while the broker is behind or the client is over its budget (ingress.ts).
    if (ingress === undefined) check(client, packet, done)
    else ingress.admit(client, () => check(client, packet, done))
  }
}

function createCheck(access: AccessPolicy, gateway: RequestGateway, dropped: WeakSet<object>, onError: (err: unknown) => void) {
  return function check(client: Client, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const session = sessionOf(client)
    if (session === undefined) return done(new Error('not authenticated'))
    const t = parseTopic(packet.topic)
    const drop = (err: ChatError): void => {
      dropped.add(packet)
      gateway.replyError(session, err)
      done(null)
    }
    if (t?.kind === 'requests') {
      if (t.clientId !== client.id) return drop(new ChatError('CLIENT_ID_MISMATCH', `publish requests on requests/${client.id}`))
      dropped.add(packet)
      gateway.accept(client, packet.payload as Buffer, packet.qos, () => done(null))
      return
    }
    if (t?.kind === 'typing' || t?.kind === 'chat-typing') {
      // Typing is checked, throttled and republished by the broker in its own words (typing.ts).
      const swallow = (): void => {
        dropped.add(packet)
        done(null)
      }
      return authorizeTyping(client, session.userId, packet, () => access.mayPublish(session, packet.topic), { refuse: drop, swallow }, onError)
    }
    access.mayPublish(session, packet.topic).then(
      (ok) => {
        if (!ok) return drop(new ChatError('FORBIDDEN_TOPIC', `you may not publish on ${packet.topic.slice(0, 200)}`))
        const invalid = t?.kind === 'presence' ? presenceError(packet.payload) : null
        return invalid === null ? done(null) : drop(invalid)
      },
      (err: unknown) => {
        onError(err)
        drop(new ChatError('INTERNAL'))
      },
    )
  }
}
