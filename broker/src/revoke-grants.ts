// Applies access events (access-events.ts) to the connections of this node. What a change
// may take away is taken away synchronously, in the emitter's order, so no delta published
// after the change is delivered on a stale grant; what is still allowed is then granted
// again after a fresh check. A filter that stays refused is unsubscribed, and removed from a
// persistent session so its offline queue stops growing.
import type { Aedes, Client } from 'aedes'
import { parseFilter, topics } from '../../clients/sdk/src/topics.ts'
import type { AccessPolicy } from './access.ts'
import type { AccessBus, AccessEvent } from './access-events.ts'
import { sessionOf, type Session } from './sessions.ts'

export interface RevokeLogger {
  error(obj: object, msg: string): void
}

function localClients(aedes: Aedes): Client[] {
  return Object.values((aedes as unknown as { clients: Record<string, Client> }).clients)
}

/** Unsubscribes refused filters on this node and from the client's persistent session. */
async function dropFilters(aedes: Aedes, client: Client, refused: string[]): Promise<void> {
  if (refused.length === 0 || (client as unknown as { closed?: boolean }).closed) return
  await new Promise<void>((resolve) => client.unsubscribe({ unsubscriptions: refused } as never, () => resolve()))
  if (!client.clean) await (aedes as unknown as { persistence: { removeSubscriptions(c: Client, s: string[]): Promise<void> } }).persistence.removeSubscriptions(client, refused)
}

interface RetainedPacket {
  topic: string
  payload: Buffer | string
}

/** Sends a topic's retained message to one client again (as aedes does on SUBSCRIBE). */
async function resendRetained(aedes: Aedes, client: Client, topic: string): Promise<void> {
  const persistence = (aedes as unknown as { persistence: { createRetainedStreamCombi(patterns: string[]): AsyncIterable<RetainedPacket> } }).persistence
  for await (const packet of persistence.createRetainedStreamCombi([topic])) {
    if ((client as unknown as { closed?: boolean }).closed) return
    await new Promise<void>((resolve) => client.publish({ cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: 0, retain: true, dup: false }, () => resolve()))
  }
}

export function applyAccessEvents(aedes: Aedes, bus: AccessBus, policy: AccessPolicy, log: RevokeLogger): void {
  const recheck = (client: Client, session: Session, filters: readonly string[]): void => {
    void (async () => {
      const refused: string[] = []
      for (const f of filters) if (!(await policy.grant(session, f))) refused.push(f)
      await dropFilters(aedes, client, refused)
    })().catch((err: unknown) => log.error({ err, clientId: client.id }, 're-checking grants after an access change failed'))
  }

  /**
   * Presence grants that may have ended: taken away at once, like any revocation; each one
   * still allowed is granted again and the newest presence refused meanwhile (held by
   * authorizeForward) or else the current retained one is sent once more, so a watcher that
   * may go on watching misses no change made meanwhile.
   */
  const recheckPresence = (client: Client, session: Session, filters: readonly string[]): void => {
    const taken = filters.filter((f) => session.granted.delete(f))
    if (taken.length === 0) return
    session.epoch = (session.epoch ?? 0) + 1
    const onHold = (session.presenceOnHold ??= new Map())
    for (const f of taken) onHold.set(f, null)
    void (async () => {
      const refused: string[] = []
      for (const f of taken) {
        const allowed = await policy.grant(session, f)
        const held = onHold.get(f) ?? null
        onHold.delete(f)
        if (!allowed) refused.push(f)
        else if (held !== null) await new Promise<void>((resolve) => client.publish({ cmd: 'publish', topic: f, payload: held.payload, qos: 0, retain: false, dup: false }, () => resolve()))
        else await resendRetained(aedes, client, f)
      }
      await dropFilters(aedes, client, refused)
    })().catch((err: unknown) => log.error({ err, clientId: client.id }, 're-checking presence grants after a membership change failed'))
  }

  /** Takes away every grant of `session` that `inScope` selects; re-checks them afterwards. */
  const revoke = (client: Client, session: Session, inScope: (filter: string) => boolean, serverId?: string): void => {
    const taken = [...session.granted].filter(inScope)
    if (taken.length === 0) return
    session.epoch = (session.epoch ?? 0) + 1
    for (const f of taken) session.granted.delete(f)
    if (serverId !== undefined) session.hidden?.delete(serverId)
    recheck(client, session, taken)
  }

  const inServer = (serverId: string) => (f: string): boolean => {
    const t = parseFilter(f)
    return t !== null && 'serverId' in t && t.serverId === serverId
  }

  const handle = (e: AccessEvent): void => {
    switch (e.type) {
      case 'membership': {
        policy.forget(e)
        for (const client of localClients(aedes)) {
          const session = sessionOf(client)
          if (session === undefined) continue
          // Presence is watched by sharing a server or a chat: the user's watches, and the
          // watches of its own presence, are checked again (kept while still allowed).
          if (session.userId === e.userId) recheckPresence(client, session, [...session.granted].filter((f) => f !== topics.presence(e.userId) && parseFilter(f)?.kind === 'presence'))
          else if (session.granted.has(topics.presence(e.userId))) recheckPresence(client, session, [topics.presence(e.userId)])
          if (session.userId !== e.userId) continue
          if (e.serverId !== undefined) revoke(client, session, inServer(e.serverId), e.serverId)
          if (e.chatId !== undefined) revoke(client, session, (f) => f === topics.chat(e.chatId!) || f === topics.chatTyping(e.chatId!))
        }
        return
      }
      case 'server-permissions': {
        policy.forget(e)
        const wildcard = topics.serverWildcard(e.serverId)
        for (const client of localClients(aedes)) {
          const session = sessionOf(client)
          if (session === undefined) continue
          if (e.channelId === undefined) {
            revoke(client, session, inServer(e.serverId), e.serverId)
            continue
          }
          const channelId = e.channelId
          if (session.granted.has(wildcard)) {
            // Hide the channel from the wildcard now; the fresh check below may show it again.
            const hidden = session.hidden ?? (session.hidden = new Map())
            const set = hidden.get(e.serverId) ?? new Set<string>()
            set.add(channelId)
            hidden.set(e.serverId, set)
            const epoch = (session.epoch = (session.epoch ?? 0) + 1)
            // A later change (a newer epoch) recomputes for itself; a stale answer must not undo its hiding.
            void policy.hiddenChannels(session.userId, e.serverId).then(
              (fresh) => session.epoch === epoch && session.granted.has(wildcard) && session.hidden!.set(e.serverId, fresh),
              (err: unknown) => log.error({ err }, 'recomputing hidden channels failed'),
            )
          }
          revoke(client, session, (f) => f === topics.serverChannel(e.serverId, channelId) || f === topics.typing(e.serverId, channelId))
        }
        return
      }
      case 'chat-closed':
        policy.forget(e)
        return
      case 'presence': {
        const topic = topics.presence(e.userId)
        for (const client of localClients(aedes)) {
          const session = sessionOf(client)
          if (session !== undefined && session.userId !== e.userId) revoke(client, session, (f) => f === topic)
        }
        return
      }
      case 'sessions-revoked':
        return
    }
  }
  bus.subscribe(handle)
}

interface EmitterState {
  on(event: 'subConnect', fn: () => void): void
}

/**
 * A node whose Redis subscriber connection dropped may have missed access events while it
 * was away. When that connection comes back, the node forgets its cached memberships and
 * checks every grant of its connections afresh, taking away (and unsubscribing) what is no
 * longer allowed.
 */
export function resyncAfterReconnect(aedes: Aedes, policy: AccessPolicy, log: RevokeLogger): void {
  const mq = (aedes as unknown as { mq: { state?: EmitterState; subConn?: { status?: string } } }).mq
  if (mq.state === undefined) return
  let connectedBefore = mq.subConn?.status === 'ready' || mq.subConn?.status === 'connect'
  mq.state.on('subConnect', () => {
    if (!connectedBefore) {
      connectedBefore = true
      return
    }
    policy.forgetAll()
    for (const client of localClients(aedes)) {
      const session = sessionOf(client)
      if (session === undefined) continue
      void (async () => {
        const refused: string[] = []
        for (const f of [...session.granted]) {
          if (await policy.grant(session, f)) continue
          session.granted.delete(f)
          const t = parseFilter(f)
          if (t?.kind === 'server-all') session.hidden?.delete(t.serverId)
          refused.push(f)
        }
        await dropFilters(aedes, client, refused)
      })().catch((err: unknown) => log.error({ err, clientId: client.id }, 're-checking grants after a Redis reconnect failed'))
    }
  })
}
