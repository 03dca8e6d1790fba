// Serves the web app (clients/web/dist, built by `npm run build:web`) at `/`: hashed assets
// with a year of caching, index.html never cached, and index.html for every other path that
// is not the API's or the broker's (the app routes in the browser). The built files are read
// once into memory with a gzip copy (the whole app is a few hundred KB), so a request never
// touches the file system and no path from a URL ever reaches it. Every answer carries the
// app's security headers: a Content-Security-Policy without inline scripts, nosniff, and no
// referrer.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ChatError } from '../../../clients/sdk/src/errors.ts'

export const WEB_DIST_DIR = fileURLToPath(new URL('../../../clients/web/dist/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
}
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.webmanifest', '.txt'])

interface WebFile {
  body: Buffer
  gzip: Buffer | null
  type: string
  etag: string
  /** Vite puts content-hashed files under /assets/: they never change under their name. */
  immutable: boolean
}

export interface WebAppOptions {
  /** Where the built app is (default clients/web/dist). */
  distDir?: string
  /**
   * Where file links point besides this origin: the S3 endpoint (CHIME_S3_ENDPOINT, presigned
   * links), or CHIME_PUBLIC_URL (the local store's links are made absolute with it).
   */
  objectStorageUrl?: string
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await walk(path)))
    else if (entry.isFile()) out.push(path)
  }
  return out
}

async function loadDist(dir: string): Promise<Map<string, WebFile> | null> {
  if (!existsSync(join(dir, 'index.html'))) return null
  const files = new Map<string, WebFile>()
  for (const path of await walk(dir)) {
    const ext = extname(path).toLowerCase()
    const body = await readFile(path)
    const urlPath = '/' + relative(dir, path).split(sep).join('/')
    const gzip = COMPRESSIBLE.has(ext) && body.length > 512 ? gzipSync(body, { level: 9 }) : null
    files.set(urlPath, {
      body,
      gzip,
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      immutable: urlPath.startsWith('/assets/'),
    })
  }
  return files
}

/** The origin of a URL for a CSP source list, or null when it is not an http(s) URL. */
function originOf(url: string | undefined): string | null {
  if (url === undefined || url === '') return null
  try {
    const u = new URL(url)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null
  } catch {
    return null
  }
}

/**
 * The app's Content-Security-Policy. Scripts and styles only from this origin (no inline
 * scripts); MQTT over WebSocket at this host's /mqtt; pictures and uploads from this origin
 * (the local object store's links) and the S3 endpoint when there is one. `host` comes from
 * the request and is only used when it is a plain host[:port].
 */
export function contentSecurityPolicy(host: string | undefined, objectStorage: string | null): string {
  const sockets = host !== undefined && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host) ? ` ws://${host} wss://${host}` : ''
  const store = objectStorage === null ? '' : ` ${objectStorage}`
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' blob:${store}`,
    `media-src 'self' blob:${store}`,
    `connect-src 'self'${sockets}${store}`,
    // mqtt.js keeps its keepalive timers in a worker made from a blob (timers of hidden tabs are throttled).
    "worker-src 'self' blob:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/** Paths the app never answers: the API, the broker's WebSocket and the health check keep their own 404s. */
function isServerPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path === '/mqtt' || path.startsWith('/mqtt/') || path === '/healthz'
}

const NOT_BUILT = 'Chime is running, but its web app has not been built.\nRun `npm run build:web` (or `npm ci`, which builds it) and reload this page.\n'

export async function registerWebApp(app: FastifyInstance, opts: WebAppOptions = {}): Promise<void> {
  const dir = opts.distDir ?? WEB_DIST_DIR
  const objectStorage = originOf(opts.objectStorageUrl)
  // Loaded on the first request (and again while it is missing), so a build made after the
  // start is picked up without a restart.
  let files: Promise<Map<string, WebFile> | null> | undefined

  const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = decodeURIComponentSafe(request.url.split('?')[0] ?? '/')
    if (isServerPath(path)) throw new ChatError('NOT_FOUND')
    files ??= loadDist(dir)
    const loaded = await files
    if (loaded === null) files = undefined
    void reply
      .header('content-security-policy', contentSecurityPolicy(request.headers.host, objectStorage))
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
    if (loaded === null) return reply.status(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(NOT_BUILT)
    // A known file, else the app's page (the app reads the path); a missing asset is a 404.
    let file = path === '/' ? undefined : loaded.get(path)
    if (file === undefined) {
      if (path.startsWith('/assets/')) return reply.status(404).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('Not found\n')
      file = loaded.get('/index.html')!
    }
    void reply
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('etag', file.etag)
      .header('vary', 'accept-encoding')
      .type(file.type)
    const ifNoneMatch = request.headers['if-none-match']
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim() === file.etag)) return reply.status(304).send()
    const acceptsGzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))
    if (file.gzip !== null && acceptsGzip) return reply.header('content-encoding', 'gzip').send(file.gzip)
    return reply.send(file.body)
  }

  app.get('/', serve)
  app.get('/*', serve)
}

function decodeURIComponentSafe(path: string): string {
  try {
    return decodeURIComponent(path)
  } catch {
    return path
  }
}
