// The readable set of recent LIST_CHATS callers (directory.readableChannelIds), kept so a
// user paging through 2,000 channels does not recompute it on every page.
//
// Validity is checked against the database on every use, not against events, so it holds
// across API sidecars. What the directory's answer depends on: the user's memberships and
// roles, the channels of its servers and their overrides, and its chats. Every change of a
// server's memberships, roles, channels or overrides is a delta in that server's own log,
// which raises the log's last_seq; chats are readable by their members. So an entry is used
// only while
// - the user's servers, its role in each and each server log's last_seq (the fingerprint)
//   are what they were when the entry was computed, and
// - the user's channels and chats as its memberships name them now (ChatListStore
//   .candidates) are exactly the ones the entry has seen,
// and it is younger than the TTL. Both are read before the directory is asked, so a change
// that lands in between makes the next call miss rather than trust an older answer.

interface Entry {
  fingerprint: string
  readable: Set<string>
  /** Candidates the directory did not call readable (channels an override hides). */
  unreadable: Set<string>
  expires: number
}

export interface ReadableCacheOptions {
  ttlMs: number
  /** Upper bound on cached ids over all users (memory: about 100 bytes each). */
  maxIds: number
}

export class ReadableCache {
  private readonly entries = new Map<string, Entry>()
  private size = 0

  constructor(private readonly opts: ReadableCacheOptions) {}

  /** The cached readable set, if it still holds for this fingerprint and exactly these candidates. */
  get(userId: string, fingerprint: string, candidates: readonly string[], now = Date.now()): Set<string> | undefined {
    const e = this.entries.get(userId)
    if (e === undefined) return undefined
    const same = e.expires > now && e.fingerprint === fingerprint && candidates.length === e.readable.size + e.unreadable.size &&
      candidates.every((id) => e.readable.has(id) || e.unreadable.has(id))
    if (!same) {
      this.drop(userId)
      return undefined
    }
    // Most recently used last, so eviction takes the least recently used first.
    this.entries.delete(userId)
    this.entries.set(userId, e)
    return e.readable
  }

  /**
   * Keeps the directory's answer, computed after `fingerprint` and `candidates` were read.
   * Not kept when some readable id is not a candidate (the membership query and the
   * directory disagree: the caller takes the slow way each time then).
   */
  set(userId: string, fingerprint: string, readable: readonly string[], candidates: readonly string[], now = Date.now()): void {
    const candidateSet = new Set(candidates)
    if (!readable.every((id) => candidateSet.has(id))) return
    const readableSet = new Set(readable)
    const unreadable = new Set(candidates.filter((id) => !readableSet.has(id)))
    this.drop(userId)
    this.entries.set(userId, { fingerprint, readable: readableSet, unreadable, expires: now + this.opts.ttlMs })
    this.size += readableSet.size + unreadable.size
    for (const oldest of this.entries.keys()) {
      if (this.size <= this.opts.maxIds) break
      this.drop(oldest)
    }
  }

  private drop(userId: string): void {
    const e = this.entries.get(userId)
    if (e === undefined) return
    this.size -= e.readable.size + e.unreadable.size
    this.entries.delete(userId)
  }
}

const caches = new WeakMap<object, ReadableCache>()

/** The cache of one store (one per process and database). */
export function readableCacheOf(store: object, opts: ReadableCacheOptions = { ttlMs: 60_000, maxIds: 500_000 }): ReadableCache {
  let cache = caches.get(store)
  if (cache === undefined) caches.set(store, (cache = new ReadableCache(opts)))
  return cache
}
