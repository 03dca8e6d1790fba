import type { Client } from 'aedes'

/** Who is behind an MQTT connection, set by the authenticate hook. */
export interface Session {
  userId: string
  username: string
  /** The token the client connected with; forwarded to the API sidecar with its requests. */
  token: string
  /**
   * Filters granted to this connection's user, including restored persistent subscriptions
   * (aedes re-authorises those on connect). Forwarding checks against these, so a session
   * taken over under another user's client id never delivers that user's queue.
   */
  granted: Set<string>
  /** The sign-in (auth session) of the token; its revocation closes this connection. */
  sessionId?: string
  /** When CONNECT was checked against the database (ms): revocations after it still apply. */
  checkedAt?: number
  /**
   * Per server whose wildcard is granted: channels this user may not read (private
   * channels, deleted ones), which the wildcard must not deliver. Set by the access policy.
   */
  hidden?: Map<string, Set<string>>
  /** Bumped by every access change that concerns this connection; a grant decided across a bump is decided again. */
  epoch?: number
  /**
   * Presence topics whose grant is being checked again after a membership change, with the
   * newest presence refused meanwhile: delivered if the grant holds (revoke-grants.ts).
   */
  presenceOnHold?: Map<string, { payload: Buffer | string } | null>
}

const sessions = new WeakMap<Client, Session>()

export function setSession(client: Client, session: Session): void {
  sessions.set(client, session)
}

export function sessionOf(client: Client | null | undefined): Session | undefined {
  return client ? sessions.get(client) : undefined
}
