import type { Client, Subscription } from 'aedes'
import type { AccessPolicy } from '../access.ts'
import { sessionOf } from '../sessions.ts'

/** SUBSCRIBE: a refused filter gets the failure return code (0x80); the client stays connected. */
export function createAuthorizeSubscribe(access: AccessPolicy, onError: (err: unknown) => void) {
  return function authorizeSubscribe(client: Client | null, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const session = sessionOf(client)
    if (session === undefined) return done(null, null)
    access.grant(session, sub.topic).then(
      (ok) => done(null, ok ? sub : null),
      (err: unknown) => {
        onError(err)
        done(null, null)
      },
    )
  }
}
