// Fixed-window rate limits for sign-in attempts, in memory: each API process counts on its
// own (several sidecars each allow the configured number).
import { ChatError } from '../../../clients/sdk/src/errors.ts'

interface Window {
  count: number
  resetAt: number
}

export interface FixedWindowOptions {
  /** Attempts allowed per window; 0 means no limit. */
  limit: number
  windowMs: number
  /** Most keys remembered; expired windows are dropped first, then the oldest. */
  maxKeys?: number
  now?: () => number
}

/** Counts attempts per key in fixed windows of `windowMs`. */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, Window>()
  private readonly maxKeys: number
  private readonly now: () => number

  constructor(private readonly opts: FixedWindowOptions) {
    this.maxKeys = opts.maxKeys ?? 100_000
    this.now = opts.now ?? Date.now
  }

  /** Milliseconds until key may try again (0: it may now), without counting an attempt. */
  waitMs(key: string): number {
    if (this.opts.limit === 0) return 0
    const w = this.windows.get(key)
    const now = this.now()
    if (w === undefined || w.resetAt <= now) return 0
    return w.count >= this.opts.limit ? w.resetAt - now : 0
  }

  /** Counts one attempt of key. */
  hit(key: string): void {
    if (this.opts.limit === 0) return
    const now = this.now()
    const w = this.windows.get(key)
    if (w !== undefined && w.resetAt > now) {
      w.count++
      return
    }
    if (w !== undefined) this.windows.delete(key)
    if (this.windows.size >= this.maxKeys) this.evict(now)
    this.windows.set(key, { count: 1, resetAt: now + this.opts.windowMs })
  }

  get size(): number {
    return this.windows.size
  }

  private evict(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k)
    // Still full: forget the oldest windows (insertion order), a tenth at a time.
    if (this.windows.size >= this.maxKeys) {
      let drop = Math.max(1, Math.floor(this.maxKeys / 10))
      for (const k of this.windows.keys()) {
        if (drop-- <= 0) break
        this.windows.delete(k)
      }
    }
  }
}

export interface AuthLimits {
  perIp: number
  perAccount: number
  windowSeconds: number
}

/**
 * Sign-in attempts (login, register, refresh, single sign-on, password checks) per client
 * address and per account. An attempt over either limit is RATE_LIMITED with
 * `details.retry_after_s` and is not counted.
 */
export class AuthRateLimiter {
  private readonly byIp: FixedWindowLimiter
  private readonly byAccount: FixedWindowLimiter

  constructor(limits: AuthLimits, now?: () => number) {
    const windowMs = limits.windowSeconds * 1000
    this.byIp = new FixedWindowLimiter({ limit: limits.perIp, windowMs, ...(now ? { now } : {}) })
    this.byAccount = new FixedWindowLimiter({ limit: limits.perAccount, windowMs, ...(now ? { now } : {}) })
  }

  /** Counts an attempt from ip (and for account, when known), or throws RATE_LIMITED. */
  attempt(ip: string, account?: string): void {
    const accountKey = account?.toLowerCase()
    const wait = Math.max(this.byIp.waitMs(ip), accountKey === undefined ? 0 : this.byAccount.waitMs(accountKey))
    if (wait > 0) {
      const retryAfter = Math.max(1, Math.ceil(wait / 1000))
      throw new ChatError('RATE_LIMITED', `too many attempts; retry in ${retryAfter} s`, { retry_after_s: retryAfter })
    }
    this.byIp.hit(ip)
    if (accountKey !== undefined) this.byAccount.hit(accountKey)
  }
}

/**
 * The client address for rate limits: the socket's, or with `hops` trusted reverse proxies
 * in front, the X-Forwarded-For entry that the outermost trusted proxy saw.
 */
export function clientAddress(socketAddress: string, forwardedFor: string | string[] | undefined, hops: number): string {
  if (hops === 0 || forwardedFor === undefined) return socketAddress
  const chain = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((s) => s.trim()).filter((s) => s !== '')
  // [client, proxy1, ..., proxyN-1] + the socket peer (proxy N): take the entry `hops` from the right.
  return chain[chain.length - hops] ?? chain[0] ?? socketAddress
}
