// The live connection of `chime tail` and the interactive mode: a ChimeClient whose state
// (watermarks, outbox, MQTT client id) is kept in a FileStorage of this process's own.
//
// - Each running process holds one "device slot" (device-1.json, device-2.json, ... next to
//   the session file, each with a lock file naming its pid). Two tails in two terminals thus
//   never share an MQTT client id (they would take the connection from each other), and a
//   slot is reused by the next run, so the user's device list does not grow with every run.
// - The access token is renewed before it expires: a new client is made with the new token
//   on the same storage and follows the same channels from their kept watermarks, so a
//   long-running tail neither stops at the token's expiry nor prints anything twice.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ChatError, ChimeClient, type ClientEvents, type WatchedChannel } from '../sdk/src/index.ts'
import { FileStorage } from '../sdk/src/node.ts'
import type { Signed } from './context.ts'
import { renewMarginMs, tokenTimes, type SavedSession } from './session.ts'

const MAX_SLOTS = 64

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes the first free device slot for this user; released when the process exits. */
export async function claimDeviceStorage(stateDir: string, userId: string): Promise<{ storage: FileStorage; slot: number; release(): void }> {
  const dir = join(stateDir, userId.replace(/[^A-Za-z0-9_-]/g, '_'))
  await mkdir(dir, { recursive: true, mode: 0o700 })
  for (let slot = 1; slot <= MAX_SLOTS; slot++) {
    const lock = join(dir, `device-${slot}.lock`)
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lock, 'wx', 0o600)
        writeSync(fd, String(process.pid))
        closeSync(fd)
        let released = false
        const release = (): void => {
          if (released) return
          released = true
          try {
            unlinkSync(lock)
          } catch {
            // already gone
          }
        }
        process.once('exit', release)
        return { storage: new FileStorage(join(dir, `device-${slot}.json`)), slot, release }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
        const holder = Number(readFileSync(lock, 'utf8').trim())
        if (Number.isInteger(holder) && holder > 0 && alive(holder)) break // taken: next slot
        try {
          unlinkSync(lock) // left by a process that is gone
        } catch {
          // another process removed it first
        }
      }
    }
  }
  throw new ChatError('UNAVAILABLE', `${MAX_SLOTS} chime processes of this user are running already`)
}

/** Errors after which renewing is tried again later rather than given up. */
const RETRY_LATER = new Set(['UNAVAILABLE', 'REQUEST_TIMEOUT', 'RATE_LIMITED', 'INTERNAL'])

type Subscription = (client: ChimeClient) => () => void

export interface LiveOptions {
  /** MQTT URL; default ws(s)://<host of the API>/mqtt. */
  mqttUrl?: string
  /** Give up the first connection after this long (default 20 s). */
  connectTimeoutMs?: number
}

export class LiveConnection {
  client: ChimeClient | undefined
  /** Called when the connection cannot go on (the sign-in ended while renewing). */
  onFatal: (err: ChatError) => void = () => {}
  private readonly subscriptions: Subscription[] = []
  private detach: (() => void)[] = []
  private readonly watched = new Map<string, { channel: WatchedChannel; opts: { typing?: boolean } }>()
  private renewTimer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  private release: (() => void) | undefined
  private storage: FileStorage | undefined

  constructor(private readonly signed: Signed, private readonly stateDir: string, private readonly opts: LiveOptions = {}) {}

  /** Listens to an event of the current client and of every client after a renewal. */
  on<K extends keyof ClientEvents>(event: K, fn: (value: ClientEvents[K]) => void): void {
    const sub: Subscription = (c) => c.on(event, fn)
    this.subscriptions.push(sub)
    if (this.client !== undefined) this.detach.push(sub(this.client))
  }

  get current(): ChimeClient {
    if (this.client === undefined || this.closed) throw new ChatError('UNAVAILABLE', 'not connected')
    return this.client
  }

  async start(): Promise<void> {
    const claimed = await claimDeviceStorage(this.stateDir, this.signed.session.user_id)
    this.storage = claimed.storage
    this.release = claimed.release
    await this.open(await this.signed.keeper.fresh())
    void this.registerDevice()
  }

  async watch(channel: WatchedChannel, opts: { typing?: boolean } = {}): Promise<void> {
    this.watched.set(channel.channel_id, { channel, opts })
    await this.current.watch(channel, opts)
  }

  async unwatch(channelId: string): Promise<void> {
    this.watched.delete(channelId)
    await this.current.unwatch(channelId)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.renewTimer !== undefined) clearTimeout(this.renewTimer)
    await this.client?.close()
    this.release?.()
  }

  private async open(session: SavedSession): Promise<void> {
    const client = new ChimeClient({
      baseUrl: session.url,
      session: { user_id: session.user_id, username: session.username, token: session.token },
      storage: this.storage!,
      ...(this.opts.mqttUrl !== undefined ? { mqttUrl: this.opts.mqttUrl } : {}),
      // SYNC from the kept watermarks covers any time away: no broker-side queue is needed.
      mqtt: { clean: true },
    })
    this.client = client
    this.detach = this.subscriptions.map((sub) => sub(client))
    const timeoutMs = this.opts.connectTimeoutMs ?? 20_000
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        client.connect(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ChatError('UNAVAILABLE', `no MQTT connection to ${this.opts.mqttUrl ?? session.url} within ${timeoutMs / 1000} s`)), timeoutMs)
        }),
      ])
    } catch (err) {
      await client.close()
      throw err
    } finally {
      clearTimeout(timer)
    }
    for (const { channel, opts } of this.watched.values()) await client.watch(channel, opts)
    this.scheduleRenewal(session.token)
  }

  private scheduleRenewal(token: string): void {
    const times = tokenTimes(token)
    if (times === null || this.closed) return
    // setTimeout takes at most ~24.8 days; a longer wait is re-checked then.
    const wait = Math.min(2_000_000_000, Math.max(1_000, times.expiresAt - renewMarginMs(times.lifetimeMs) - Date.now()))
    this.renewTimer = setTimeout(() => void this.renew(), wait)
    this.renewTimer.unref()
  }

  private async renew(): Promise<void> {
    if (this.closed) return
    const times = tokenTimes(this.current.session.token)
    if (times !== null && times.expiresAt - Date.now() > renewMarginMs(times.lifetimeMs)) return this.scheduleRenewal(this.current.session.token)
    let session: SavedSession
    try {
      session = await this.signed.keeper.refresh()
    } catch (err) {
      const error = err instanceof ChatError ? err : new ChatError('INTERNAL', String(err))
      if (!RETRY_LATER.has(error.code)) return this.onFatal(error)
      this.renewTimer = setTimeout(() => void this.renew(), 15_000)
      return
    }
    const old = this.current
    for (const off of this.detach) off()
    await old.close()
    // The watched channels continue from their kept watermarks; until a connection is
    // made again, the API is asked again every few seconds.
    while (!this.closed) {
      try {
        await this.open(session)
        return
      } catch (err) {
        const error = err instanceof ChatError ? err : new ChatError('INTERNAL', String(err))
        if (!RETRY_LATER.has(error.code)) return this.onFatal(error)
        await new Promise((r) => setTimeout(r, 5_000))
      }
    }
  }

  /** Names this slot's client id in the user's device list once ("cli"); a failure only loses the name. */
  private async registerDevice(): Promise<void> {
    const storage = this.storage!
    try {
      if ((await storage.load('device-registered')) === this.current.id) return
      await this.signed.http.post('/api/devices', { client_id: this.current.id, platform: 'cli', name: 'chime command line' })
      await storage.save('device-registered', this.current.id)
    } catch {
      // the device list keeps it as "unknown"
    }
  }
}
