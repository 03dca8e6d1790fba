// buildApp builds the HTTP API (and, given a broker, MQTT over WebSocket at /mqtt); it does
// not listen. Tests call app.inject(); server.ts listens.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Aedes, Client } from 'aedes'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import { registerMqttWebSocket } from '../../broker/src/websocket.ts'
import { isValidId } from '../../clients/sdk/src/topics.ts'
import { checkEnvelope, dispatchRequests, errorEnvelope } from './requests/dispatch.ts'
import { doChangePassword, doDeleteAccount, doLogin, doLogout, doOidcLogin, doRefresh, doRegister } from './services/accounts.ts'
import { doListDevices, doRegisterDevice, doRevokeDevice, type OnlineCheck } from './services/devices.ts'
import { doAddFavorite, doBlock, doFindUser, doGetMe, doGetUser, doListBlocks, doListFavorites, doRemoveFavorite, doUnblock, doUpdateMe } from './services/profiles.ts'
import { identityOf } from './auth/identity.ts'
import { clientAddress } from './auth/rate-limit.ts'
import { sessionOf } from '../../broker/src/sessions.ts'
import type { Core } from './services/context.ts'
import { body, caller, optionalBody, pathId, query } from './routes/inputs.ts'
import { registerSocialRoutes } from './routes/social.ts'
import { startExpirySweeper } from './services/expiry.ts'
import { unexpectedError } from './db/unavailable.ts'
import { startHistoryArchiver } from './services/history-archive.ts'
import { startFileSweeper } from './files/sweeper.ts'
import { doDownloadFile } from './files/files.ts'
import { registerNotificationRoutes } from './routes/notifications.ts'
import { doSearch, searchDataFromQuery } from './services/search.ts'
import { OBJECT_ROUTE_PREFIX, registerObjectRoutes } from './routes/objects.ts'
import { LocalObjectStore } from './storage/local-store.ts'
import { registerWebApp } from './routes/web.ts'

export interface AppOptions {
  /** Serve MQTT over WebSocket at /mqtt through this broker. */
  broker?: Aedes
  logger?: FastifyBaseLogger
}

/** Routes that take no token (one sent along is ignored). */
const SIGN_IN_ROUTES = new Set(['/api/auth/register', '/api/auth/login', '/api/auth/oidc', '/api/auth/refresh'])

const FASTIFY_TO_CHIME: Record<string, ChatError['code']> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_JSON',
}

export async function buildApp(core: Core, opts: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    routerOptions: { ignoreTrailingSlash: true },
    bodyLimit: 1024 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
  })
  app.decorateRequest('caller', null)
  // Bodies are JSON only: text/plain would otherwise arrive as a string.
  app.removeContentTypeParser('text/plain')

  app.setErrorHandler((err: FastifyError | ChatError, request, reply) => {
    let chat: ChatError
    if (err instanceof ChatError) chat = err
    else if (err.code !== undefined && FASTIFY_TO_CHIME[err.code] !== undefined) chat = new ChatError(FASTIFY_TO_CHIME[err.code]!)
    else if (err.validation !== undefined) chat = new ChatError('INVALID_FIELD', err.message)
    else {
      request.log.error({ err }, 'request failed')
      chat = unexpectedError(err)
    }
    void reply.status(chat.status).send(errorEnvelope(chat, undefined))
  })
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send(errorEnvelope(new ChatError('NOT_FOUND'), undefined))
  })

  // Bearer tokens on every /api route except the sign-in routes; a revoked sign-in's token is
  // refused (auth/session-gate.ts: cached a few seconds, dropped at once on revocation).
  const signIns = identityOf(core).gate
  core.access.subscribe((event) => signIns.onAccessEvent(event))
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization
    // Object links carry their own signature; a token sent along is ignored.
    if (header === undefined || !request.url.startsWith('/api/') || request.url.startsWith(OBJECT_ROUTE_PREFIX)) return
    const match = /^Bearer (\S+)$/.exec(header)
    if (match === null) throw new ChatError('UNAUTHENTICATED', 'use "Authorization: Bearer <token>"')
    if (SIGN_IN_ROUTES.has(request.url.split('?')[0]!.replace(/\/+$/, ''))) return
    const claims = await core.tokens.verify(match[1]!)
    await signIns.check(claims)
    const clientId = request.headers['x-chime-client-id']
    request.caller = { ...claims, ...(typeof clientId === 'string' && isValidId(clientId) ? { clientId } : {}) }
  })

  app.get('/healthz', async () => ({ status: 'ok' }))

  // ---- identity: accounts and sign-in, devices, profiles, favorites and blocks
  // (docs/protocol.md; services/accounts.ts, devices.ts, profiles.ts)
  {
    const from = (request: FastifyRequest): string => clientAddress(request.ip, request.headers['x-forwarded-for'], core.config.trustProxyHops)
    const brokerClients = opts.broker === undefined ? undefined : (opts.broker as unknown as { clients: Record<string, Client | undefined> }).clients
    const online: OnlineCheck | undefined = brokerClients === undefined ? undefined : (clientId, userId) => sessionOf(brokerClients[clientId])?.userId === userId
    app.post('/api/auth/register', async (request) => doRegister(core, body(request), from(request)))
    app.post('/api/auth/login', async (request) => doLogin(core, body(request), from(request)))
    app.post('/api/auth/oidc', async (request) => doOidcLogin(core, body(request), from(request)))
    app.post('/api/auth/refresh', async (request) => doRefresh(core, body(request), from(request)))
    app.post('/api/auth/logout', async (request) => doLogout(core, caller(request), optionalBody(request)))
    app.post('/api/auth/password', async (request) => doChangePassword(core, caller(request), body(request), from(request)))
    app.get('/api/users/me', async (request) => doGetMe(core, caller(request)))
    app.patch('/api/users/me', async (request) => doUpdateMe(core, caller(request), body(request)))
    app.delete('/api/users/me', async (request) => doDeleteAccount(core, caller(request), optionalBody(request), from(request)))
    app.get('/api/users', async (request) => {
      caller(request)
      return doFindUser(core, query(request))
    })
    app.get('/api/users/:userId', async (request) => {
      caller(request)
      return doGetUser(core, pathId(request, 'userId'))
    })
    app.get('/api/favorites', async (request) => doListFavorites(core, caller(request)))
    app.put('/api/favorites/:userId', async (request) => doAddFavorite(core, caller(request), pathId(request, 'userId')))
    app.delete('/api/favorites/:userId', async (request) => doRemoveFavorite(core, caller(request), pathId(request, 'userId')))
    app.get('/api/blocks', async (request) => doListBlocks(core, caller(request)))
    app.put('/api/blocks/:userId', async (request) => doBlock(core, caller(request), pathId(request, 'userId')))
    app.delete('/api/blocks/:userId', async (request) => doUnblock(core, caller(request), pathId(request, 'userId')))
    app.get('/api/devices', async (request) => doListDevices(core, caller(request), online))
    app.post('/api/devices', async (request) => doRegisterDevice(core, caller(request), body(request), online))
    app.delete('/api/devices/:clientId', async (request) => doRevokeDevice(core, caller(request), pathId(request, 'clientId')))
  }

  registerSocialRoutes(app, core)
  registerNotificationRoutes(app, core)
  // The local object store's signed links are served here; S3 serves its own presigned links.
  if (core.objects instanceof LocalObjectStore) await registerObjectRoutes(app, core.objects)

  // Message search: the query string as SEARCH data (services/search.ts; docs/protocol.md, "Search").
  app.get('/api/search', async (request) => doSearch(core, caller(request), searchDataFromQuery(query(request))))

  // The seed's envelope endpoints: the body is {"action", "data"}; the answer is the reply
  // envelope, or an ERROR envelope with the code's HTTP status.
  const envelopeRoute = (path: string, action: string) =>
    app.post(path, async (request, reply: FastifyReply) => {
      const who = caller(request)
      const env = checkEnvelope(request.body)
      if (env.action !== action) throw new ChatError('UNKNOWN_ACTION', `${path} takes ${action}`)
      const [answer] = await dispatchRequests(core, who, [env], request.log)
      if (answer!.action === 'ERROR') {
        const code = (answer!.data as { code: ChatError['code'] }).code
        return reply.status(new ChatError(code).status).send(answer)
      }
      return answer
    })
  envelopeRoute('/api/sync/', 'SYNC')
  envelopeRoute('/api/sync/delta', 'FETCH_DELTA')
  envelopeRoute('/api/post/', 'POST_MESSAGE')
  envelopeRoute('/api/restore/', 'RESTORE_HISTORY')
  envelopeRoute('/api/files/upload/', 'UPLOAD_FILE')
  envelopeRoute('/api/files/complete/', 'COMPLETE_UPLOAD')
  envelopeRoute('/api/files/download/', 'DOWNLOAD_FILE')
  // The links in exported chats: a GET with the reader's token is sent on to a download link.
  app.get('/api/files/download/', async (request, reply: FastifyReply) => {
    const q = query(request)
    const data: Record<string, unknown> = { file_id: q['file_id'] }
    if (q['thumbnail'] !== undefined) data['thumbnail'] = q['thumbnail'] === 'true'
    const link = await doDownloadFile(core, caller(request), data)
    return reply.status(303).header('location', link.download_url).header('cache-control', 'no-store').send()
  })

  // Any request envelope, or an ordered list of them (how broker nodes hand over MQTT
  // requests). Always 200 with one reply per request when authenticated.
  app.post('/api/requests', { bodyLimit: 32 * 1024 * 1024 }, async (request) => {
    const who = caller(request)
    const list = Array.isArray(request.body) ? request.body : [request.body]
    if (list.length === 0 || list.length > 10_000) throw new ChatError('INVALID_ENVELOPE', 'send 1 to 10000 requests')
    const replies = await dispatchRequests(core, who, list, request.log)
    return Array.isArray(request.body) ? replies : replies[0]
  })

  // Secret chats: this API process purges expired messages while it runs (services/expiry.ts);
  // closing the app stops the sweeper before the sequencer closes.
  const sweeper = startExpirySweeper(core, app.log)
  app.addHook('onClose', async () => sweeper.stop())
  // History: this API process writes sealed partitions to object storage (services/history-archive.ts).
  const archiver = startHistoryArchiver(core, app.log)
  app.addHook('onClose', async () => archiver.stop())
  // Files: this API process removes expired uploads and files no message carries (files/files.ts).
  const fileSweeper = startFileSweeper(core, app.log)
  app.addHook('onClose', async () => fileSweeper.stop())

  // The web app (clients/web/dist) at `/`, and its page for every path that is not the API's.
  await registerWebApp(app, { objectStorageUrl: core.config.s3Endpoint !== '' ? core.config.s3Endpoint : core.config.publicUrl })
  if (opts.broker !== undefined) await registerMqttWebSocket(app, opts.broker)
  return app
}
