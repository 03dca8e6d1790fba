import type { AppendInput, AppendResult } from './types.ts'

export type SqlValue = string | number | bigint | boolean | Date | null
/** A row as the drivers return it, normalised: integers as numbers (strings past 2^53), dates as text. */
export type Row = Record<string, string | number | null>

/**
 * SQL inside the append transaction, on either database. Placeholders are `?`; Dates and
 * booleans are converted for the dialect. Keep statements portable (plain SELECT, INSERT,
 * UPDATE, DELETE): the same text runs on SQLite and MySQL/MariaDB.
 */
export interface Tx {
  readonly dialect: 'sqlite' | 'mysql'
  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]>
  /** Runs a statement; answers the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>
}

/** What a change of who-may-see-what decides inside its transaction. */
export interface TxOutcome<T> {
  value: T
  /** Deltas recording the change, appended in the same transaction. */
  deltas: AppendInput[]
}

/**
 * Executes the append transaction of the delta log (see append-plan.ts). `afterCommit` is
 * called once the transaction has committed and before the next append can publish, so
 * publishes follow commit order, across processes too (MySQL holds a named lock from before
 * COMMIT until afterCommit returns).
 */
export interface AppendEngine {
  append(inputs: readonly AppendInput[], afterCommit: (results: AppendResult[]) => Promise<void>): Promise<AppendResult[]>
  /**
   * Runs `work` inside an append transaction, after the sequencer row is locked (so every
   * transact and append of the deployment is serialised), then appends the deltas it
   * returns and commits. A throw in `work` rolls everything back.
   */
  transact<T>(work: (tx: Tx) => Promise<TxOutcome<T>>, afterCommit: (results: AppendResult[], value: T) => Promise<void>): Promise<{ value: T; results: AppendResult[] }>
  close(): Promise<void>
}

/** A date read through a Tx (SQLite ISO text, MySQL "YYYY-MM-DD HH:MM:SS.fff" in UTC). */
export function dbDate(value: string | number | null | undefined): Date | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'number') return new Date(value)
  return new Date(value.includes('T') ? value : `${value.replace(' ', 'T')}Z`)
}
