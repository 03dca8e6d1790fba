// The web app's presence dots and long chat list in a real browser: bob sees ann's dot
// online (named "online" for screen readers) by her 1:1 chat, by her messages and in the
// member list, then away when she chooses it; when ann closes her browser, the broker's
// will turns them offline at bob's. A list of more than 100 chats shows the first page and
// loads the rest when scrolled to its end. With CHIME_SCREENSHOTS=1 the list with a
// presence dot is saved to docs/screenshots/.
import { mkdir } from 'node:fs/promises'
import t from 'tap'
import type { Page } from 'playwright-core'
import { ChimeHttp } from '../../clients/sdk/src/index.ts'
import { newUser, startWebApp, registerInApp } from '../helpers/browser.ts'

const SHOTS = process.env['CHIME_SCREENSHOTS'] === '1' ? new URL('../../docs/screenshots/', import.meta.url) : null

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS === null) return
  await mkdir(SHOTS, { recursive: true })
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname })
}

/** The chat list row titled exactly `title`. */
function row(page: Page, title: string) {
  return page.locator('a.row', { has: page.locator('.row-title', { hasText: new RegExp(`^${title}$`) }) })
}

t.test('presence dots and a long chat list in the web app', async (t) => {
  const started = await startWebApp(t)
  if (started === null) return
  const { browser, chime } = started
  const base = chime.baseUrl
  const ann = await newUser(t, browser)
  const bob = await newUser(t, browser)
  const b = bob.page
  await registerInApp(ann.page, base, 'ann')
  await registerInApp(b, base, 'bob')
  const login = async (username: string): Promise<ChimeHttp> => {
    const http = new ChimeHttp({ baseUrl: base })
    const session = await http.login(username, 'correct horse battery')
    return new ChimeHttp({ baseUrl: base, token: session.token })
  }
  const [annApi, bobApi] = [await login('ann'), await login('bob')]
  const bobId = (await bobApi.get<{ user_id: string }>('/api/users/me')).user_id

  await t.test("bob sees ann's dot online, and offline when she closes her browser", async (t) => {
    const server = await annApi.post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'Dots' })
    await bobApi.post(`/api/servers/${server.server_id}/join`)
    await annApi.call('PUT', `/api/favorites/${bobId}`)
    await annApi.request('POST_MESSAGE', { channel_id: server.channel_id, content: 'hello from ann' })

    const dm = row(b, 'ann')
    await dm.locator('.presence[data-presence="online"]').waitFor()
    t.match(await dm.getAttribute('aria-label'), /^ann, online/, "the 1:1 chat's row says online in its name")
    t.equal(await dm.locator('.presence').getAttribute('title'), 'online', 'and in the tooltip of its dot')
    await shot(b, 'presence')

    await row(b, '#general · Dots').click()
    const byAnn = b.locator('article.msg', { has: b.locator('p.text', { hasText: 'hello from ann' }) })
    await byAnn.getByRole('img', { name: 'online' }).waitFor()
    t.pass("a dot named online next to ann's name on her message")

    await b.getByRole('button', { name: 'Server members' }).click()
    const annMember = b.locator('table.members tr', { hasText: '@ann' })
    await annMember.getByRole('img', { name: 'online' }).waitFor()
    t.equal(await b.locator('table.members tr', { hasText: '@bob' }).locator('.presence').count(), 0, 'no dot for bob himself')
    t.pass('the member list shows it too')
    await b.getByRole('button', { name: 'Close' }).click()

    await ann.page.getByRole('button', { name: 'Profile' }).click()
    await ann.page.getByLabel('Show me as').selectOption('away')
    await ann.page.getByRole('button', { name: 'Save' }).click()
    await byAnn.getByRole('img', { name: 'away' }).waitFor()
    t.pass('ann chose to show as away in her profile: bob sees it')

    // Ann closes her browser: her connection ends without a word, the broker's will says offline.
    await ann.context.close()
    await byAnn.getByRole('img', { name: 'offline' }).waitFor({ timeout: 20_000 })
    t.pass("ann's message shows her offline")
    await b.getByRole('link', { name: 'Chats' }).click()
    await dm.locator('.presence[data-presence="offline"]').waitFor()
    t.match(await dm.getAttribute('aria-label'), /^ann, offline/, 'her row says offline')
  })

  await t.test('a list of more than 100 chats loads its next page when scrolled to the end', async (t) => {
    const server = await bobApi.post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'Many rooms' })
    for (let i = 1; i <= 104; i++) await bobApi.post(`/api/servers/${server.server_id}/channels`, { name: `room-${i}` })
    // 2 channels named general, the 1:1 chat, 104 rooms.
    const total = (await bobApi.request<{ total: number }>('LIST_CHATS', { page_size: 1 })).total
    t.equal(total, 107, 'bob has 107 chats and channels')
    await b.reload()
    await b.getByRole('heading', { name: 'Chats' }).waitFor()
    const rows = b.locator('nav[aria-label="Chats and channels"] a.row')
    await rows.nth(99).waitFor()
    t.equal(await rows.count(), 100, 'the first page: 100')
    const more = b.getByRole('button', { name: 'Show more chats' })
    await more.scrollIntoViewIfNeeded()
    await rows.nth(106).waitFor()
    t.equal(await rows.count(), 107, 'scrolled to the end, the rest came')
    t.equal(await more.count(), 0, 'and there is nothing more to load')
    const ids = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-channel')))
    t.equal(new Set(ids).size, 107, 'each once')
  })

  const problems = [...ann.problems, ...bob.problems].filter((p) => /Content Security Policy|page error/.test(p))
  t.same(problems, [], 'no script error and nothing refused by the Content-Security-Policy')
})
