// Where the SDK keeps what must survive a reload or a restart: each channel's seq
// watermark, the outbox of posts not yet confirmed, and the device's client id. One small
// key-value interface; MemoryStorage (tests, throwaway clients), IndexedDbStorage
// (browsers) here, FileStorage (Node) in node-storage.ts.

export interface ClientStorage {
  load(key: string): Promise<string | null>
  save(key: string, value: string): Promise<void>
  remove(key: string): Promise<void>
}

export class MemoryStorage implements ClientStorage {
  private readonly map = new Map<string, string>()
  async load(key: string): Promise<string | null> {
    return this.map.get(key) ?? null
  }
  async save(key: string, value: string): Promise<void> {
    this.map.set(key, value)
  }
  async remove(key: string): Promise<void> {
    this.map.delete(key)
  }
}

/** IndexedDB, one object store of strings; the database is named per account so two accounts never share state. */
export class IndexedDbStorage implements ClientStorage {
  private db: Promise<IDBDatabase> | undefined

  constructor(private readonly name: string) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(this.name, 1)
      req.onupgradeneeded = () => req.result.createObjectStore('kv')
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error ?? new Error('IndexedDB could not be opened'))
    })
    return this.db
  }

  private async run<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open()
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction('kv', mode)
      const req = fn(tx.objectStore('kv'))
      tx.oncomplete = () => resolve(req.result)
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
    })
  }

  async load(key: string): Promise<string | null> {
    const v = await this.run('readonly', (s) => s.get(key) as IDBRequest<unknown>)
    return typeof v === 'string' ? v : null
  }
  async save(key: string, value: string): Promise<void> {
    await this.run('readwrite', (s) => s.put(value, key))
  }
  async remove(key: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(key))
  }
}
