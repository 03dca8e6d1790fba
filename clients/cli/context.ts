// What every command gets: where Chime is, whether to print JSON, the streams, and the saved
// session (renewed as needed) with an HTTP client signed in as it.
import { ChatError } from '../sdk/src/errors.ts'
import { badInput } from './exit-codes.ts'
import { configPath, RenewingHttp, SessionKeeper, SessionStore, stateDir, type SavedSession } from './session.ts'
import { jsonText } from './terminal-text.ts'

export const DEFAULT_URL = 'http://127.0.0.1:8080'

export interface Io {
  stdin: NodeJS.ReadStream
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  env: NodeJS.ProcessEnv
}

export interface Signed {
  session: SavedSession
  keeper: SessionKeeper
  http: RenewingHttp
}

export class Ctx {
  readonly store: SessionStore
  readonly stateDir: string
  private signed: Signed | undefined

  constructor(
    readonly io: Io,
    readonly json: boolean,
    /** --url as given (normalised), or undefined (see signInUrl and session). */
    readonly urlOption: string | undefined,
  ) {
    this.store = new SessionStore(configPath(io.env))
    this.stateDir = stateDir(io.env)
  }

  /** Where to sign in or register: --url, else the saved session's, else CHIME_URL, else the default. */
  async signInUrl(): Promise<string> {
    if (this.urlOption !== undefined) return this.urlOption
    const saved = await this.store.load().catch(() => null)
    if (saved !== null) return saved.url
    const fromEnv = this.io.env['CHIME_URL']
    if (fromEnv !== undefined && fromEnv !== '') return normaliseUrl(fromEnv, 'CHIME_URL')
    return DEFAULT_URL
  }

  /** The saved session; UNAUTHENTICATED when there is none or it belongs to another Chime than --url names. */
  async session(): Promise<Signed> {
    if (this.signed !== undefined) return this.signed
    const saved = await this.store.load()
    if (saved === null) throw new ChatError('UNAUTHENTICATED', 'not signed in: run `chime login <username>` (or `chime register <username>`)')
    if (this.urlOption !== undefined && this.urlOption !== saved.url) {
      throw new ChatError('UNAUTHENTICATED', `signed in at ${saved.url}, not at ${this.urlOption}: run \`chime login <username> --url ${this.urlOption}\``)
    }
    const keeper = new SessionKeeper(this.store, saved)
    this.signed = { session: saved, keeper, http: new RenewingHttp(keeper) }
    return this.signed
  }

  /** One line on stdout. */
  print(line: string): void {
    this.io.stdout.write(line + '\n')
  }

  /** A JSON document on stdout (pretty when stdout is a terminal, one line otherwise). */
  printJson(value: unknown): void {
    this.io.stdout.write(jsonText(value, this.io.stdout.isTTY === true ? 2 : undefined) + '\n')
  }

  /** A note for people on stderr (never part of the output scripts read). */
  note(line: string): void {
    this.io.stderr.write(line + '\n')
  }
}

/** A base URL as Chime's clients take it: http(s), no trailing slash. */
export function normaliseUrl(raw: string, field = 'url'): string {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw badInput(`${field}: "${raw}" is not a URL (e.g. http://127.0.0.1:8080)`, field)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw badInput(`${field}: use an http:// or https:// URL, not ${u.protocol}`, field)
  return u.toString().replace(/\/+$/, '')
}
