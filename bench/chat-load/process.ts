// The coordinator's handle on one chat load-generator process (worker.ts).
import { ForkedWorker } from '../forked-worker.ts'
import type { ChatCommand, ChatReport } from './messages.ts'

export class ChatLoadProcess extends ForkedWorker<ChatCommand, ChatReport> {
  constructor(readonly label: string) {
    super(new URL('./worker.ts', import.meta.url), `chat load generator ${label}`, 30_000)
  }
}
