// A latency histogram cheap enough to record every delivered message: 10 µs buckets up to
// 100 ms, 1 ms buckets up to 60 s, and one overflow bucket. Processes send their counts to
// the coordinator, which merges them; the exact maximum is kept beside.

const FINE_US = 10
const FINE_BUCKETS = 10_000 // up to 100 ms
const COARSE_US = 1000
const COARSE_BUCKETS = 59_900 // 100 ms to 60 s
export const HISTOGRAM_BUCKETS = FINE_BUCKETS + COARSE_BUCKETS + 1

export class LatencyHistogram {
  readonly counts = new Uint32Array(HISTOGRAM_BUCKETS)
  total = 0
  maxUs = 0

  record(us: number): void {
    const v = us < 0 ? 0 : us
    let i: number
    if (v < FINE_US * FINE_BUCKETS) i = Math.floor(v / FINE_US)
    else i = Math.min(FINE_BUCKETS + Math.floor((v - FINE_US * FINE_BUCKETS) / COARSE_US), HISTOGRAM_BUCKETS - 1)
    this.counts[i]!++
    this.total++
    if (v > this.maxUs) this.maxUs = v
  }

  reset(): void {
    this.counts.fill(0)
    this.total = 0
    this.maxUs = 0
  }

  /** Non-empty buckets only, as [index, count] pairs: what goes over IPC. */
  sparse(): Array<[number, number]> {
    const out: Array<[number, number]> = []
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!])
    return out
  }

  add(sparse: ReadonlyArray<readonly [number, number]>, maxUs: number): void {
    for (const [i, n] of sparse) {
      this.counts[i]! += n
      this.total += n
    }
    if (maxUs > this.maxUs) this.maxUs = maxUs
  }

  /** The upper edge of the bucket holding the p-th percentile, in µs (NaN when empty). */
  percentileUs(p: number): number {
    if (this.total === 0) return NaN
    const rank = Math.max(1, Math.ceil((p / 100) * this.total))
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(bucketUpperUs(i), this.maxUs)
    }
    return this.maxUs
  }
}

function bucketUpperUs(i: number): number {
  if (i < FINE_BUCKETS) return (i + 1) * FINE_US
  return FINE_US * FINE_BUCKETS + (i - FINE_BUCKETS + 1) * COARSE_US
}
