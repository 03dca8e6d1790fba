// The coordinator's handle on one raw MQTT load-generator process (worker.ts).
import { ForkedWorker } from '../forked-worker.ts'
import type { WorkerCommand, WorkerReport } from './messages.ts'

export class LoadProcess extends ForkedWorker<WorkerCommand, WorkerReport> {
  constructor(readonly label: string) {
    super(new URL('./worker.ts', import.meta.url), `load generator ${label}`, 60_000)
  }
}
