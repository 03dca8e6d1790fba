// One channel's deltas in order: whatever arrives (live, from SYNC, twice, early) comes out
// once each, in seq order, right after the watermark. A delta that arrives ahead of a
// missing seq waits; `gap` tells the client to SYNC.

import type { DeltaJson } from './protocol.ts'

export interface Offered {
  /** Deltas now in order after the watermark, oldest first; the watermark moved past them. */
  ready: DeltaJson[]
  /** Deltas dropped because they were already applied or already waiting. */
  duplicates: number
  /** Deltas wait behind a missing seq. */
  gap: boolean
}

export class ChannelStream {
  private readonly waiting = new Map<bigint, DeltaJson>()

  constructor(
    readonly channelId: string,
    /** The last seq applied; 0 before the first. */
    public watermark: bigint,
  ) {}

  offer(deltas: readonly DeltaJson[]): Offered {
    let duplicates = 0
    for (const d of deltas) {
      const seq = BigInt(d.seq)
      if (seq <= this.watermark || this.waiting.has(seq)) duplicates++
      else this.waiting.set(seq, d)
    }
    const ready: DeltaJson[] = []
    for (let next = this.watermark + 1n; this.waiting.has(next); next++) {
      ready.push(this.waiting.get(next)!)
      this.waiting.delete(next)
      this.watermark = next
    }
    return { ready, duplicates, gap: this.waiting.size > 0 }
  }

  /** Forgets what waits and starts after `seq` (after a restore). */
  reset(seq: bigint): void {
    this.waiting.clear()
    this.watermark = seq
  }
}
