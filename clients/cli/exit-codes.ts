// Exit statuses (docs/cli.md): scripts tell "fix the command" from "sign in again" from
// "try again later" without reading the message. They follow the HTTP status of the error
// code in the catalogue, so a code added later still lands in the right class.
import { ChatError, ERROR_CATALOGUE } from '../sdk/src/errors.ts'

export const EXIT = {
  OK: 0,
  /** A refusal of another kind (a conflict such as USERNAME_TAKEN or CHANNEL_CLOSED, INTERNAL). */
  REFUSED: 1,
  /** Bad input: an unknown command or option, a missing or malformed argument, INVALID_FIELD and the other 400s. */
  BAD_INPUT: 2,
  /** Not signed in, wrong credentials, an expired or revoked sign-in. */
  AUTH: 3,
  /** No such server, channel, chat, user, message or file (or not one the user may see). */
  NOT_FOUND: 4,
  /** Not allowed: FORBIDDEN, NOT_A_MEMBER, BANNED, MUTED, BLOCKED. */
  FORBIDDEN: 5,
  /** Chime could not be reached or asked to wait: UNAVAILABLE, REQUEST_TIMEOUT, RATE_LIMITED. */
  UNAVAILABLE: 6,
  /** Data failed its check: an archive or upload whose SHA-256 or size is wrong. */
  INTEGRITY: 7,
  /** Stopped by Ctrl-C where that is not the normal way out (128 + SIGINT). */
  INTERRUPTED: 130,
} as const

export function exitCodeFor(err: ChatError): number {
  if (err.code === 'CHECKSUM_MISMATCH' || err.code === 'UPLOAD_INCOMPLETE') return EXIT.INTEGRITY
  const status = ERROR_CATALOGUE[err.code].status
  if (status === 401) return EXIT.AUTH
  if (status === 404 || status === 410) return EXIT.NOT_FOUND
  if (status === 403) return err.code === 'LINK_EXPIRED' || err.code === 'LINK_INVALID' ? EXIT.UNAVAILABLE : EXIT.FORBIDDEN
  if (status === 429 || status === 503 || status === 504) return EXIT.UNAVAILABLE
  if (status >= 400 && status < 500 && status !== 409) return EXIT.BAD_INPUT
  return EXIT.REFUSED
}

/** A mistake in the command line itself: INVALID_FIELD naming the argument or option. */
export function badInput(message: string, field: string): ChatError {
  return new ChatError('INVALID_FIELD', message, { field })
}

/** Any thrown value as a ChatError (a bug in the CLI shows as INTERNAL, not a stack trace). */
export function asChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err
  return new ChatError('INTERNAL', err instanceof Error ? err.message : String(err))
}

/** Raised by Ctrl-C during a prompt or a long command; main turns it into exit 130. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted')
    this.name = 'Interrupted'
  }
}
