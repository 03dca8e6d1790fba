// The signed-in session kept between commands: one JSON file, readable by its owner only
// (it holds the tokens). Written to a temporary file and renamed, so a crash never leaves
// half of it. The path is $CHIME_CONFIG, else $XDG_CONFIG_HOME/chime/session.json, else
// ~/.config/chime/session.json.
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { ChatError } from '../sdk/src/errors.ts'
import { ChimeHttp, type Session } from '../sdk/src/http.ts'

export interface SavedSession {
  /** Base URL of the Chime the session belongs to. */
  url: string
  user_id: string
  username: string
  token: string
  refresh_token?: string
  saved_at: string
}

export function configPath(env: NodeJS.ProcessEnv): string {
  const explicit = env['CHIME_CONFIG']
  if (explicit !== undefined && explicit !== '') return explicit
  const base = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : join(homedir(), '.config')
  return join(base, 'chime', 'session.json')
}

/** Where live connections keep watermarks, the outbox and their device id: next to the session file. */
export function stateDir(env: NodeJS.ProcessEnv): string {
  return join(dirname(configPath(env)), 'state')
}

export class SessionStore {
  constructor(readonly path: string) {}

  async load(): Promise<SavedSession | null> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new ChatError('INVALID_FIELD', `cannot read ${this.path}: ${(err as Error).message}`, { field: 'CHIME_CONFIG' })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new ChatError('INVALID_FIELD', `${this.path} is not valid JSON; remove it and log in again`, { field: 'CHIME_CONFIG' })
    }
    const s = parsed as Partial<SavedSession> | null
    if (typeof s?.url !== 'string' || typeof s.user_id !== 'string' || typeof s.username !== 'string' || typeof s.token !== 'string') {
      throw new ChatError('INVALID_FIELD', `${this.path} does not hold a session; remove it and log in again`, { field: 'CHIME_CONFIG' })
    }
    return s as SavedSession
  }

  async save(session: SavedSession): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 })
    const temp = `${this.path}.${process.pid}.tmp`
    await writeFile(temp, JSON.stringify(session, null, 2) + '\n', { mode: 0o600 })
    await chmod(temp, 0o600) // writeFile's mode is masked by the umask
    await rename(temp, this.path)
  }

  async remove(): Promise<boolean> {
    try {
      await rm(this.path)
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw err
    }
  }
}

export function toSaved(url: string, s: Session): SavedSession {
  return {
    url, user_id: s.user_id, username: s.username, token: s.token,
    ...(s.refresh_token !== undefined ? { refresh_token: s.refresh_token } : {}),
    saved_at: new Date().toISOString(),
  }
}

export function toSession(s: SavedSession): Session {
  return { user_id: s.user_id, username: s.username, token: s.token, ...(s.refresh_token !== undefined ? { refresh_token: s.refresh_token } : {}) }
}

/** The access token's expiry (ms since the epoch) and lifetime, read from its claims; null when it has none. */
export function tokenTimes(token: string): { expiresAt: number; lifetimeMs: number } | null {
  const payload = token.split('.')[1]
  if (payload === undefined) return null
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown; iat?: unknown }
    if (typeof claims.exp !== 'number') return null
    const iat = typeof claims.iat === 'number' ? claims.iat : claims.exp - 3600
    return { expiresAt: claims.exp * 1000, lifetimeMs: (claims.exp - iat) * 1000 }
  } catch {
    return null
  }
}

/** How long before expiry a token is renewed: a quarter of its lifetime, at most two minutes. */
export function renewMarginMs(lifetimeMs: number): number {
  return Math.min(120_000, Math.floor(lifetimeMs / 4))
}

/**
 * Keeps one session valid: exchanges the refresh token for a new access token when the
 * current one is (nearly) expired, and saves the result. A sign-in that has ended (revoked,
 * expired refresh token) is an error with its code: the user logs in again.
 */
export class SessionKeeper {
  private refreshing: Promise<SavedSession> | undefined

  constructor(private readonly store: SessionStore, public session: SavedSession) {}

  /** Renews the token when it expires within its renewal margin. */
  async fresh(): Promise<SavedSession> {
    const times = tokenTimes(this.session.token)
    if (times !== null && times.expiresAt - Date.now() <= renewMarginMs(times.lifetimeMs)) await this.refresh()
    return this.session
  }

  /** Exchanges the refresh token now (one exchange at a time: a refresh token works once). */
  refresh(): Promise<SavedSession> {
    this.refreshing ??= this.exchange().finally(() => {
      this.refreshing = undefined
    })
    return this.refreshing
  }

  private async exchange(): Promise<SavedSession> {
    const old = this.session
    if (old.refresh_token === undefined) throw new ChatError('TOKEN_EXPIRED', 'the sign-in has expired; run `chime login` again')
    let next: Omit<Session, 'username'>
    try {
      next = await new ChimeHttp({ baseUrl: old.url }).post<Omit<Session, 'username'>>('/api/auth/refresh', { refresh_token: old.refresh_token })
    } catch (err) {
      if (err instanceof ChatError && err.status === 401) throw new ChatError(err.code, `${err.message} Run \`chime login\` again.`, err.details)
      throw err
    }
    this.session = toSaved(old.url, { ...next, username: old.username })
    await this.store.save(this.session)
    return this.session
  }
}

/** ChimeHttp that renews the token once and repeats the call when the server says it expired. */
export class RenewingHttp extends ChimeHttp {
  constructor(private readonly keeper: SessionKeeper) {
    super({ baseUrl: keeper.session.url, token: keeper.session.token })
  }

  override async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    this.token = (await this.keeper.fresh()).token
    try {
      return await super.call<T>(method, path, body)
    } catch (err) {
      if (!(err instanceof ChatError) || err.code !== 'TOKEN_EXPIRED') throw err
      this.token = (await this.keeper.refresh()).token
      return super.call<T>(method, path, body)
    }
  }
}
