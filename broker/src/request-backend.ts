import type { Envelope } from '../../clients/sdk/src/protocol.ts'
import { ChatError, isErrorCode, outcomeUnknown } from '../../clients/sdk/src/errors.ts'
import { errorEnvelope, requestIdOf } from '../../api/src/requests/dispatch.ts'
import type { TokenService } from '../../api/src/auth/tokens.ts'
import type { Session } from './sessions.ts'

/** How long a token minted for a connection is reused before a fresh one is minted. */
const MINTED_REUSE_MS = 30_000

/** Where the broker hands requests: the API in-process, or a co-located API sidecar. */
export interface RequestBackend {
  /** One reply per request, in order. Never throws. */
  handle(session: Session, clientId: string, requests: readonly unknown[]): Promise<Envelope[]>
}

/**
 * Production: POST the batch to the sidecar's /api/requests with a bearer token of the
 * connection's user and sign-in, so the API authenticates it exactly as it would an HTTP
 * client (revoked sign-ins included). The token is minted by this node (it holds the token
 * secret) and renewed every 30 s, so a connection outlives the token it connected with;
 * without a token service the connection's own token is sent.
 */
export function createHttpRequestBackend(apiUrl: string, tokens?: TokenService, timeoutMs = 30_000): RequestBackend {
  const url = new URL('/api/requests', apiUrl).toString()
  const minted = new WeakMap<Session, { token: string; at: number }>()
  const bearer = async (session: Session): Promise<string> => {
    if (tokens === undefined || session.sessionId === undefined) return session.token
    const hit = minted.get(session)
    if (hit !== undefined && Date.now() - hit.at < MINTED_REUSE_MS) return hit.token
    const token = await tokens.issue({ userId: session.userId, username: session.username, sessionId: session.sessionId })
    minted.set(session, { token, at: Date.now() })
    return token
  }
  return {
    async handle(session, clientId, requests) {
      // Each ERROR names its request's request_id, so the client knows which posts to retry
      // (with the same client_msg_id: a sidecar that died after its commit made them already).
      const fail = (err: ChatError): Envelope[] => requests.map((r) => errorEnvelope(err, requestIdOf(r)))
      let res: Response
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await bearer(session)}`, 'x-chime-client-id': clientId },
          body: JSON.stringify(requests),
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch {
        return fail(outcomeUnknown('the API sidecar did not answer'))
      }
      const body: unknown = await res.json().catch(() => null)
      if (Array.isArray(body) && body.length === requests.length) return body as Envelope[]
      // The whole batch was refused (an error envelope: nothing ran), or the answer is not
      // one Chime writes (a proxy's error page: what ran is unknown).
      const data = (body as { data?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } } | null)?.data
      if (!isErrorCode(data?.code)) return fail(outcomeUnknown(`the API sidecar answered HTTP ${res.status} without a Chime reply`))
      return fail(new ChatError(data.code, typeof data.message === 'string' ? data.message : undefined, data.details))
    },
  }
}
