import type { Envelope } from '../../clients/sdk/src/protocol.ts'
import { ChatError, isErrorCode } from '../../clients/sdk/src/errors.ts'
import { errorEnvelope } from '../../api/src/requests/dispatch.ts'
import type { Session } from './sessions.ts'

/** Where the broker hands requests: the API in-process, or a co-located API sidecar. */
export interface RequestBackend {
  /** One reply per request, in order. Never throws. */
  handle(session: Session, clientId: string, requests: readonly unknown[]): Promise<Envelope[]>
}

/**
 * Production: POST the batch to the sidecar's /api/requests with the client's own token,
 * so the API authenticates it exactly as it would an HTTP client.
 */
export function createHttpRequestBackend(apiUrl: string, timeoutMs = 30_000): RequestBackend {
  const url = new URL('/api/requests', apiUrl).toString()
  return {
    async handle(session, clientId, requests) {
      const fail = (err: ChatError): Envelope[] => requests.map(() => errorEnvelope(err, undefined))
      let res: Response
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}`, 'x-chime-client-id': clientId },
          body: JSON.stringify(requests),
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch {
        return fail(new ChatError('UNAVAILABLE', 'the API sidecar did not answer'))
      }
      const body: unknown = await res.json().catch(() => null)
      if (Array.isArray(body) && body.length === requests.length) return body as Envelope[]
      const code = (body as { data?: { code?: unknown } } | null)?.data?.code
      return fail(new ChatError(isErrorCode(code) ? code : 'UNAVAILABLE'))
    },
  }
}
