// How the API serves the web app (api/src/routes/web.ts): index.html never cached and for
// every app path, hashed assets cached for a year and sent gzipped, the security headers on
// every answer, nothing outside the built files ever served, a plain page saying how to build
// when the app is missing, and the API's own paths left alone. The built app's first load
// stays within the 300 KB gzip budget.
import { mkdtemp, mkdir, readdir, rm, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { contentSecurityPolicy, registerWebApp, WEB_DIST_DIR } from '../../api/src/routes/web.ts'
import { startTestChime } from '../helpers/chime.ts'
import { ensureWebBuilt } from '../helpers/browser.ts'

const INDEX = '<!doctype html><html><head><script type="module" src="/assets/app-Ab12Cd.js"></script></head><body><div id="app"></div></body></html>'
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))})`

/** An empty dist directory inside a temporary one (removed in teardown). */
async function fakeDist(t: Test): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'chime-web-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const dir = join(base, 'dist')
  await mkdir(dir)
  return dir
}

async function writeDist(dir: string): Promise<void> {
  await mkdir(join(dir, 'assets'), { recursive: true })
  await writeFile(join(dir, 'index.html'), INDEX)
  await writeFile(join(dir, 'assets/app-Ab12Cd.js'), SCRIPT)
  await writeFile(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
}

async function appFor(t: Test, distDir: string, objectStorageUrl?: string) {
  const app = Fastify()
  await registerWebApp(app, { distDir, ...(objectStorageUrl !== undefined ? { objectStorageUrl } : {}) })
  t.teardown(() => app.close())
  return app
}

t.test('index.html, assets and app paths', async (t) => {
  const dir = await fakeDist(t)
  await writeDist(dir)
  const app = await appFor(t, dir)

  const index = await app.inject({ method: 'GET', url: '/', headers: { host: 'chat.example.org' } })
  t.equal(index.statusCode, 200)
  t.equal(index.body, INDEX, '/ is index.html')
  t.match(index.headers['content-type'], /^text\/html/)
  t.equal(index.headers['cache-control'], 'no-cache', 'index.html is checked every time (new builds show at once)')
  const csp = String(index.headers['content-security-policy'])
  t.match(csp, /script-src 'self'(;|$)/, 'scripts only from the app itself')
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline scripts or eval')
  t.match(csp, /connect-src 'self' ws:\/\/chat\.example\.org wss:\/\/chat\.example\.org/, 'MQTT over WebSocket on this host is allowed')
  t.match(csp, /frame-ancestors 'none'/)
  t.equal(index.headers['x-content-type-options'], 'nosniff')
  t.equal(index.headers['referrer-policy'], 'no-referrer')

  for (const path of ['/c/01KAS', '/s/S1/c/C1', '/invite/abcDEF123', '/anything/else?x=1']) {
    const r = await app.inject({ method: 'GET', url: path })
    t.equal(r.body, INDEX, `${path} answers the app's page (it routes in the browser)`)
    t.equal(r.headers['cache-control'], 'no-cache')
  }

  const js = await app.inject({ method: 'GET', url: '/assets/app-Ab12Cd.js', headers: { 'accept-encoding': 'gzip, br' } })
  t.equal(js.statusCode, 200)
  t.match(js.headers['content-type'], /^text\/javascript/)
  t.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable', 'hashed assets are cached for a year')
  t.equal(js.headers['content-encoding'], 'gzip', 'sent gzipped to browsers that take it')
  t.equal(gunzipSync(js.rawPayload).toString(), SCRIPT, 'the gzip is the file')
  t.ok(js.rawPayload.length < SCRIPT.length / 4, 'and smaller')
  t.equal(js.headers['x-content-type-options'], 'nosniff', 'the headers are on assets too')

  const plain = await app.inject({ method: 'GET', url: '/assets/app-Ab12Cd.js' })
  t.equal(plain.headers['content-encoding'], undefined)
  t.equal(plain.body, SCRIPT, 'without Accept-Encoding: gzip the file as it is')

  const again = await app.inject({ method: 'GET', url: '/assets/app-Ab12Cd.js', headers: { 'if-none-match': String(js.headers['etag']) } })
  t.equal(again.statusCode, 304, 'a cached copy is confirmed with 304')

  const missing = await app.inject({ method: 'GET', url: '/assets/app-old.js' })
  t.equal(missing.statusCode, 404, 'a missing asset is a 404, not the page')

  const icon = await app.inject({ method: 'GET', url: '/favicon.svg' })
  t.equal(icon.headers['content-type'], 'image/svg+xml')
  t.equal(icon.headers['cache-control'], 'no-cache', 'unhashed files are revalidated')
})

t.test('only the built files are ever served', async (t) => {
  const dir = await fakeDist(t)
  await writeDist(dir)
  await writeFile(join(dir, '..', 'secret.txt'), 'not for the web')
  const app = await appFor(t, dir)
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%00']) {
    const r = await app.inject({ method: 'GET', url: path })
    t.notMatch(r.body, /not for the web/, `${path} does not reach outside the app`)
  }
  const head = await app.inject({ method: 'HEAD', url: '/' })
  t.equal(head.statusCode, 200, 'HEAD works')
})

t.test('the Content-Security-Policy', async (t) => {
  const dir = await fakeDist(t)
  await writeDist(dir)
  const app = await appFor(t, dir, 'https://s3.example.org:9000/bucket')
  const csp = String((await app.inject({ method: 'GET', url: '/', headers: { host: 'chat.example.org' } })).headers['content-security-policy'])
  t.match(csp, /img-src 'self' blob: https:\/\/s3\.example\.org:9000(;|$)/, 'pictures may come from the S3 endpoint (presigned links)')
  t.match(csp, /connect-src [^;]*https:\/\/s3\.example\.org:9000/, 'uploads may go to it')
  t.equal(contentSecurityPolicy('evil.org; script-src *', null).includes('evil'), false, 'a Host header that is not a plain host adds nothing')
  t.match(contentSecurityPolicy('[::1]:8080', null), /ws:\/\/\[::1\]:8080/, 'an IPv6 host works')
})

t.test('without a built app: a page that says how to build it, then the app once built', async (t) => {
  const dir = await fakeDist(t)
  const app = await appFor(t, dir)
  const before = await app.inject({ method: 'GET', url: '/' })
  t.equal(before.statusCode, 503)
  t.match(before.headers['content-type'], /^text\/plain/)
  t.match(before.body, /npm run build:web/, 'says how to build the app')
  await writeDist(dir)
  const after = await app.inject({ method: 'GET', url: '/' })
  t.equal(after.body, INDEX, 'a build made after the start is served without a restart')
})

t.test('in the running API: the app at /, the API and health check unchanged, the first load within budget', async (t) => {
  await ensureWebBuilt()
  const chime = await startTestChime(t)
  const page = await fetch(chime.baseUrl + '/')
  const html = await page.text()
  t.equal(page.status, 200)
  t.match(html, /<div id="app"><\/div>/, 'the built app')
  t.ok(page.headers.get('content-security-policy'), 'with its security headers')
  const api = await chime.http<{ action: string; data: { code: string } }>('GET', '/api/no-such-route')
  t.equal(api.status, 404)
  t.equal(api.body.data.code, 'NOT_FOUND', 'unknown API paths keep their JSON error')
  t.same((await chime.http('GET', '/healthz')).body, { status: 'ok' })

  // The budget of issue 7: the JavaScript of the first load, gzipped, under 300 KB. Counted
  // over every script of the build (the page's and the realtime chunk it loads at once).
  t.match(html, /<script type="module"[^>]+src="\/assets\/[^"]+\.js"/, 'the page loads its script from /assets/')
  const scripts = (await readdir(join(WEB_DIST_DIR, 'assets'))).filter((f) => f.endsWith('.js'))
  let gzipped = 0
  for (const f of scripts) gzipped += gzipSync(await readFile(join(WEB_DIST_DIR, 'assets', f))).length
  t.ok(gzipped < 300 * 1024, `first-load JavaScript is ${Math.round(gzipped / 1024)} KB gzipped (budget 300 KB)`)
})
