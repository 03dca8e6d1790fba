import type { AppendInput, AppendResult } from './types.ts'

/**
 * Executes the append transaction of the delta log (see append-plan.ts). `afterCommit` is
 * called once the transaction has committed and before the next append can publish, so
 * publishes follow commit order, across processes too (MySQL holds a named lock from before
 * COMMIT until afterCommit returns).
 */
export interface AppendEngine {
  append(inputs: readonly AppendInput[], afterCommit: (results: AppendResult[]) => Promise<void>): Promise<AppendResult[]>
  close(): Promise<void>
}
