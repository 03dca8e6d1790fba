// Web Push for closed browsers (docs/protocol.md, "Typing and notifications"): VAPID keys,
// the push subscriptions a browser registers, and a bounded sender that delivers each
// NOTIFICATION, encrypted (aes128gcm, RFC 8291), to the user's push services. A subscription
// the push service says is gone (404, 410) is removed.
import { createECDH } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import webpush from 'web-push'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { ConfigError } from '../../../config/load-config.ts'
import type { Config } from '../../../config/schema.ts'
import type { Database } from '../db/open-database.ts'
import { newId } from '../ids.ts'
import { isPlainObject, type Data } from '../requests/fields.ts'
import type { Caller, Core } from './context.ts'

export interface Vapid {
  publicKey: string
  privateKey: string
  subject: string
}

/** Push subscriptions kept per user; registering one more forgets the oldest. */
export const MAX_PUSH_SUBSCRIPTIONS_PER_USER = 20
const MAX_ENDPOINT_CHARS = 512
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/

function decodeBase64url(value: string): Buffer | null {
  if (!BASE64URL.test(value)) return null
  return Buffer.from(value.replace(/=+$/, ''), 'base64url')
}

function checkVapid(publicKey: string, privateKey: string, subject: string): Vapid {
  const pub = decodeBase64url(publicKey)
  const priv = decodeBase64url(privateKey)
  if (pub === null || pub.length !== 65 || pub[0] !== 4) throw new ConfigError('CHIME_VAPID_PUBLIC_KEY must be an uncompressed P-256 public key, URL-safe base64 (65 bytes decoded)')
  if (priv === null || priv.length !== 32) throw new ConfigError('CHIME_VAPID_PRIVATE_KEY must be a P-256 private key, URL-safe base64 (32 bytes decoded)')
  const ecdh = createECDH('prime256v1')
  try {
    ecdh.setPrivateKey(priv)
  } catch {
    throw new ConfigError('CHIME_VAPID_PRIVATE_KEY is not a valid P-256 private key')
  }
  if (!ecdh.getPublicKey().equals(pub)) throw new ConfigError('CHIME_VAPID_PUBLIC_KEY and CHIME_VAPID_PRIVATE_KEY are not one key pair')
  if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(subject)) throw new ConfigError('CHIME_VAPID_SUBJECT must be a mailto: address or an https: URL')
  return { publicKey: pub.toString('base64url'), privateKey: priv.toString('base64url'), subject }
}

/**
 * The VAPID key pair: configured (both keys), or in the embedded profile generated once into
 * CHIME_DATA_DIR/vapid-keys.json and kept there; null (no Web Push) for separate API
 * processes without keys, which must all share one pair.
 */
export async function resolveVapid(config: Config, embedded: boolean): Promise<Vapid | null> {
  const { vapidPublicKey: pub, vapidPrivateKey: priv, vapidSubject: subject } = config
  if (pub !== '' || priv !== '') {
    if (pub === '' || priv === '') throw new ConfigError('set both CHIME_VAPID_PUBLIC_KEY and CHIME_VAPID_PRIVATE_KEY, or neither')
    return checkVapid(pub, priv, subject)
  }
  if (!embedded) return null
  const dir = resolve(config.dataDir)
  const file = join(dir, 'vapid-keys.json')
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { publicKey?: unknown; privateKey?: unknown }
    if (typeof saved.publicKey === 'string' && typeof saved.privateKey === 'string') return checkVapid(saved.publicKey, saved.privateKey, subject)
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${file}: ${err.message}; remove the file to generate a new pair`)
    // first start: generate below
  }
  const keys = webpush.generateVAPIDKeys()
  await mkdir(dir, { recursive: true })
  await writeFile(file, JSON.stringify({ publicKey: keys.publicKey, privateKey: keys.privateKey }) + '\n', { mode: 0o600 })
  return checkVapid(keys.publicKey, keys.privateKey, subject)
}

// ---- subscriptions

export interface PushSubscriptionInput {
  endpoint: string
  p256dh: string
  auth: string
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]'])

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

/**
 * Checks a browser's PushSubscription ({endpoint, keys: {p256dh, auth}}, as
 * PushSubscription.toJSON() gives it). Endpoints are https URLs of push services; with
 * CHIME_PUSH_ALLOW_LOOPBACK=1 endpoints on this machine (http or https) are accepted too, and
 * without it they are refused, so a user cannot make the server post to its own host.
 */
export function checkPushSubscription(data: Data, allowLoopback: boolean): PushSubscriptionInput {
  const endpoint = data['endpoint']
  if (typeof endpoint !== 'string' || endpoint.length === 0 || endpoint.length > MAX_ENDPOINT_CHARS) {
    throw new ChatError('INVALID_FIELD', `endpoint must be a URL of at most ${MAX_ENDPOINT_CHARS} characters`, { field: 'endpoint' })
  }
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new ChatError('INVALID_FIELD', 'endpoint must be a URL', { field: 'endpoint' })
  }
  const loopback = isLoopback(url.hostname)
  if (url.username !== '' || url.password !== '') throw new ChatError('INVALID_FIELD', 'endpoint must not carry a user or password', { field: 'endpoint' })
  if (loopback && !allowLoopback) throw new ChatError('INVALID_FIELD', 'endpoint must be a push service on another host', { field: 'endpoint' })
  if (url.protocol !== 'https:' && !(loopback && url.protocol === 'http:')) throw new ChatError('INVALID_FIELD', 'endpoint must be an https URL', { field: 'endpoint' })
  const keys = data['keys']
  if (!isPlainObject(keys)) throw new ChatError('INVALID_FIELD', 'keys must be {p256dh, auth}', { field: 'keys' })
  const p256dh = typeof keys['p256dh'] === 'string' ? decodeBase64url(keys['p256dh']) : null
  if (p256dh === null || p256dh.length !== 65 || p256dh[0] !== 4 || !isCurvePoint(p256dh)) {
    throw new ChatError('INVALID_FIELD', 'keys.p256dh must be the browser\'s P-256 public key, URL-safe base64 (65 bytes decoded)', { field: 'keys.p256dh' })
  }
  const auth = typeof keys['auth'] === 'string' ? decodeBase64url(keys['auth']) : null
  if (auth === null || auth.length !== 16) throw new ChatError('INVALID_FIELD', 'keys.auth must be the 16-byte authentication secret, URL-safe base64', { field: 'keys.auth' })
  return { endpoint: url.toString(), p256dh: p256dh.toString('base64url'), auth: auth.toString('base64url') }
}

function isCurvePoint(key: Buffer): boolean {
  try {
    const ecdh = createECDH('prime256v1')
    ecdh.generateKeys()
    ecdh.computeSecret(key)
    return true
  } catch {
    return false
  }
}

/**
 * Registers a subscription for userId. An endpoint belongs to one browser profile: when
 * another user registers it (someone else signed in there), it moves to that user.
 */
export async function savePushSubscription(db: Database, userId: string, sub: PushSubscriptionInput): Promise<void> {
  await db.prisma.pushSubscription.upsert({
    where: { endpoint: sub.endpoint },
    create: { id: newId(), userId, endpoint: sub.endpoint, p256dh: sub.p256dh, auth: sub.auth },
    update: { userId, p256dh: sub.p256dh, auth: sub.auth },
  })
  const rows = await db.prisma.pushSubscription.findMany({ where: { userId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], select: { id: true } })
  const extra = rows.slice(MAX_PUSH_SUBSCRIPTIONS_PER_USER).map((r) => r.id)
  if (extra.length > 0) await db.prisma.pushSubscription.deleteMany({ where: { id: { in: extra } } })
}

/** Removes one of userId's subscriptions; false when it had none with that endpoint. */
export async function removePushSubscription(db: Database, userId: string, endpoint: string): Promise<boolean> {
  return (await db.prisma.pushSubscription.deleteMany({ where: { userId, endpoint } })).count > 0
}

// ---- sending

export interface PushTarget {
  id: string
  endpoint: string
  p256dh: string
  auth: string
}

export interface PushLogger {
  warn(obj: object, msg: string): void
}

export interface PushStats {
  sent: number
  failed: number
  removed: number
  dropped: number
}

interface PushJob {
  target: PushTarget
  body: string
}

/**
 * Sends Web Push messages with at most `concurrency` requests in flight and at most
 * `queueMax` waiting (beyond that new ones are dropped and counted), so a slow push service
 * never holds up MQTT notifications.
 */
export class PushSender {
  readonly stats: PushStats = { sent: 0, failed: 0, removed: 0, dropped: 0 }
  private readonly queue: PushJob[] = []
  private inFlight = 0
  private idleWaiters: (() => void)[] = []
  /** Aborted by close(): requests in flight do not hold up a shutdown. */
  private readonly stopping = new AbortController()

  constructor(
    private readonly db: Database,
    readonly vapid: Vapid,
    private readonly log: PushLogger,
    private readonly opts: { concurrency: number; queueMax: number; timeoutMs: number } = { concurrency: 8, queueMax: 10_000, timeoutMs: 10_000 },
  ) {}

  enqueue(target: PushTarget, envelope: object): void {
    if (this.queue.length >= this.opts.queueMax) {
      this.stats.dropped += 1
      return
    }
    this.queue.push({ target, body: JSON.stringify(envelope) })
    this.pump()
  }

  private pump(): void {
    while (this.inFlight < this.opts.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!
      this.inFlight += 1
      void this.send(job).finally(() => {
        this.inFlight -= 1
        this.pump()
        if (this.inFlight === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w()
      })
    }
  }

  private async send(job: PushJob): Promise<void> {
    const { target } = job
    try {
      const details = webpush.generateRequestDetails({ endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } }, job.body, {
        vapidDetails: this.vapid,
        contentEncoding: 'aes128gcm',
        TTL: 24 * 3600,
        urgency: 'high',
      })
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(details.headers)) headers[k] = String(v)
      const res = await fetch(details.endpoint, { method: 'POST', headers, body: new Uint8Array(details.body), redirect: 'manual', signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.opts.timeoutMs)]) })
      await res.arrayBuffer().catch(() => undefined)
      if (res.status === 404 || res.status === 410) {
        await this.db.prisma.pushSubscription.deleteMany({ where: { id: target.id, endpoint: target.endpoint } })
        this.stats.removed += 1
        return
      }
      if (res.status >= 200 && res.status < 300) {
        this.stats.sent += 1
        return
      }
      this.stats.failed += 1
      this.log.warn({ status: res.status, host: new URL(target.endpoint).host }, 'a push service refused a Web Push message')
    } catch (err) {
      this.stats.failed += 1
      this.log.warn({ err: (err as Error).message, host: new URL(target.endpoint).host }, 'sending a Web Push message failed')
    }
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Drops what waits and aborts what is in flight. */
  async close(): Promise<void> {
    this.stats.dropped += this.queue.length
    this.queue.length = 0
    this.stopping.abort()
    await this.idle()
  }
}

// ---- actions (REGISTER_PUSH, UNREGISTER_PUSH) and the public key for the web app

const senders = new WeakMap<Core, PushSender>()

/** Makes a process's sender known to the requests of its Core (bin/processes.ts). */
export function attachPush(core: Core, sender: PushSender | null): void {
  if (sender !== null) senders.set(core, sender)
}

function senderOf(core: Core): PushSender {
  const sender = senders.get(core)
  if (sender === undefined) throw new ChatError('PUSH_NOT_CONFIGURED')
  return sender
}

export function doVapidPublicKey(core: Core): { public_key: string } {
  return { public_key: senderOf(core).vapid.publicKey }
}

export async function doRegisterPush(core: Core, caller: Caller, data: Data): Promise<{ endpoint: string; registered: true }> {
  senderOf(core)
  const sub = checkPushSubscription(data, core.config.pushAllowLoopback === 1)
  await savePushSubscription(core.store.db, caller.userId, sub)
  return { endpoint: sub.endpoint, registered: true }
}

export async function doUnregisterPush(core: Core, caller: Caller, data: Data): Promise<{ endpoint: string; removed: boolean }> {
  const endpoint = data['endpoint']
  if (typeof endpoint !== 'string' || endpoint.length === 0 || endpoint.length > MAX_ENDPOINT_CHARS) {
    throw new ChatError('INVALID_FIELD', `endpoint must be a URL of at most ${MAX_ENDPOINT_CHARS} characters`, { field: 'endpoint' })
  }
  let normal: string
  try {
    normal = new URL(endpoint).toString()
  } catch {
    throw new ChatError('INVALID_FIELD', 'endpoint must be a URL', { field: 'endpoint' })
  }
  return { endpoint: normal, removed: await removePushSubscription(core.store.db, caller.userId, normal) }
}
