// A real browser for the web app's tests: Debian's chromium driven by playwright-core, with a
// fresh profile per context. Without chromium the suite fails under CHIME_TEST_SERVICES=require
// (CI installs it) and is otherwise not run, with a comment saying why. ensureWebBuilt()
// builds clients/web/dist when it is missing or older than the app's sources, so the Chime
// the tests start serves the current app.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, statSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'
import { defer } from './cleanup.ts'
import { requireServices } from './databases.ts'
import { waitFor } from './wait.ts'
import { startTestChime, type TestChime } from './chime.ts'
import type { Config } from '../../config/schema.ts'

export const CHROMIUM_PATH = process.env['CHIME_CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const root = fileURLToPath(new URL('../../', import.meta.url))
const webDir = join(root, 'clients/web')
const distIndex = join(webDir, 'dist/index.html')

/** The newest modification time of the files under the given paths. */
function newest(paths: string[]): number {
  let max = 0
  for (const p of paths) {
    if (!existsSync(p)) continue
    const st = statSync(p)
    if (st.isDirectory()) max = Math.max(max, newest(readdirSync(p).map((e) => join(p, e))))
    else max = Math.max(max, st.mtimeMs)
  }
  return max
}

/** Builds the web app unless dist is newer than its sources (one build at a time across test processes). */
export async function ensureWebBuilt(): Promise<void> {
  const sources = [join(webDir, 'src'), join(webDir, 'index.html'), join(webDir, 'public'), join(webDir, 'vite.config.ts'), join(root, 'clients/sdk/src')]
  const fresh = (): boolean => existsSync(distIndex) && statSync(distIndex).mtimeMs >= newest(sources)
  if (fresh()) return
  const lock = join(tmpdir(), 'chime-web-build.lock')
  await waitFor('the web build lock', () => {
    try {
      mkdirSync(lock)
      return true
    } catch {
      // Another test process builds; a lock older than two minutes was left by a crash.
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true })
      return undefined
    }
  }, 180_000)
  try {
    if (fresh()) return
    const r = spawnSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', webDir, '--logLevel', 'warn'], { cwd: root, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`building the web app failed:\n${r.stdout}\n${r.stderr}`)
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

/** Chromium, closed in teardown; null when it is missing and not required (the test then ends). */
export async function launchChromium(t: Test): Promise<Browser | null> {
  if (!existsSync(CHROMIUM_PATH)) {
    const reason = `chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium; .ci/run does)`
    if (requireServices) {
      t.fail(`${reason} (CHIME_TEST_SERVICES=require)`)
      return null
    }
    t.comment(`${reason}: the browser tests are not run (CHIME_TEST_SERVICES=require makes this a failure)`)
    return null
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  })
  defer(t, () => browser.close())
  return browser
}

/**
 * What a web app test starts with: the built app, Chromium and a Chime serving the app (all
 * closed in teardown); null when Chromium is missing and not required (the test then ends).
 */
export async function startWebApp(t: Test, overrides: Partial<Config> = {}): Promise<{ browser: Browser; chime: TestChime } | null> {
  await ensureWebBuilt()
  const browser = await launchChromium(t)
  if (browser === null) return null
  return { browser, chime: await startTestChime(t, overrides) }
}

/** Creates an account through the web app's own form and waits for the chat list. */
export async function registerInApp(page: Page, base: string, username: string): Promise<void> {
  await page.goto(base + '/')
  await page.getByRole('button', { name: 'Create an account' }).click()
  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Password').fill('correct horse battery')
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByRole('heading', { name: 'Chats' }).waitFor()
}

export interface BrowserUser {
  context: BrowserContext
  page: Page
  /** Console errors, page errors and refused requests (a CSP violation is a console error). */
  problems: string[]
}

/** A fresh browser context (its own storage, as another person's browser) with one page. */
export async function newUser(t: Test, browser: Browser, opts: BrowserContextOptions = {}): Promise<BrowserUser> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'UTC', ...opts })
  defer(t, () => context.close())
  const problems: string[] = []
  const watch = (page: Page): void => {
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  }
  context.on('page', watch)
  const page = await context.newPage()
  return { context, page, problems }
}
