// The HTTP side of the SDK: JSON calls to the API with the bearer token, every refusal
// turned into a ChatError with the documented code. Works wherever `fetch` does (browsers,
// Node 20).
import { ChatError, isErrorCode } from './errors.ts'
import type { Envelope } from './protocol.ts'

export interface Session {
  user_id: string
  token: string
  username: string
  /** When the API answers one (login, register, refresh). */
  refresh_token?: string
}

export interface HttpOptions {
  /** Base URL of the API, e.g. https://chat.example.org or http://127.0.0.1:8080. */
  baseUrl: string
  token?: string
  /** Per call (default 15 s). */
  timeoutMs?: number
  fetch?: typeof fetch
}

/** A refusal as the API sends it: an ERROR envelope; anything else becomes UNAVAILABLE. */
export function errorFrom(status: number, body: unknown): ChatError {
  const data = (body as { action?: unknown; data?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } } | null)?.data
  if (isErrorCode(data?.code)) return new ChatError(data.code, typeof data.message === 'string' ? data.message : undefined, data.details)
  return new ChatError('UNAVAILABLE', `the API answered HTTP ${status} without a Chime error`)
}

export class ChimeHttp {
  readonly baseUrl: string
  token: string | undefined
  private readonly timeoutMs: number
  private readonly fetchFn: typeof fetch

  constructor(opts: HttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '')
    this.token = opts.token
    this.timeoutMs = opts.timeoutMs ?? 15_000
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init))
  }

  /** An absolute URL for a path or link the API answered (links may be relative). */
  resolve(pathOrUrl: string): string {
    return /^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl) ? pathOrUrl : `${this.baseUrl}${pathOrUrl.startsWith('/') ? '' : '/'}${pathOrUrl}`
  }

  /** One JSON call; answers the parsed body, throws ChatError on a refusal or when the API cannot be reached. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {}
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await this.fetchFn(this.resolve(path), {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (err) {
      throw new ChatError('UNAVAILABLE', `the API at ${this.baseUrl} did not answer (${err instanceof Error ? err.message : String(err)})`)
    }
    const text = await res.text()
    let parsed: unknown = null
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = null
      }
    }
    if (!res.ok || (parsed as { action?: unknown } | null)?.action === 'ERROR') throw errorFrom(res.status, parsed)
    return parsed as T
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path)
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body)
  }

  /** A request envelope over HTTP (POST /api/requests); answers the reply's data. */
  async request<T>(action: string, data: object): Promise<T> {
    const reply = await this.post<Envelope<string, T>>('/api/requests', { action, data })
    return reply.data
  }

  async register(username: string, password: string): Promise<Session> {
    const s = await this.post<Omit<Session, 'username'>>('/api/auth/register', { username, password })
    this.token = s.token
    return { ...s, username }
  }

  async login(username: string, password: string): Promise<Session> {
    const s = await this.post<Omit<Session, 'username'>>('/api/auth/login', { username, password })
    this.token = s.token
    return { ...s, username }
  }

  async logout(): Promise<void> {
    await this.post('/api/auth/logout', {})
    this.token = undefined
  }
}
