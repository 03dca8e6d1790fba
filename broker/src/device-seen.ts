// last_seen of known devices, written in batches: a CONNECT does not wait for a write of its
// own. Each CONNECT of a device already in the registry is remembered here, and one UPDATE
// for all of them is sent within delayMs (or at once past maxPending). During a reconnect
// storm that is one statement a second instead of one transaction per connection; a
// device's last_seen is at most delayMs later than its CONNECT. close() writes what is left.

export interface SeenStore {
  /** Sets last_seen = at on the given devices. */
  recordSeen(clientIds: readonly string[], at: Date): Promise<void>
}

export class DeviceSeenWriter {
  private pending = new Set<string>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private writing: Promise<void> = Promise.resolve()

  constructor(
    private readonly store: SeenStore,
    private readonly onError: (err: unknown) => void,
    private readonly delayMs = 1000,
    private readonly maxPending = 1000,
  ) {}

  /** Remembers that clientId connected now. */
  seen(clientId: string): void {
    this.pending.add(clientId)
    if (this.pending.size >= this.maxPending) void this.flush()
    else if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), this.delayMs)
      this.timer.unref()
    }
  }

  /** Writes what is pending (after any write still running); never rejects. */
  flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    if (this.pending.size === 0) return this.writing
    const ids = [...this.pending]
    this.pending = new Set()
    const at = new Date()
    this.writing = this.writing.then(() => this.store.recordSeen(ids, at)).catch(this.onError)
    return this.writing
  }

  close(): Promise<void> {
    return this.flush()
  }
}
