import { openDatabase, type Database } from '../db/open-database.ts'
import { DeltaLog } from './delta-log.ts'
import { Directory } from './directory.ts'
import type { PartitionLimits } from './types.ts'

/** Everything Chime keeps in its database, behind one handle. */
export interface Store {
  db: Database
  directory: Directory
  log: DeltaLog
  close(): Promise<void>
}

export async function openStore(url: string, limits: PartitionLimits): Promise<Store> {
  const db = await openDatabase(url)
  return {
    db,
    directory: new Directory(db),
    log: new DeltaLog(db, limits),
    close: () => db.close(),
  }
}
