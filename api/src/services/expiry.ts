// The expiry sweeper of secret chats: every API process looks about once a second
// (CHIME_EXPIRY_SWEEP_MS) for messages past their expiry and purges them in batches of at
// most CHIME_EXPIRY_BATCH_MAX, each batch one sequencer change (store/secret-chats.ts). The
// batch is chosen again under the sequencer lock, so sidecars sweeping at once share the
// work and never purge a message twice nor append two `expired` deltas for it.
import type { Config } from '../../../config/schema.ts'
import type { Sequencer } from '../sequencer/sequencer.ts'
import { purgeExpired, type PurgedMessage } from '../store/secret-chats.ts'
import type { Store } from '../store/store.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import { releaseFiles } from '../files/files.ts'
import { startPeriodicTask, type PeriodicTask, type TaskLogger } from './periodic-task.ts'

/** What a sweep needs: the store, the sequencer and the batch size. */
export interface SweepDeps {
  store: Store
  sequencer: Sequencer
  /** Where the purged messages' files are removed from. */
  objects: ObjectStore
  config: Pick<Config, 'expiryBatchMax'>
}

/** Receives the files of the messages a batch purged, after its commit. */
export type PurgedFilesHandler = (purged: readonly PurgedMessage[]) => Promise<void>

export interface SweepOptions {
  now?: () => Date
  onPurgedFiles?: PurgedFilesHandler
  /** Most batches one sweep runs before yielding to the next tick (default 100). */
  maxBatches?: number
}

/** Whether any message is past its expiry and not purged (a cheap read before taking the lock). */
async function anyExpired(store: Store, now: Date): Promise<boolean> {
  const row = await store.db.prisma.message.findFirst({ where: { purgedAt: null, expiresAt: { lte: now } }, select: { id: true } })
  return row !== null
}

/** Purges every message past its expiry, batch by batch; answers how many this call purged. */
export async function sweepExpired(deps: SweepDeps, opts: SweepOptions = {}): Promise<number> {
  const now = opts.now ?? (() => new Date())
  // The purged messages' files go unless another message (a forward) still carries them.
  const onFiles = opts.onPurgedFiles ?? (async (purged: readonly PurgedMessage[]) => {
    for (const m of purged) await releaseFiles(deps, m.fileIds, m.postedAt)
  })
  const maxBatches = opts.maxBatches ?? 100
  const batchMax = deps.config.expiryBatchMax
  let total = 0
  for (let batch = 0; batch < maxBatches; batch++) {
    if (!(await anyExpired(deps.store, now()))) break
    const { result } = await deps.sequencer.change(purgeExpired(batchMax, now()))
    total += result.length
    const withFiles = result.filter((m) => m.fileIds.length > 0)
    if (withFiles.length > 0) await onFiles(withFiles)
    if (result.length < batchMax) break
  }
  return total
}

/**
 * Starts sweeping every `config.expirySweepMs` (0: never on this process; runNow still
 * works). Sweeps of one process never overlap; a failed sweep is logged and retried on the
 * next tick.
 */
export function startExpirySweeper(deps: SweepDeps & { config: Pick<Config, 'expiryBatchMax' | 'expirySweepMs'> }, log: TaskLogger, opts: SweepOptions = {}): PeriodicTask<number> {
  return startPeriodicTask({
    intervalMs: deps.config.expirySweepMs,
    run: () => sweepExpired(deps, opts),
    failed: 0,
    failure: 'purging expired messages failed; retrying on the next sweep',
    log,
  })
}
