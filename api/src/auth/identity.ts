// The per-process parts of accounts and sign-in that belong to one Core: the sign-in
// cache of the HTTP API, the rate limits, the single sign-on verifier, and the stores.
import type { AccessEvent } from '../../../broker/src/access-events.ts'
import type { Core } from '../services/context.ts'
import { AccountStore } from '../store/accounts.ts'
import { Relations } from '../store/relations.ts'
import { createOidcVerifier, type OidcVerifier } from './oidc.ts'
import { AuthRateLimiter } from './rate-limit.ts'
import { SessionGate } from './session-gate.ts'

export interface Identity {
  accounts: AccountStore
  relations: Relations
  gate: SessionGate
  limiter: AuthRateLimiter
  oidc: OidcVerifier | null
}

const identities = new WeakMap<Core, Identity>()

export function identityOf(core: Core): Identity {
  let identity = identities.get(core)
  if (identity === undefined) {
    const accounts = new AccountStore(core.store.db)
    identity = {
      accounts,
      relations: new Relations(core.store.db),
      gate: new SessionGate(accounts),
      limiter: new AuthRateLimiter({ perIp: core.config.authRatePerIp, perAccount: core.config.authRatePerAccount, windowSeconds: core.config.authRateWindowSeconds }),
      oidc: createOidcVerifier({ issuer: core.config.oidcIssuer, jwksUrl: core.config.oidcJwksUrl, audience: core.config.oidcAudience }),
    }
    identities.set(core, identity)
  }
  return identity
}

/**
 * Announces access changes after their commit: applied to this process's sign-in cache at
 * once (so the next request here is refused), then told to every broker node and sidecar.
 */
export async function announce(core: Core, events: readonly AccessEvent[]): Promise<void> {
  const { gate } = identityOf(core)
  for (const e of events) gate.onAccessEvent(e)
  await core.access.emit(events)
}
