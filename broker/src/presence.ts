// Presence payloads (docs/protocol.md, "Presence"): a user publishes its own, retained, on
// chime/v1/users/{userId}/presence, and sets the MQTT will to the offline form so the broker
// publishes it when the connection drops.
import { ChatError } from '../../clients/sdk/src/errors.ts'

export const PRESENCE_STATUSES = ['online', 'away', 'offline'] as const
const MAX_PRESENCE_BYTES = 1024

/** null when the payload is a valid presence envelope; the coded error otherwise. */
export function presenceError(payload: Buffer | string): ChatError | null {
  const text = payload.toString()
  if (Buffer.byteLength(text) > MAX_PRESENCE_BYTES) return new ChatError('PAYLOAD_TOO_LARGE', `presence is at most ${MAX_PRESENCE_BYTES} bytes`)
  let env: unknown
  try {
    env = JSON.parse(text)
  } catch {
    return new ChatError('BAD_JSON', 'presence must be {"action":"PRESENCE","data":{"status":"online|away|offline"}}')
  }
  const e = env as { action?: unknown; data?: { status?: unknown; text?: unknown } }
  if (typeof env !== 'object' || env === null || e.action !== 'PRESENCE' || typeof e.data !== 'object' || e.data === null) {
    return new ChatError('INVALID_ENVELOPE', 'presence must be {"action":"PRESENCE","data":{"status":...}}')
  }
  if (!(PRESENCE_STATUSES as readonly unknown[]).includes(e.data.status)) return new ChatError('INVALID_FIELD', 'status must be online, away or offline', { field: 'status' })
  if (e.data.text !== undefined && (typeof e.data.text !== 'string' || e.data.text.length > 256)) return new ChatError('INVALID_FIELD', 'text must be a string of at most 256 characters', { field: 'text' })
  return null
}
