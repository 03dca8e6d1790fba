// The one catalogue of Chime error codes. docs/errors.md documents every code and a test
// fails when one is missing there. Codes are stable; messages are for people.

export const ERROR_CATALOGUE = {
  BAD_JSON: { status: 400, message: 'The payload is not valid JSON.' },
  INVALID_ENVELOPE: { status: 400, message: 'The payload must be {"action": string, "data": object}.' },
  UNKNOWN_ACTION: { status: 400, message: 'The action is not one Chime knows.' },
  INVALID_FIELD: { status: 400, message: 'A field is missing or has the wrong type or form.' },
  CONTENT_TOO_LARGE: { status: 413, message: 'The message content is over the size limit.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is over the size limit.' },
  UNAUTHENTICATED: { status: 401, message: 'A valid token is required.' },
  TOKEN_EXPIRED: { status: 401, message: 'The token has expired; log in again.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong username or password.' },
  USERNAME_TAKEN: { status: 409, message: 'That username is taken.' },
  FORBIDDEN: { status: 403, message: 'You may not do that.' },
  FORBIDDEN_TOPIC: { status: 403, message: 'You may not publish or subscribe to that topic.' },
  CLIENT_ID_MISMATCH: { status: 403, message: 'Requests must be published on your own client id.' },
  NOT_A_MEMBER: { status: 403, message: 'You are not a member of that server or chat.' },
  INVALID_CURSOR: { status: 400, message: 'The sync cursor is malformed or ahead of the server.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  SERVER_NOT_FOUND: { status: 404, message: 'No such server.' },
  CHANNEL_NOT_FOUND: { status: 404, message: 'No such channel or chat.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  BANNED: { status: 403, message: 'You are banned from that server.' },
  MUTED: { status: 403, message: 'You are muted in that server for now.' },
  BLOCKED: { status: 403, message: 'That user does not accept this from you.' },
  CHANNEL_CLOSED: { status: 409, message: 'The channel was deleted or the group ended; its history stays readable.' },
  OWNER_CANNOT_LEAVE: { status: 409, message: 'The owner must transfer ownership or delete the server first.' },
  ALREADY_MEMBER: { status: 409, message: 'That user is already a member.' },
  INVITE_NOT_FOUND: { status: 404, message: 'No such invitation, or it was revoked.' },
  INVITE_EXPIRED: { status: 410, message: 'The invitation has expired.' },
  INVITE_USED_UP: { status: 410, message: 'The invitation has reached its maximum number of uses.' },
  // messages: edits, deletes, reactions, pins and polls
  MESSAGE_NOT_FOUND: { status: 404, message: 'No such message, or you may not read it.' },
  MESSAGE_DELETED: { status: 410, message: 'That message was deleted or has expired.' },
  NOT_MESSAGE_AUTHOR: { status: 403, message: 'Only the author may do that to this message.' },
  MESSAGE_NOT_EDITABLE: { status: 409, message: 'Messages of this kind cannot be edited.' },
  POLL_CLOSED: { status: 409, message: 'The poll is closed.' },
  NOT_A_POLL: { status: 409, message: 'That message is not a poll.' },
  PIN_LIMIT: { status: 409, message: 'The channel has reached its maximum number of pinned messages.' },
  REACTION_LIMIT: { status: 409, message: 'The message has reached its maximum number of different reactions.' },
  // accounts, sign-in, devices, profiles, favorites and blocks
  WEAK_PASSWORD: { status: 400, message: 'The password must have at least 8 characters.' },
  WRONG_PASSWORD: { status: 403, message: 'The current password is wrong.' },
  SESSION_REVOKED: { status: 401, message: 'This sign-in was revoked; log in again.' },
  REFRESH_TOKEN_INVALID: { status: 401, message: 'The refresh token is not valid; log in again.' },
  REFRESH_TOKEN_EXPIRED: { status: 401, message: 'The refresh token has expired; log in again.' },
  REFRESH_TOKEN_REUSED: { status: 401, message: 'The refresh token was already used; the sign-in is revoked. Log in again.' },
  RATE_LIMITED: { status: 429, message: 'Too many attempts; wait and retry.' },
  SSO_NOT_CONFIGURED: { status: 501, message: 'Single sign-on is not configured on this deployment.' },
  INVALID_ID_TOKEN: { status: 401, message: 'The ID token is not valid for this deployment.' },
  USER_DELETED: { status: 410, message: 'That account was deleted.' },
  CANNOT_FAVORITE_SELF: { status: 400, message: 'You cannot add yourself to your favorites.' },
  CANNOT_BLOCK_SELF: { status: 400, message: 'You cannot block yourself.' },
  DEVICE_NOT_FOUND: { status: 404, message: 'No such device.' },
  CLIENT_ID_TAKEN: { status: 409, message: 'That client id belongs to a device of another user.' },
  // chat history export
  EMAIL_NOT_CONFIGURED: { status: 501, message: 'Sending email is not configured on this deployment; download the export instead.' },
  // object storage: signed links and stored objects
  LINK_EXPIRED: { status: 403, message: 'The link has expired; ask for a new one.' },
  LINK_INVALID: { status: 403, message: 'The link is not valid: its signature does not match its parameters.' },
  INVALID_OBJECT_KEY: { status: 400, message: 'The object key is not valid.' },
  CHECKSUM_MISMATCH: { status: 400, message: 'The bytes do not match the given SHA-256; nothing was stored.' },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested range does not overlap the object.' },
  UPLOAD_INCOMPLETE: { status: 409, message: 'A part named to complete the upload has not arrived, or arrived with other bytes; list the parts and send the missing ones.' },
  // files
  FILE_NOT_FOUND: { status: 404, message: 'No such file, or not one you may read.' },
  FILE_NOT_READY: { status: 409, message: 'The upload of this file is not complete (COMPLETE_UPLOAD).' },
  // notifications and Web Push
  PUSH_NOT_CONFIGURED: { status: 501, message: 'Web Push is not configured on this deployment.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send application/json.' },
  INTERNAL: { status: 500, message: 'Something went wrong on the server; nothing was changed.' },
  UNAVAILABLE: { status: 503, message: 'A service Chime depends on is unavailable; retry later.' },
  // raised by clients (the SDK), never sent by the server
  REQUEST_TIMEOUT: { status: 504, message: 'No reply came in time; the request may still be carried out (a post is retried with the same client_msg_id).' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof ERROR_CATALOGUE

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code)
}

/** The one error type of Chime, on the server and in clients. */
export class ChatError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERROR_CATALOGUE[code].message)
    this.name = 'ChatError'
    this.code = code
    this.status = ERROR_CATALOGUE[code].status
    this.details = details
  }
}

/**
 * UNAVAILABLE errors whose request may nevertheless have been carried out (the API sidecar or
 * the database went away while it ran) carry `details.outcome: 'unknown'`: retry a post with
 * the same `client_msg_id`. Over MQTT at QoS 1 such a request is never acknowledged: the
 * broker closes the connection instead, and the client's MQTT layer sends it again.
 */
export function outcomeUnknown(message: string): ChatError {
  return new ChatError('UNAVAILABLE', message, { outcome: 'unknown' })
}

/** Whether an ERROR's data says its request may have been carried out (see outcomeUnknown). */
export function isOutcomeUnknown(data: { code?: unknown; details?: Record<string, unknown> } | undefined): boolean {
  return data?.code === 'UNAVAILABLE' && data.details?.['outcome'] === 'unknown'
}
