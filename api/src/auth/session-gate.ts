// Whether an access token's sign-in (auth session) is still live, for the HTTP API. Answers
// are cached per process for a few seconds; revocations drop them at once, locally when
// this process revokes and on every process through the access bus (`sessions-revoked`).
import type { AccessEvent } from '../../../broker/src/access-events.ts'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { TokenClaims } from './tokens.ts'

export interface SessionLookup {
  sessionLive(sessionId: string, userId: string): Promise<boolean>
}

interface Entry {
  userId: string
  live: boolean
  until: number
}

export const SESSION_CACHE_MS = 3000
const MAX_ENTRIES = 100_000

export class SessionGate {
  private readonly cache = new Map<string, Entry>()
  private readonly inFlight = new Map<string, Promise<boolean>>()
  /** Bumped by every revocation: an answer read across a bump is not cached. */
  private epoch = 0

  constructor(private readonly lookup: SessionLookup, private readonly ttlMs = SESSION_CACHE_MS, private readonly now: () => number = Date.now) {}

  /** Throws SESSION_REVOKED unless the token's sign-in is live. */
  async check(claims: TokenClaims): Promise<void> {
    if (!(await this.live(claims))) throw new ChatError('SESSION_REVOKED')
  }

  async live(claims: TokenClaims): Promise<boolean> {
    const hit = this.cache.get(claims.sessionId)
    if (hit !== undefined && hit.userId === claims.userId && (!hit.live || hit.until > this.now())) return hit.live
    const pending = this.inFlight.get(claims.sessionId)
    if (pending !== undefined) return pending
    const epoch = this.epoch
    const read = this.lookup.sessionLive(claims.sessionId, claims.userId).then(
      (live) => {
        this.inFlight.delete(claims.sessionId)
        if (epoch === this.epoch) this.remember(claims.sessionId, { userId: claims.userId, live, until: this.now() + this.ttlMs })
        return live
      },
      (err: unknown) => {
        this.inFlight.delete(claims.sessionId)
        throw err
      },
    )
    this.inFlight.set(claims.sessionId, read)
    return read
  }

  /** Marks sign-ins revoked (a revoked sign-in never comes back, so that answer is kept). */
  revoked(userId: string, sessionIds: readonly string[]): void {
    this.epoch++
    for (const id of sessionIds) {
      this.inFlight.delete(id)
      this.remember(id, { userId, live: false, until: Number.MAX_SAFE_INTEGER })
    }
  }

  /** Applies an access event: `sessions-revoked` drops the sign-ins it names, or all of the user's. */
  onAccessEvent(event: AccessEvent): void {
    if (event.type !== 'sessions-revoked') return
    if (event.sessionIds !== undefined) {
      this.revoked(event.userId, event.sessionIds)
    } else if (event.clientIds === undefined) {
      this.epoch++
      for (const [id, e] of this.cache) if (e.userId === event.userId) this.cache.delete(id)
      this.inFlight.clear()
    }
  }

  private remember(sessionId: string, entry: Entry): void {
    if (this.cache.size >= MAX_ENTRIES && !this.cache.has(sessionId)) {
      const now = this.now()
      for (const [k, e] of this.cache) if (e.live && e.until <= now) this.cache.delete(k)
      if (this.cache.size >= MAX_ENTRIES) this.cache.clear()
    }
    this.cache.set(sessionId, entry)
  }
}
