// Group commit: posts queue up while a transaction is in flight and the next transaction
// takes all of them (up to batchMax). At low load a post commits alone, at once; under
// load, transactions grow instead of queueing. Each batch is published right after its
// commit and before the next batch commits-and-publishes, so publishes follow commit order
// (across processes too: see store/append-mysql.ts).
import type { DeltaLog } from '../store/delta-log.ts'
import type { AppendInput, AppendResult, DeltaRecord } from '../store/types.ts'

export interface DeltaPublisher {
  /** Publishes committed deltas in the given order. Called only after their commit. */
  publish(deltas: readonly DeltaRecord[]): Promise<void>
}

interface Pending {
  input: AppendInput
  resolve: (result: AppendResult) => void
  reject: (err: unknown) => void
}

export interface SequencerStats {
  transactions: number
  appended: number
  largestBatch: number
}

export class Sequencer {
  private queue: Pending[] = []
  private running = false
  private draining: Promise<void> = Promise.resolve()
  readonly stats: SequencerStats = { transactions: 0, appended: 0, largestBatch: 0 }
  private closed = false

  constructor(
    private readonly log: DeltaLog,
    private readonly publisher: DeltaPublisher,
    private readonly batchMax: number,
    private readonly onPublishError: (err: unknown) => void,
  ) {}

  /** Resolves once the delta is committed (or found committed before, for a retry). */
  append(input: AppendInput): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('the sequencer is closed'))
    return new Promise((resolve, reject) => {
      this.queue.push({ input, resolve, reject })
      if (!this.running) {
        this.running = true
        // Let the posts that arrive in the same tick join the first transaction.
        this.draining = Promise.resolve().then(() => this.drain())
      }
    })
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchMax)
      let results: AppendResult[] | undefined
      try {
        results = await this.log.append(batch.map((p) => p.input), (r) => this.publish(r))
      } catch (err) {
        if (batch.length === 1) batch[0]!.reject(err)
        else await this.appendOneByOne(batch)
        continue
      }
      this.stats.transactions += 1
      this.stats.appended += batch.length
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length)
      this.settle(batch, results)
    }
    this.running = false
  }

  // A failed batch is retried post by post so one bad post cannot fail the others.
  private async appendOneByOne(batch: Pending[]): Promise<void> {
    for (const pending of batch) {
      try {
        const results = await this.log.append([pending.input], (r) => this.publish(r))
        this.stats.transactions += 1
        this.stats.appended += 1
        this.settle([pending], results)
      } catch (err) {
        pending.reject(err)
      }
    }
  }

  // Runs after the commit. A failed publish does not undo the commit: subscribers get those
  // deltas on their next SYNC.
  private async publish(results: AppendResult[]): Promise<void> {
    const fresh = results.filter((r) => !r.duplicate).map((r) => r.delta)
    if (fresh.length === 0) return
    try {
      await this.publisher.publish(fresh)
    } catch (err) {
      this.onPublishError(err)
    }
  }

  private settle(batch: Pending[], results: AppendResult[]): void {
    batch.forEach((p, i) => p.resolve(results[i]!))
  }

  /** Waits for queued posts and their publishes, then refuses new posts. */
  async close(): Promise<void> {
    this.closed = true
    await this.draining
  }
}
