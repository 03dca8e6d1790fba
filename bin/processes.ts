// The three ways Chime runs: all in one process (embedded default), a broker node, an API
// sidecar. Each returns a handle with the bound ports and a close() that stops everything.
import { createAccessBus, type AccessBus } from '../broker/src/access-events.ts'
import { AccessPolicy } from '../broker/src/access.ts'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { Server } from 'node:net'
import { Aedes } from 'aedes'
import Fastify, { type FastifyInstance } from 'fastify'
import pino, { type Logger } from 'pino'
import type { Config } from '../config/schema.ts'
import { ConfigError } from '../config/load-config.ts'
import { buildApp } from '../api/src/app.ts'
import { createTokenService } from '../api/src/auth/tokens.ts'
import { migrate } from '../api/src/db/migrate.ts'
import { checkSchemaDrift } from '../api/src/db/schema-drift.ts'
import { sqliteUrlForDataDir } from '../api/src/db/open-database.ts'
import { createAedesPublisher } from '../api/src/publish/aedes-publisher.ts'
import { createQosPolicy, type QosPolicy } from '../api/src/publish/qos-policy.ts'
import { createInboxPublisher, type InboxPublisher } from '../api/src/publish/inbox-publisher.ts'
import { dispatchRequests } from '../api/src/requests/dispatch.ts'
import { startNotifications } from '../api/src/services/notifier.ts'
import { Sequencer, type DeltaPublisher } from '../api/src/sequencer/sequencer.ts'
import type { Core } from '../api/src/services/context.ts'
import { openStore, type Store } from '../api/src/store/store.ts'
import { openObjectStore } from '../api/src/storage/open-object-store.ts'
import type { ObjectStore } from '../api/src/storage/object-store.ts'
import { closeAedes, clusterOptions, createBroker, type ChimeBroker } from '../broker/src/create-broker.ts'
import { offlineBoundsFrom } from '../broker/src/offline-bounds.ts'
import { ingressFrom } from '../broker/src/ingress.ts'
import { registerBrokerMetrics } from '../broker/src/metrics-route.ts'
import { describeListenError, listenMqtt } from '../broker/src/listen.ts'
import { registerMqttWebSocket } from '../broker/src/websocket.ts'
import { createHttpRequestBackend, type RequestBackend } from '../broker/src/request-backend.ts'

export interface Running {
  httpPort: number
  mqttPort: number | null
  databaseUrl: string
  log: Logger
  /** The broker of this process (embedded profile and broker nodes). */
  aedes?: Aedes
  /** The object store of this process (embedded profile and API sidecars). */
  objects?: ObjectStore
  /** What the API services of this process work with (embedded profile and API sidecars). */
  core?: Core
  close(): Promise<void>
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, base: { service: 'chime' } })
}

/** The token secret: configured, or (embedded only) generated once into the data dir. */
async function jwtSecret(config: Config, embedded: boolean): Promise<string> {
  if (config.jwtSecret !== '') return config.jwtSecret
  if (!embedded) throw new ConfigError('CHIME_JWT_SECRET is required when broker and API run as separate processes (all of them need the same secret)')
  const file = join(resolve(config.dataDir), 'jwt-secret')
  try {
    const existing = (await readFile(file, 'utf8')).trim()
    if (existing.length >= 32) return existing
  } catch {
    // first start: create it below
  }
  const secret = randomBytes(48).toString('base64url')
  await mkdir(resolve(config.dataDir), { recursive: true })
  await writeFile(file, secret + '\n', { mode: 0o600 })
  return secret
}

/** SQLite is migrated at start-up; MySQL must have been migrated (npm run db:migrate). */
async function prepareDatabase(config: Config): Promise<string> {
  if (config.databaseUrl === '') {
    const url = sqliteUrlForDataDir(resolve(config.dataDir))
    await migrate(url)
    return url
  }
  if (config.databaseUrl.startsWith('file:')) {
    await migrate(config.databaseUrl)
    return config.databaseUrl
  }
  const drift = await checkSchemaDrift(config.databaseUrl)
  if (drift.length > 0) throw new ConfigError(`the database at DATABASE_URL does not match the schema; run \`npm run db:migrate\` (${drift.slice(0, 3).join('; ')})`)
  return config.databaseUrl
}

function coreOf(config: Config, store: Store, publisher: DeltaPublisher, access: AccessBus, secret: string, log: Logger, inbox: InboxPublisher, objects: ObjectStore): Core {
  const policy = new AccessPolicy(store.directory)
  // Other processes' changes arrive on the bus; this process's own are applied before they
  // are announced, so its next request never meets a stale cache.
  access.subscribe((e) => policy.forget(e))
  const announcing: DeltaPublisher = {
    ...publisher,
    announce: async (events) => {
      for (const e of events) policy.forget(e)
      await publisher.announce(events)
    },
  }
  const sequencer = new Sequencer(store.log, announcing, config.sequencerBatchMax, (err) => log.error({ err }, 'publishing committed deltas failed; clients recover them through SYNC'), config.sequencerLingerMs)
  return { config, store, sequencer, access, policy, inbox, objects, tokens: createTokenService(secret, config.tokenTtlSeconds) }
}

/** QoS 0 for the deltas of servers above CHIME_QOS1_MAX_MEMBERS (api/src/publish/qos-policy.ts). */
function qosPolicy(config: Config, store: Store, log: Logger): QosPolicy {
  return createQosPolicy({ maxMembers: config.qos1MaxMembers, sizes: store.directory, onError: (err) => log.warn({ err }, 'reading a server size failed; its deltas keep the last known QoS') })
}

async function listenHttp(app: FastifyInstance, config: Config): Promise<number> {
  try {
    await app.listen({ port: config.httpPort, host: config.host })
  } catch (err) {
    throw describeListenError(err, 'HTTP', 'CHIME_HTTP_PORT', config.httpPort)
  }
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : config.httpPort
}

function closeServer(server: Server): Promise<void> {
  return new Promise((r) => server.close(() => r()))
}

/** Everything in one process: broker, API (and web client) over one store. */
export async function startEmbedded(config: Config, log: Logger = createLogger(config)): Promise<Running> {
  const secret = await jwtSecret(config, true)
  const databaseUrl = await prepareDatabase(config)
  const store = await openStore(databaseUrl, { maxDeltas: config.partitionMaxDeltas, maxBytes: config.partitionMaxBytes }, { onUnorderedPublish: (why) => log.warn({ why }, 'publishing out of the cross-sidecar order; subscribers recover by seq') })
  const objects = await openObjectStore(config, secret).catch(async (err: unknown) => {
    await store.close()
    throw err
  })
  let core: Core | undefined
  const backend: RequestBackend = {
    handle: (session, clientId, requests) => dispatchRequests(core!, { userId: session.userId, username: session.username, clientId }, requests, log),
  }
  const tokens = createTokenService(secret, config.tokenTtlSeconds)
  const broker = await createBroker({ tokens, directory: store.directory, backend, log, offline: offlineBoundsFrom(config), ingress: ingressFrom(config), ...(config.redisUrl ? { cluster: { redisUrl: config.redisUrl } } : {}) })
  const notifier = await startNotifications({ config, store, embedded: true, log })
  core = coreOf(config, store, notifier.wrap(createAedesPublisher(broker.aedes, broker.access, qosPolicy(config, store, log))), broker.access, secret, log, createInboxPublisher(broker.aedes), objects)
  notifier.attach(core)
  const app = await buildApp(core, { broker: broker.aedes, logger: log })
  registerBrokerMetrics(app, broker)
  let mqtt: { server: Server; port: number } | undefined
  try {
    mqtt = await listenMqtt(broker.aedes, config.mqttPort, config.host)
    const httpPort = await listenHttp(app, config)
    return {
      httpPort,
      mqttPort: mqtt.port,
      databaseUrl,
      log,
      aedes: broker.aedes,
      objects,
      core,
      async close() {
        // Stop intake, let committed posts publish, then disconnect clients and stores.
        const listenerClosed = closeServer(mqtt!.server)
        await app.close()
        await core!.sequencer.close()
        await notifier.close()
        await broker.close()
        await listenerClosed
        await store.close()
        await objects.close()
      },
    }
  } catch (err) {
    if (mqtt) await closeServer(mqtt.server)
    await app.close()
    await broker.close()
    await store.close()
    await objects.close()
    throw err
  }
}

/** A broker node: MQTT (TCP and WebSocket); hands requests to the API sidecar at CHIME_API_URL. */
export async function startBrokerNode(config: Config, log: Logger = createLogger(config)): Promise<Running & { broker: ChimeBroker }> {
  if (config.redisUrl === '' || config.databaseUrl === '') throw new ConfigError('a broker node needs REDIS_URL and DATABASE_URL')
  const secret = await jwtSecret(config, false)
  const databaseUrl = await prepareDatabase(config)
  const store = await openStore(databaseUrl, { maxDeltas: config.partitionMaxDeltas, maxBytes: config.partitionMaxBytes }, { onUnorderedPublish: (why) => log.warn({ why }, 'publishing out of the cross-sidecar order; subscribers recover by seq') })
  const tokens = createTokenService(secret, config.tokenTtlSeconds)
  const broker = await createBroker({
    tokens,
    directory: store.directory,
    backend: createHttpRequestBackend(config.apiUrl, tokens),
    log,
    offline: offlineBoundsFrom(config),
    ingress: ingressFrom(config),
    cluster: { redisUrl: config.redisUrl },
  })
  const app = Fastify({ logger: false })
  app.get('/healthz', async () => ({ status: 'ok', role: 'broker' }))
  registerBrokerMetrics(app, broker)
  await registerMqttWebSocket(app, broker.aedes)
  const mqtt = await listenMqtt(broker.aedes, config.mqttPort, config.host).catch(async (err: unknown) => {
    await broker.close()
    await store.close()
    throw err
  })
  const httpPort = await listenHttp(app, config).catch(async (err: unknown) => {
    await closeServer(mqtt.server)
    await broker.close()
    await store.close()
    throw err
  })
  return {
    httpPort,
    mqttPort: mqtt.port,
    databaseUrl,
    log,
    broker,
    async close() {
      const listenerClosed = closeServer(mqtt.server)
      await app.close()
      await broker.close()
      await listenerClosed
      await store.close()
    },
  }
}

/**
 * An API sidecar: HTTP API; sequences and commits, then publishes through a listener-less
 * Aedes node that shares Redis persistence and fan-out with the broker nodes.
 */
export async function startApiNode(config: Config, log: Logger = createLogger(config)): Promise<Running> {
  if (config.redisUrl === '' || config.databaseUrl === '') throw new ConfigError('an API sidecar needs REDIS_URL and DATABASE_URL')
  const secret = await jwtSecret(config, false)
  const databaseUrl = await prepareDatabase(config)
  const store = await openStore(databaseUrl, { maxDeltas: config.partitionMaxDeltas, maxBytes: config.partitionMaxBytes }, { onUnorderedPublish: (why) => log.warn({ why }, 'publishing out of the cross-sidecar order; subscribers recover by seq') })
  const objects = await openObjectStore(config, secret).catch(async (err: unknown) => {
    await store.close()
    throw err
  })
  // This node queues the packets it publishes for persistent sessions: same bounds as the brokers'.
  const node = await Aedes.createBroker(clusterOptions({ redisUrl: config.redisUrl, onError: (err) => log.warn({ err }, 'Redis emitter error'), offline: offlineBoundsFrom(config) }))
  const access = createAccessBus(node)
  // Channels renamed, deleted or ended through another sidecar: drop them from this one's cache.
  access.subscribe((e) => {
    if (e.type === 'server-permissions') store.directory.forgetChannel(e.channelId)
    else if (e.type === 'chat-closed') store.directory.forgetChannel(e.chatId)
  })
  const notifier = await startNotifications({ config, store, embedded: false, log })
  const core = coreOf(config, store, notifier.wrap(createAedesPublisher(node, access, qosPolicy(config, store, log))), access, secret, log, createInboxPublisher(node), objects)
  notifier.attach(core)
  const app = await buildApp(core, { logger: log })
  const httpPort = await listenHttp(app, config).catch(async (err: unknown) => {
    await closeAedes(node)
    await store.close()
    await objects.close()
    throw err
  })
  return {
    httpPort,
    mqttPort: null,
    databaseUrl,
    log,
    objects,
    core,
    async close() {
      await app.close()
      await core.sequencer.close()
      await notifier.close()
      access.close()
      await closeAedes(node)
      await store.close()
      await objects.close()
    },
  }
}
