// Closes this node's MQTT connections whose sign-in, device or account was revoked, as soon
// as the `sessions-revoked` access event arrives (every node receives it; see
// access-events.ts). The API emits it after the revocation commits; CONNECTs checked after
// the commit are refused by the authenticate hook, and a CONNECT checked before the commit
// but completed after the event arrived is closed here too.
import type { Aedes, Client } from 'aedes'
import type { AccessBus, AccessEvent } from './access-events.ts'
import { sessionOf, type Session } from './sessions.ts'

export type Revocation = Extract<AccessEvent, { type: 'sessions-revoked' }>

/** Whether a revocation covers a connection: its user, and its sign-in or client id (or all of the user's). */
export function revocationCovers(event: Revocation, clientId: string, session: Session): boolean {
  if (session.userId !== event.userId) return false
  if (event.sessionIds === undefined && event.clientIds === undefined) return true
  if (session.sessionId !== undefined && event.sessionIds?.includes(session.sessionId) === true) return true
  return event.clientIds?.includes(clientId) === true
}

/** How long a revocation is remembered for CONNECTs that were being checked when it arrived. */
const REMEMBER_MS = 60_000

export function disconnectRevoked(broker: { aedes: Aedes; access: AccessBus }): void {
  const clients = (): Client[] => Object.values((broker.aedes as unknown as { clients: Record<string, Client> }).clients)
  const recent: { at: number; event: Revocation }[] = []
  const close = (client: Client): void => {
    if (!client.closed) client.close()
  }
  broker.access.subscribe((event) => {
    if (event.type !== 'sessions-revoked') return
    const now = Date.now()
    while (recent.length > 0 && recent[0]!.at < now - REMEMBER_MS) recent.shift()
    recent.push({ at: now, event })
    for (const client of clients()) {
      const session = sessionOf(client)
      if (session !== undefined && revocationCovers(event, client.id, session)) close(client)
    }
  })
  broker.aedes.on('client', (client: Client) => {
    if (recent.length === 0) return
    const session = sessionOf(client)
    if (session === undefined) return
    const checkedAt = session.checkedAt ?? 0
    if (recent.some((r) => r.at >= checkedAt && revocationCovers(r.event, client.id, session))) setImmediate(() => close(client))
  })
}
