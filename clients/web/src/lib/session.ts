// The signed-in account, kept in localStorage so a reload stays signed in. At start the kept
// refresh token is exchanged for a fresh access token (access tokens are short-lived; the
// refresh token works once, so the new pair is kept at once).
import { ChatError, ChimeHttp, type Session } from './sdk.ts'
import type { PresenceData } from '../../../sdk/src/protocol.ts'

const KEY = 'chime.session'

export function keptSession(): Session | null {
  try {
    const parsed = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Partial<Session> | null
    if (parsed === null || typeof parsed.user_id !== 'string' || typeof parsed.token !== 'string' || typeof parsed.username !== 'string') return null
    return parsed as Session
  } catch {
    return null
  }
}

export function keepSession(session: Session | null): void {
  if (session === null) localStorage.removeItem(KEY)
  else localStorage.setItem(KEY, JSON.stringify(session))
}

/** The presence this user chose in this browser (away, appear offline); null: online. */
export function keptPresence(userId: string): PresenceData | null {
  try {
    const p = JSON.parse(localStorage.getItem(`chime.presence.${userId}`) ?? 'null') as Partial<PresenceData> | null
    return p !== null && (p.status === 'away' || p.status === 'offline') ? { status: p.status, ...(typeof p.text === 'string' ? { text: p.text } : {}) } : null
  } catch {
    return null
  }
}

export function keepPresence(userId: string, p: PresenceData | null): void {
  if (p === null) localStorage.removeItem(`chime.presence.${userId}`)
  else localStorage.setItem(`chime.presence.${userId}`, JSON.stringify(p))
}

/** When an access token (a JWT) expires, in ms since the epoch; 0 when it cannot be read. */
function expiresAt(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown }
    return typeof payload.exp === 'number' ? payload.exp * 1000 : 0
  } catch {
    return 0
  }
}

/** Access tokens closer than this to their expiry are exchanged. */
const REFRESH_BEFORE_MS = 60 * 60_000

/** Runs fn while no other tab of this site runs it (where Web Locks exist). */
function exclusively<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks
  return locks === undefined ? fn() : locks.request(name, fn)
}

/**
 * The kept sign-in with an access token that is good for a while: exchanged with the refresh
 * token when it is close to expiring. A refresh token works once, and tabs share the kept
 * sign-in, so one tab at a time does this and the others take what it kept. Null when the
 * sign-in cannot be used any more (sign in again).
 */
export function freshSession(): Promise<Session | null> {
  return exclusively('chime-session-refresh', async () => {
    const session = keptSession()
    if (session === null) return null
    if (session.refresh_token === undefined || expiresAt(session.token) - Date.now() > REFRESH_BEFORE_MS) return session
    const http = new ChimeHttp({ baseUrl: location.origin })
    try {
      const next = await http.post<Omit<Session, 'username'> & { username?: string }>('/api/auth/refresh', { refresh_token: session.refresh_token })
      const fresh: Session = { user_id: next.user_id, token: next.token, username: next.username ?? session.username, ...(next.refresh_token !== undefined ? { refresh_token: next.refresh_token } : {}) }
      keepSession(fresh)
      return fresh
    } catch (err) {
      // Offline or the API is down: go on with the kept token (it may still be valid).
      if (err instanceof ChatError && (err.code === 'UNAVAILABLE' || err.code === 'RATE_LIMITED')) return session
      keepSession(null)
      return null
    }
  })
}

export async function signIn(mode: 'login' | 'register', username: string, password: string): Promise<Session> {
  const http = new ChimeHttp({ baseUrl: location.origin })
  const session = mode === 'login' ? await http.login(username, password) : await http.register(username, password)
  keepSession(session)
  return session
}

/** Client ids this tab holds the lock of (signing out and in again keeps using them). */
const heldHere = new Set<string>()

/**
 * This tab's MQTT client id for a user. Each tab needs its own (two connections with one id
 * would take over each other's session), and so does each user (a client id belongs to the
 * user who first connected with it); a reload keeps it (sessionStorage), and a duplicated
 * tab, which copies sessionStorage, notices the id is held (a Web Lock) and takes a new one.
 */
export async function tabClientId(userId: string): Promise<string> {
  const key = `chime.clientId.${userId}`
  const fresh = (): string => {
    const bytes = new Uint8Array(12)
    crypto.getRandomValues(bytes)
    return 'w' + Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 20)
  }
  let id = sessionStorage.getItem(key) ?? fresh()
  const locks = (navigator as Navigator & { locks?: LockManager }).locks
  if (locks !== undefined) {
    const hold = (candidate: string): Promise<boolean> =>
      new Promise((resolve) => {
        void locks.request(`chime-client-${candidate}`, { ifAvailable: true }, (lock) => {
          resolve(lock !== null)
          // Held for the life of the tab.
          return lock === null ? undefined : new Promise<void>(() => {})
        })
      })
    while (!heldHere.has(id) && !(await hold(id))) id = fresh()
    heldHere.add(id)
  }
  sessionStorage.setItem(key, id)
  return id
}
