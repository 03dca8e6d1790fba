// Group commit: posts queue up while a transaction is in flight and the next transaction
// takes all of them (up to batchMax). At low load a post commits alone, at once; under
// load, transactions grow instead of queueing; and under load (a post arriving within
// LOAD_WINDOW_MS of the last commit, or posts queued behind one) the next transaction waits
// lingerMs for the rest of the burst, so one early post does not take a commit of its own
// while the others wait for it. Each batch is published right after its
// commit and before the next batch commits-and-publishes, so publishes follow commit order
// (across processes too: see store/append-mysql.ts).
import type { AccessEvent } from '../../../broker/src/access-events.ts'
import type { DeltaLog } from '../store/delta-log.ts'
import type { Change, ChangeWork, InboxEvent } from '../store/changes.ts'
import type { AppendInput, AppendResult, DeltaRecord } from '../store/types.ts'

export interface DeltaPublisher {
  /** Publishes committed deltas in the given order. Called only after their commit. */
  publish(deltas: readonly DeltaRecord[]): Promise<void>
  /** Tells every broker node about changes of who-may-see-what (before the deltas that follow). */
  announce(events: readonly AccessEvent[]): Promise<void>
  /** Publishes membership events on the inboxes of the users concerned. */
  publishInbox(events: readonly { userId: string; event: InboxEvent; delta?: DeltaRecord }[]): Promise<void>
}

interface Pending {
  kind: 'post'
  input: AppendInput
  resolve: (result: AppendResult) => void
  reject: (err: unknown) => void
}

interface PendingChange {
  kind: 'change'
  run: () => Promise<void>
}

export interface SequencerStats {
  transactions: number
  appended: number
  largestBatch: number
}

/** A post arriving this soon after the last transaction ended finds the sequencer under load (see lingerMs). */
const LOAD_WINDOW_MS = 5

export class Sequencer {
  private queue: (Pending | PendingChange)[] = []
  private running = false
  private lingering: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | null = null
  private lastEnded = -Infinity
  private draining: Promise<void> = Promise.resolve()
  readonly stats: SequencerStats = { transactions: 0, appended: 0, largestBatch: 0 }
  private closed = false

  constructor(
    private readonly log: DeltaLog,
    private readonly publisher: DeltaPublisher,
    private readonly batchMax: number,
    private readonly onPublishError: (err: unknown) => void,
    private readonly lingerMs = 0,
  ) {}

  /** Resolves once the delta is committed (or found committed before, for a retry). */
  append(input: AppendInput): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('the sequencer is closed'))
    return new Promise((resolve, reject) => {
      this.enqueue({ kind: 'post', input, resolve, reject })
    })
  }

  /**
   * Runs a change of who-may-see-what in its own transaction, in queue order with the posts.
   * After the commit, in this order: access events to every broker node (so a revocation
   * holds before anything later is delivered), the change's deltas, then the inbox events.
   */
  change<T>(work: ChangeWork<T>): Promise<{ result: T; deltas: DeltaRecord[] }> {
    if (this.closed) return Promise.reject(new Error('the sequencer is closed'))
    return new Promise((resolve, reject) => {
      const run = async (): Promise<void> => {
        try {
          const { value, results } = await this.log.transact(work, (r, v: Change<T>) => this.publishChange(r, v))
          this.stats.transactions += 1
          this.stats.appended += results.length
          resolve({ result: value.result, deltas: results.map((r) => r.delta) })
        } catch (err) {
          reject(err)
        }
      }
      this.enqueue({ kind: 'change', run })
    })
  }

  private enqueue(item: Pending | PendingChange): void {
    this.queue.push(item)
    if (this.lingering !== null && this.queue.length >= this.batchMax) this.stopLingering()
    if (!this.running) {
      this.running = true
      // Let the posts that arrive in the same tick join the first transaction; under load
      // (the last transaction ended a moment ago), wait lingerMs for the rest of the burst.
      const underLoad = this.lingerMs > 0 && performance.now() - this.lastEnded < LOAD_WINDOW_MS
      this.draining = (underLoad ? this.waitForMore() : Promise.resolve()).then(() => this.drain())
    }
  }

  /** Resolves after lingerMs, or as soon as batchMax items are queued. */
  private waitForMore(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.lingering = { timer: setTimeout(() => this.stopLingering(), this.lingerMs), resolve }
    })
  }

  private stopLingering(): void {
    const l = this.lingering!
    this.lingering = null
    clearTimeout(l.timer)
    l.resolve()
  }

  private async publishChange<T>(results: AppendResult[], value: Change<T>): Promise<void> {
    try {
      if (value.access.length > 0) await this.publisher.announce(value.access)
      const deltas = results.map((r) => r.delta)
      if (deltas.length > 0) await this.publisher.publish(deltas)
      if (value.inbox.length > 0) {
        await this.publisher.publishInbox(value.inbox.map((event) => {
          const delta = event.deltaIndex === undefined ? undefined : deltas[event.deltaIndex]
          return delta === undefined ? { userId: event.userId, event } : { userId: event.userId, event, delta }
        }))
      }
    } catch (err) {
      this.onPublishError(err)
    }
  }

  private async drain(): Promise<void> {
    let ranBatch = false
    while (this.queue.length > 0) {
      // Posts queued while the last transaction ran: under load, more follow at once (the
      // replies to that transaction release their senders' next requests).
      if (ranBatch && this.lingerMs > 0 && this.queue.length < this.batchMax) await this.waitForMore()
      ranBatch = false
      const head = this.queue[0]!
      if (head.kind === 'change') {
        this.queue.shift()
        await head.run()
        continue
      }
      let n = 0
      while (n < this.queue.length && n < this.batchMax && this.queue[n]!.kind === 'post') n++
      const batch = this.queue.splice(0, n) as Pending[]
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
      ranBatch = true
    }
    this.lastEnded = performance.now()
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
