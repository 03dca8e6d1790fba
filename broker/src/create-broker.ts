// Builds an Aedes broker with Chime's hooks; it does not listen (see listen.ts). Without
// Redis it keeps sessions in memory; with Redis, sessions and offline queues live in
// aedes-persistence-redis and publishes fan out between nodes through mqemitter-redis.
import { Aedes, type AedesOptions } from 'aedes'
import { createRequire } from 'node:module'
import type { TokenService } from '../../api/src/auth/tokens.ts'
import type { Directory } from '../../api/src/store/directory.ts'
import { AccessPolicy } from './access.ts'
import { createAccessBus, type AccessBus } from './access-events.ts'
import { applyAccessEvents, resyncAfterReconnect } from './revoke-grants.ts'
import { guardSubscriptionStore } from './persistence-guard.ts'
import { attachStore, DEFAULT_OFFLINE_BOUNDS, startOfflineSweeper, type OfflineBounds, type OfflineSweeper } from './offline-bounds.ts'
import { boundedMemoryPersistence } from './offline-memory.ts'
import { boundedRedisPersistence } from './offline-redis.ts'
import { createAuthenticate, preConnect } from './hooks/authenticate.ts'
import { DeviceSeenWriter } from './device-seen.ts'
import { constantTimeEmitterQueue } from './emitter-queue.ts'
import { disconnectRevoked } from './disconnect-revoked.ts'
import { authorizeForward } from './hooks/authorize-forward.ts'
import { createAuthorizePublish } from './hooks/authorize-publish.ts'
import { createAuthorizeSubscribe } from './hooks/authorize-subscribe.ts'
import type { RequestBackend } from './request-backend.ts'
import { RequestGateway } from './request-gateway.ts'
import { IngressGate, type IngressOptions } from './ingress.ts'

const require = createRequire(import.meta.url)

export interface BrokerLogger {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface ClusterOptions {
  redisUrl: string
  /** Prefix of the fan-out channels in Redis, so deployments can share a Redis server. */
  pubSubPrefix?: string
  /** Told about Redis connection errors of the emitter (logged; ioredis reconnects by itself). */
  onError?: (err: unknown) => void
  /** Bounds of the offline queues (offline-bounds.ts); every node writing queues needs them. */
  offline?: OfflineBounds
}

/** Redis-backed persistence and emitter, shared by broker nodes and API sidecars. */
export function clusterOptions({ redisUrl, pubSubPrefix = 'chime:', onError = () => {}, offline = DEFAULT_OFFLINE_BOUNDS }: ClusterOptions): Pick<AedesOptions, 'persistence' | 'mq'> {
  const { MQEmitterRedisPrefix } = require('mqemitter-redis') as { MQEmitterRedisPrefix: new (prefix: string, opts: object) => AedesOptions['mq'] }
  // The subscriber connection skips ioredis's ready check: the emitter subscribes while the
  // connection is still being set up, and the ready check's INFO, sent after that, is
  // refused on a connection in subscriber mode ("Connection in subscriber mode, only
  // subscriber commands may be used"), which failed start-ups now and then. Built with the
  // ioredis that mqemitter-redis itself depends on.
  const IoRedis = createRequire(require.resolve('mqemitter-redis'))('ioredis') as new (url: string, opts: object) => object
  const subConn = new IoRedis(redisUrl, { enableReadyCheck: false })
  const mq = new MQEmitterRedisPrefix(pubSubPrefix, { connectionString: redisUrl, subConn }) as unknown as { state: { on(e: 'error', fn: (err: unknown) => void): void } }
  mq.state.on('error', onError)
  return {
    persistence: boundedPersistence(boundedRedisPersistence(redisConnection(redisUrl), offline)),
    mq: mq as unknown as AedesOptions['mq'],
  }
}

function boundedPersistence({ persistence, store }: ReturnType<typeof boundedMemoryPersistence>): AedesOptions['persistence'] {
  return attachStore(persistence, store) as AedesOptions['persistence']
}

function redisConnection(url: string): { host: string; port: number; db: number; password?: string } {
  const u = new URL(url)
  const out: { host: string; port: number; db: number; password?: string } = {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number(u.pathname.slice(1) || 0),
  }
  if (u.password !== '') out.password = decodeURIComponent(u.password)
  return out
}

export interface BrokerDeps {
  tokens: TokenService
  directory: Directory
  backend: RequestBackend
  log: BrokerLogger
  cluster?: ClusterOptions
  /** Bounds of the offline queues and sessions; DEFAULT_OFFLINE_BOUNDS when absent. */
  offline?: OfflineBounds
  /** Ingress levelling (ingress.ts); DEFAULT_INGRESS when absent. */
  ingress?: IngressOptions
}

export const DEFAULT_INGRESS: IngressOptions = { maxLagMs: 50, clientRate: 2000, clientBurst: 4000 }

/**
 * Closes an Aedes instance and its persistence, in the only order that terminates:
 * aedes.close() leaves the persistence open, and aedes-persistence-redis's destroy() first
 * unsubscribes from the broker's emitter, so it must run after the clients are gone and
 * before aedes.close() shuts the emitter.
 */
export async function closeAedes(aedes: Aedes): Promise<void> {
  const clients = Object.values((aedes as unknown as { clients: Record<string, { close(cb: () => void): void }> }).clients)
  await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))))
  // Called without a callback: the callback form waits for a 'ready' event that aedes 1.x,
  // which calls the async setup() directly, never causes.
  const persistence = (aedes as unknown as { persistence?: { destroy?: () => unknown } }).persistence
  if (typeof persistence?.destroy === 'function') await persistence.destroy()
  await new Promise<void>((resolve) => aedes.close(() => resolve()))
}

export interface ChimeBroker {
  aedes: Aedes
  /** Changes of who-may-see-what, shared by every node (see access-events.ts). */
  access: AccessBus
  /** Last-seen records and the sweep of expired persistent sessions (offline-bounds.ts). */
  offline: OfflineSweeper | undefined
  /** Ingress levelling and its figures (ingress.ts). */
  ingress: IngressGate
  close(): Promise<void>
}

export async function createBroker(deps: BrokerDeps): Promise<ChimeBroker> {
  const onError = (err: unknown): void => deps.log.error({ err }, 'broker hook failed')
  const dropped = new WeakSet<object>()
  const policy = new AccessPolicy(deps.directory)
  let authorizePublish: ReturnType<typeof createAuthorizePublish> | undefined
  const ingress = new IngressGate(deps.ingress ?? DEFAULT_INGRESS, deps.log)
  let instance: Aedes | undefined
  const accounts = deps.directory.accounts()
  const deviceSeen = new DeviceSeenWriter(accounts, (err) => deps.log.warn({ err }, 'recording when devices were last seen failed'))
  const aedes = await Aedes.createBroker({
    ...(deps.cluster
      ? clusterOptions({ onError: (err) => deps.log.warn({ err }, 'Redis emitter error'), offline: deps.offline ?? DEFAULT_OFFLINE_BOUNDS, ...deps.cluster })
      : { persistence: boundedPersistence(boundedMemoryPersistence(deps.offline ?? DEFAULT_OFFLINE_BOUNDS)) }),
    maxClientsIdLength: 64,
    preConnect,
    authenticate: createAuthenticate(deps.tokens, () => instance!, accounts, onError, deviceSeen),
    authorizeForward,
    authorizeSubscribe: createAuthorizeSubscribe(policy, onError),
    authorizePublish: (client, packet, done) => authorizePublish!(client, packet, done),
  })
  instance = aedes
  if (!constantTimeEmitterQueue((aedes as unknown as { mq: unknown }).mq)) deps.log.warn({}, 'the message emitter has no queue to replace: a flood may slow it down')
  guardSubscriptionStore(aedes)
  const offline = startOfflineSweeper(aedes, deps.log)
  const gateway = new RequestGateway(aedes, deps.backend, deps.log)
  // Built once the gateway exists (it needs the broker), not once per publish.
  authorizePublish = createAuthorizePublish(policy, gateway, dropped, onError, ingress)
  aedes.on('clientDisconnect', (client) => ingress.forget(client))
  // Consumed requests and refused publishes stop here instead of entering the fan-out.
  const publish = aedes.publish.bind(aedes)
  aedes.publish = ((packet, ...rest: unknown[]) => {
    if (dropped.has(packet)) {
      const done = rest.find((r): r is (err?: Error) => void => typeof r === 'function')
      done?.()
      return
    }
    return (publish as (...args: unknown[]) => void)(packet, ...rest)
  }) as Aedes['publish']
  const access = createAccessBus(aedes)
  applyAccessEvents(aedes, access, policy, deps.log)
  resyncAfterReconnect(aedes, policy, deps.log)
  aedes.on('clientError', (client, err) => deps.log.warn({ clientId: client.id, err: err.message }, 'client error'))
  aedes.on('connectionError', (_client, err) => deps.log.warn({ err: err.message }, 'connection error'))
  disconnectRevoked({ aedes, access })
  return {
    aedes,
    access,
    offline,
    ingress,
    close: async () => {
      ingress.close()
      access.close()
      await offline?.close()
      await closeAedes(aedes)
      await deviceSeen.close()
    },
  }
}
