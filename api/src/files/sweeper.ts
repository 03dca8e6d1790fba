// The file sweeper: every API process removes, about every CHIME_FILE_SWEEP_MS, uploads never
// completed within CHIME_FILE_UPLOAD_TTL_SECONDS and completed files that no message carries
// (files.ts sweepFiles). Each removal is decided again under the sequencer lock, so
// processes sweeping at once never remove a file a post has just attached.
import type { Core } from '../services/context.ts'
import { startPeriodicTask, type PeriodicTask, type TaskLogger } from '../services/periodic-task.ts'
import { sweepFiles } from './files.ts'

export function startFileSweeper(core: Core, log: TaskLogger): PeriodicTask<{ expiredUploads: number; orphans: number }> {
  return startPeriodicTask({
    intervalMs: core.config.fileSweepMs,
    run: () => sweepFiles(core),
    failed: { expiredUploads: 0, orphans: 0 },
    failure: 'removing expired uploads and orphaned files failed; retrying on the next sweep',
    log,
  })
}
