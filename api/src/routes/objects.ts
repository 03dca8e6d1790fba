// Serves the links of the local object store (storage/local-store.ts): GET and HEAD for
// download links, with single byte ranges; PUT for upload links and multipart part links,
// streamed to the store (a part's PUT answers with its ETag, as S3 does). No bearer token:
// the link's signature is the authority (app.ts leaves /api/objects/ alone).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Readable, Transform } from 'node:stream'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { errorEnvelope } from '../requests/dispatch.ts'
import { contentDisposition } from '../storage/object-input.ts'
import type { LocalObjectStore } from '../storage/local-store.ts'

export const OBJECT_ROUTE_PREFIX = '/api/objects/'

type Span = { start: number; end: number }

/**
 * The span a Range header asks for: null to send the whole object (no header, or one this
 * server ignores: several ranges, bad syntax, a stale If-Range), or 'unsatisfiable'.
 */
export function parseRange(header: string | undefined, size: number): Span | null | 'unsatisfiable' {
  if (header === undefined) return null
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (m === null) return null
  const [, first = '', last = ''] = m
  if (first === '' && last === '') return null
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  if (last !== '' && Number(last) < start) return null
  if (start >= size) return 'unsatisfiable'
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) }
}

function keyOf(request: FastifyRequest): string {
  return (request.params as { '*'?: string })['*'] ?? ''
}

/**
 * The body, failing past `max` bytes. Piped rather than pipelined: a failure must not destroy
 * the request (and with it the socket) before the 413 is sent; an aborted request still ends it.
 */
function bounded(raw: Readable, max: number): Readable {
  let seen = 0
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen > max) done(new ChatError('PAYLOAD_TOO_LARGE', `this link takes at most ${max} bytes`, { limit: max }))
      else done(null, chunk)
    },
  })
  // The store may not be reading yet when the limit is hit; it finds the error on the stream.
  limiter.on('error', () => undefined)
  raw.once('error', (err) => limiter.destroy(err))
  raw.once('close', () => {
    if (!raw.readableEnded) limiter.destroy(new Error('the upload was aborted'))
  })
  return raw.pipe(limiter)
}

export async function registerObjectRoutes(app: FastifyInstance, store: LocalObjectStore): Promise<void> {
  await app.register(async (scope) => {
    // Upload bodies are any type and any size: hand the raw stream to the handler.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload))

    const download = async (request: FastifyRequest, reply: FastifyReply, withBody: boolean): Promise<FastifyReply> => {
      const key = keyOf(request)
      const grant = store.verifyLink(request.method === 'HEAD' ? 'HEAD' : 'GET', key, request.query)
      const obj = await store.open(key)
      if (obj === null) throw new ChatError('NOT_FOUND', 'No such object.')
      const { info } = obj
      const etag = `"${info.sha256 ?? `${info.size.toString(16)}-${info.lastModified.getTime().toString(16)}`}"`
      const ifRange = request.headers['if-range']
      const range = ifRange === undefined || ifRange === etag ? request.headers.range : undefined
      const span = parseRange(range, info.size)
      const secondsLeft = Math.max(0, grant.expires - Math.floor(Date.now() / 1000))
      void reply
        .header('accept-ranges', 'bytes')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', `private, max-age=${secondsLeft}`)
        .header('etag', etag)
        .header('last-modified', info.lastModified.toUTCString())
      if (span === 'unsatisfiable') {
        await obj.close()
        const error = new ChatError('RANGE_NOT_SATISFIABLE', undefined, { size: info.size })
        return reply.status(416).header('content-range', `bytes */${info.size}`).send(withBody ? errorEnvelope(error, undefined) : undefined)
      }
      void reply.header('content-type', grant.contentType ?? info.contentType).header('content-disposition', contentDisposition(grant.inline, grant.filename))
      if (span !== null) void reply.status(206).header('content-range', `bytes ${span.start}-${span.end}/${info.size}`)
      void reply.header('content-length', span === null ? info.size : span.end - span.start + 1)
      if (!withBody) {
        await obj.close()
        return reply.send()
      }
      return reply.send(obj.read(span))
    }

    scope.route({ method: 'GET', url: `${OBJECT_ROUTE_PREFIX}*`, exposeHeadRoute: false, handler: (request, reply) => download(request, reply, true) })
    scope.route({ method: 'HEAD', url: `${OBJECT_ROUTE_PREFIX}*`, handler: (request, reply) => download(request, reply, false) })

    scope.put(`${OBJECT_ROUTE_PREFIX}*`, async (request, reply) => {
      try {
        const key = keyOf(request)
        const grant = store.verifyLink('PUT', key, request.query)
        const declared = Number(request.headers['content-length'] ?? NaN)
        if (grant.maxBytes !== undefined && declared > grant.maxBytes) throw new ChatError('PAYLOAD_TOO_LARGE', `this link takes at most ${grant.maxBytes} bytes`, { limit: grant.maxBytes })
        const raw = request.body instanceof Readable ? request.body : Readable.from([])
        const body = grant.maxBytes === undefined ? raw : bounded(raw, grant.maxBytes)
        if (grant.part !== undefined) {
          const { etag } = await store.uploadPart(key, grant.part.uploadId, grant.part.partNumber, body)
          return reply.status(200).header('etag', `"${etag}"`).send()
        }
        const header = request.headers['content-type']
        const contentType = grant.contentType ?? (header === undefined || header === '' ? 'application/octet-stream' : header)
        await store.put(key, body, { contentType })
        return reply.status(200).send()
      } catch (err) {
        // A refused body is not read to its end: close the connection rather than drain it.
        void reply.header('connection', 'close')
        throw err
      }
    })
  })
}
