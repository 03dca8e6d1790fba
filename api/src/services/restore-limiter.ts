// The rate limit of RESTORE_HISTORY (seed 000: "rate limited depending on a combination of
// the server's current traffic, the size of the delta log's most recent partition, and the
// number of partitions the user is currently requesting to restore").
//
// Each user has a token bucket per API process (CHIME_RESTORE_BURST units, refilled at
// CHIME_RESTORE_RATE_PER_SECOND). A request costs
//   (1 + archive links handed out + deltas of the open partition paged / 1,000) x traffic
// where traffic = 1 + deltas committed per second by this process / CHIME_RESTORE_BUSY_DELTAS_PER_SECOND,
// so a restore costs more while the process is busy posting. At most
// CHIME_RESTORE_MAX_CONCURRENT restores run at once per process. A refusal is RATE_LIMITED
// with retry_after_ms: when the bucket will hold the cost again.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { Config } from '../../../config/schema.ts'

export type RestoreLimits = Pick<Config, 'restoreBurst' | 'restoreRatePerSecond' | 'restoreBusyDeltasPerSecond' | 'restoreMaxConcurrent'>

interface Bucket {
  tokens: number
  at: number
}

/** Deltas committed per second over the last few seconds, from a running total. */
export class TrafficMeter {
  private readonly samples: { at: number; total: number }[] = []

  constructor(
    private readonly total: () => number,
    private readonly windowMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  perSecond(): number {
    const at = this.now()
    const total = this.total()
    const last = this.samples.at(-1)
    if (last === undefined || at - last.at >= 250) this.samples.push({ at, total })
    while (this.samples.length > 1 && at - this.samples[0]!.at > this.windowMs) this.samples.shift()
    const first = this.samples[0]!
    const span = at - first.at
    return span < 250 ? 0 : ((total - first.total) * 1000) / span
  }
}

export interface RestoreCost {
  links: number
  deltas: number
}

export class RestoreLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private running = 0

  constructor(
    private readonly limits: RestoreLimits,
    private readonly traffic: TrafficMeter,
    private readonly now: () => number = Date.now,
    private readonly maxUsers = 100_000,
  ) {}

  /** The cost of a request in units, traffic included. */
  cost(c: RestoreCost): number {
    const base = 1 + c.links + c.deltas / 1000
    return base * (1 + this.traffic.perSecond() / this.limits.restoreBusyDeltasPerSecond)
  }

  /**
   * Takes the cost from the user's bucket and a concurrency slot, or throws RATE_LIMITED;
   * call the returned function when the request is done.
   */
  acquire(userId: string, c: RestoreCost): () => void {
    if (this.running >= this.limits.restoreMaxConcurrent) {
      throw new ChatError('RATE_LIMITED', `the server is answering ${this.running} restores; retry shortly`, { retry_after_ms: 250, retry_after_s: 1 })
    }
    if (this.limits.restoreBurst > 0) {
      const cost = this.cost(c)
      const at = this.now()
      const b = this.buckets.get(userId) ?? { tokens: this.limits.restoreBurst, at }
      b.tokens = Math.min(this.limits.restoreBurst, b.tokens + ((at - b.at) / 1000) * this.limits.restoreRatePerSecond)
      b.at = at
      // A request costlier than the whole burst may still run from a full bucket (into debt).
      const need = Math.min(cost, this.limits.restoreBurst)
      if (b.tokens < need) {
        this.remember(userId, b)
        const ms = Math.ceil(((need - b.tokens) / this.limits.restoreRatePerSecond) * 1000)
        throw new ChatError('RATE_LIMITED', `restore budget spent (this request costs ${cost.toFixed(1)} units); retry in ${ms} ms`, { retry_after_ms: ms, retry_after_s: Math.ceil(ms / 1000) })
      }
      b.tokens -= cost
      this.remember(userId, b)
    }
    this.running++
    let released = false
    return () => {
      if (released) return
      released = true
      this.running--
    }
  }

  private remember(userId: string, b: Bucket): void {
    this.buckets.delete(userId)
    if (this.buckets.size >= this.maxUsers) {
      const oldest = this.buckets.keys().next().value
      if (oldest !== undefined) this.buckets.delete(oldest)
    }
    this.buckets.set(userId, b)
  }
}
