import { openDatabase, sqlitePath, type Database } from '../db/open-database.ts'
import { createMysqlAppendEngine } from './append-mysql.ts'
import { createSqliteAppendEngine } from './append-sqlite.ts'
import { DeltaLog } from './delta-log.ts'
import { createMysqlDeltaReads } from './delta-reads-mysql.ts'
import { Directory } from './directory.ts'
import { MessageStore } from './messages.ts'
import type { PartitionLimits } from './types.ts'

/** Everything Chime keeps in its database, behind one handle. */
export interface Store {
  db: Database
  directory: Directory
  log: DeltaLog
  messages: MessageStore
  close(): Promise<void>
}

export interface StoreOptions {
  /** Told when publishes could not be kept in commit order across sidecars. */
  onUnorderedPublish?: (why: string) => void
}

export async function openStore(url: string, limits: PartitionLimits, opts: StoreOptions = {}): Promise<Store> {
  const db = await openDatabase(url)
  // The append path runs on the drivers directly (prepared statements, one round trip per
  // statement instead of Prisma's per-query planning); everything else goes through Prisma.
  const engine = db.dialect === 'mysql' ? createMysqlAppendEngine(url, limits, opts) : createSqliteAppendEngine(sqlitePath(url), limits)
  const reads = db.dialect === 'mysql' ? createMysqlDeltaReads(url) : undefined
  const directory = new Directory(db)
  return {
    db,
    directory,
    log: new DeltaLog(db, engine, reads),
    messages: new MessageStore(db, directory),
    async close() {
      await engine.close()
      await reads?.close()
      await db.close()
    },
  }
}
