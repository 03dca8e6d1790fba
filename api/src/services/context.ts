import type { Config } from '../../../config/schema.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import type { Store } from '../store/store.ts'
import type { TokenService } from '../auth/tokens.ts'
import type { AccessBus } from '../../../broker/src/access-events.ts'
import type { AccessPolicy } from '../../../broker/src/access.ts'
import type { InboxPublisher } from '../publish/inbox-publisher.ts'
import type { ObjectStore } from '../storage/object-store.ts'

/** What every service function works with. */
export interface Core {
  config: Config
  store: Store
  sequencer: Sequencer
  tokens: TokenService
  /** Tells every broker node about changes of who-may-see-what. */
  access: AccessBus
  /** Cached permission checks for the post path, dropped by access events (this process's own at once). */
  policy: AccessPolicy
  /** Events for one user on its inbox topic that are not deltas (read markers, receipts). */
  inbox: InboxPublisher
  /** Object storage: sealed history partitions and uploaded files (storage/object-store.ts). */
  objects: ObjectStore
}

/** The authenticated caller of a request. */
export interface Caller {
  userId: string
  username: string
  /** MQTT client id when the request came over MQTT. */
  clientId?: string
  /** The sign-in (auth session) of the caller's token, when it came with one. */
  sessionId?: string
}
