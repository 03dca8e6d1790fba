// The web app's speed (issue 7): what the first load transfers, and in a real browser
// (Debian's chromium, headless, on loopback) how long until the chat list shows and how long
// a channel of 10,000 messages takes to show its latest page.
//   1. the JavaScript (and CSS) of the first load, gzipped as the API sends it;
//   2. seed one reader with 10 servers (3 messages in each general channel), 20 groups and
//      a 1:1 chat, and one channel of 10,000 messages;
//   3. chat list: a fresh browser profile (nothing cached) signed in, from navigation start
//      to the first row of the list on screen; then the same after a reload (assets cached);
//   4. channel: from the click on its row to its newest message on screen (animation-frame
//      polling in the page), after going back to the list each time.
//   npm run bench -- web
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startBenchChime, type BenchChime } from './bench-chime.ts'
import { WEB_DIST_DIR } from '../api/src/routes/web.ts'

const CHROMIUM = process.env['CHIME_CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const BIG_CHANNEL_MESSAGES = 10_000
const RUNS = 7
const PASSWORD = 'correct horse battery'

export interface WebResult {
  jsGzipBytes: number
  cssGzipBytes: number
  jsRawBytes: number
  chatListColdMs: number[]
  chatListWarmMs: number[]
  channelOpenMs: number[]
  seedSeconds: number
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.floor(s.length / 2)]! * 10) / 10
}
const max = (xs: number[]): number => Math.round(Math.max(...xs) * 10) / 10

/**
 * What the first load of a signed-in user transfers: every script of the build (index.html's
 * and the realtime chunk it loads at once) and the styles, gzipped as the API sends them.
 */
async function firstLoad(): Promise<{ js: number; css: number; jsRaw: number }> {
  const assets = (await readdir(join(WEB_DIST_DIR, 'assets'))).map((f) => join('assets', f))
  const size = async (paths: string[]): Promise<[number, number]> => {
    let gz = 0
    let raw = 0
    for (const p of paths) {
      const bytes = await readFile(join(WEB_DIST_DIR, p))
      raw += bytes.length
      gz += gzipSync(bytes, { level: 9 }).length
    }
    return [gz, raw]
  }
  const [js, jsRaw] = await size(assets.filter((p) => p.endsWith('.js')))
  const [css] = await size(assets.filter((p) => p.endsWith('.css')))
  return { js, css, jsRaw }
}

interface Seeded {
  reader: { username: string }
  bigChannel: string
}

async function seed(chime: BenchChime): Promise<Seeded> {
  const tag = process.pid.toString(36)
  const register = (username: string) => chime.call<{ user_id: string; token: string }>('POST', '/api/auth/register', { username, password: PASSWORD })
  const reader = await register(`reader${tag}`)
  const partner = await register(`partner${tag}`)
  let posted = 0
  const post = async (token: string, channel_id: string, contents: string[]): Promise<void> => {
    // client_msg_id is unique per user: a repeated one would answer the first post again.
    const replies = await chime.call<{ action: string; data: { code?: string } }[]>('POST', '/api/requests', contents.map((content) => ({ action: 'POST_MESSAGE', data: { channel_id, content, client_msg_id: `b${++posted}` } })), token)
    const refused = replies.find((r) => r.action === 'ERROR')
    if (refused !== undefined) throw new Error(`seeding: POST_MESSAGE refused with ${refused.data.code}`)
  }
  for (let i = 1; i <= 10; i++) {
    const s = await chime.call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: `Server ${i}` }, reader.token)
    await post(reader.token, s.channel_id, ['hello', 'how is everyone?', `welcome to server ${i}`])
  }
  for (let i = 1; i <= 20; i++) {
    const g = await chime.call<{ chat_id: string }>('POST', '/api/chats', { user_ids: [partner.user_id], name: `Group ${i}` }, reader.token)
    await post(partner.token, g.chat_id, [`news for group ${i}`])
  }
  const dm = await chime.call<{ chat_id: string }>('POST', '/api/chats', { user_ids: [partner.user_id] }, reader.token)
  await post(partner.token, dm.chat_id, ['see you at noon'])
  const big = await chime.call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: 'Big archive' }, reader.token)
  for (let from = 1; from <= BIG_CHANNEL_MESSAGES; from += 1000) {
    const batch = Array.from({ length: Math.min(1000, BIG_CHANNEL_MESSAGES - from + 1) }, (_, i) => `message ${from + i}${(from + i) % 7 === 0 ? ' with a somewhat longer line of text so that rows differ in height when they wrap on a narrow screen' : ''}`)
    await post(reader.token, big.channel_id, batch)
  }
  return { reader: { username: `reader${tag}` }, bigChannel: big.channel_id }
}

/** A fresh browser profile signed in as the user (a new sign-in each time: refresh tokens work once). */
async function signedInPage(browser: Browser, chime: BenchChime, base: string, username: string): Promise<Page> {
  const s = await chime.call<{ user_id: string; token: string; refresh_token: string }>('POST', '/api/auth/login', { username, password: PASSWORD })
  const session = JSON.stringify({ user_id: s.user_id, token: s.token, refresh_token: s.refresh_token, username })
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, storageState: { cookies: [], origins: [{ origin: base, localStorage: [{ name: 'chime.session', value: session }] }] } })
  return context.newPage()
}

/** Milliseconds from navigation start to the first row of the chat list on screen. */
async function chatListShown(page: Page): Promise<number> {
  const handle = await page.waitForFunction(() => (document.querySelector('a.row') !== null ? performance.now() : false), undefined, { polling: 'raf', timeout: 30_000 })
  return (await handle.jsonValue()) as number
}

/**
 * Milliseconds from the click on a channel's row to its newest message on screen. The page
 * code is a string: the TypeScript loader would otherwise wrap its functions in a helper the
 * page does not have.
 */
async function openChannel(page: Page, channelId: string, newest: string): Promise<number> {
  return page.evaluate(`new Promise((resolve, reject) => {
    const row = document.querySelector('a.row[data-channel="${channelId}"]')
    if (row === null) return reject(new Error('the channel is not in the list'))
    const start = performance.now()
    row.click()
    const give = setTimeout(() => reject(new Error('the newest message did not show')), 30000)
    const check = () => {
      const shown = Array.from(document.querySelectorAll('article.msg p.text')).some((p) => p.textContent === ${JSON.stringify(newest)})
      if (shown) { clearTimeout(give); resolve(performance.now() - start) } else requestAnimationFrame(check)
    }
    check()
  })`)
}

export async function runWeb(): Promise<WebResult> {
  if (!existsSync(join(WEB_DIST_DIR, 'index.html'))) {
    const root = fileURLToPath(new URL('..', import.meta.url))
    const r = spawnSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', 'clients/web', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' })
    if (r.status !== 0) throw new Error('building the web app failed')
  }
  if (!existsSync(CHROMIUM)) throw new Error(`chromium is needed at ${CHROMIUM} (apt-get install chromium)`)
  const sizes = await firstLoad()
  const chime = await startBenchChime('embedded', 'web')
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'] })
  try {
    const base = `http://127.0.0.1:${chime.running.httpPort}`
    const seedStart = Date.now()
    const seeded = await seed(chime)
    const seedSeconds = Math.round((Date.now() - seedStart) / 100) / 10
    const cold: number[] = []
    const warm: number[] = []
    const open: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const page = await signedInPage(browser, chime, base, seeded.reader.username)
      await page.goto(base + '/')
      cold.push(await chatListShown(page))
      await page.reload()
      warm.push(await chatListShown(page))
      await page.waitForSelector(`a.row[data-channel="${seeded.bigChannel}"]`)
      open.push(await openChannel(page, seeded.bigChannel, `message ${BIG_CHANNEL_MESSAGES}`))
      await page.context().close()
    }
    const result: WebResult = { jsGzipBytes: sizes.js, cssGzipBytes: sizes.css, jsRawBytes: sizes.jsRaw, chatListColdMs: cold, chatListWarmMs: warm, channelOpenMs: open, seedSeconds }
    const kb = (n: number): string => `${Math.round(n / 102.4) / 10} KB`
    console.log(`first load: JavaScript ${kb(sizes.js)} gzipped (${kb(sizes.jsRaw)} raw), CSS ${kb(sizes.css)} gzipped; seeded in ${seedSeconds} s`)
    console.log('| measure | runs | median ms | max ms |')
    console.log('|---|---|---|---|')
    console.log(`| chat list shown, fresh profile (nothing cached) | ${cold.length} | ${median(cold)} | ${max(cold)} |`)
    console.log(`| chat list shown, reload (assets cached) | ${warm.length} | ${median(warm)} | ${max(warm)} |`)
    console.log(`| channel of ${BIG_CHANNEL_MESSAGES} messages: click to newest message shown | ${open.length} | ${median(open)} | ${max(open)} |`)
    await mkdir(new URL('./results/', import.meta.url), { recursive: true })
    await writeFile(new URL('./results/web.json', import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, result }, null, 2))
    return result
  } finally {
    await browser.close()
    await chime.close()
  }
}
