// The web app end to end in a real browser (Debian's chromium): two people in two browser
// contexts register, one creates a server and an invitation, the other joins by it; they
// chat in real time with a reply, an edit, a reaction, a deletion, typing and a picture.
// Then one loses its network (a proxy drops its connections), messages arrive meanwhile, and
// when the network is back it shows them in order with the right unread count; the same
// after closing the tab and opening the app again. No CSP violation or script error occurs.
// With CHIME_SCREENSHOTS=1 the main screens are saved to docs/screenshots/.
import { mkdir } from 'node:fs/promises'
import t from 'tap'
import sharp from 'sharp'
import type { Page } from 'playwright-core'
import { newUser, startWebApp, registerInApp } from '../helpers/browser.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

const SHOTS = process.env['CHIME_SCREENSHOTS'] === '1' ? new URL('../../docs/screenshots/', import.meta.url) : null

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS === null) return
  await mkdir(SHOTS, { recursive: true })
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname })
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message #general').fill(text)
  await page.getByLabel('Message #general').press('Enter')
}

/** A message of the chat view by its text. */
function message(page: Page, text: string) {
  return page.locator('article.msg:not(.pending)', { has: page.locator('p.text', { hasText: text }) })
}

async function texts(page: Page): Promise<string[]> {
  return page.locator('article.msg:not(.pending) p.text').allTextContents()
}

/** The unread badge of a chat list row (empty text when there is none). */
async function unreadBadge(page: Page, name: string): Promise<string> {
  const badge = page.locator('a.row', { hasText: name }).getByTestId('unread')
  return (await badge.count()) === 0 ? '' : (await badge.textContent()) ?? ''
}

async function waitForBadge(page: Page, name: string, expected: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while ((await unreadBadge(page, name)) !== expected) {
    if (Date.now() > deadline) throw new Error(`the badge of ${name} shows "${await unreadBadge(page, name)}", not "${expected}"`)
    await page.waitForTimeout(50)
  }
}

t.test('two people chat in the web app, one goes offline and catches up', async (t) => {
  const started = await startWebApp(t)
  if (started === null) return
  const { browser, chime } = started
  // Bob's browser reaches Chime through a proxy that can drop his connections.
  const proxy = await startTcpProxy(t, chime.running.httpPort!)
  const annBase = chime.baseUrl
  const bobBase = `http://127.0.0.1:${proxy.port}`
  const ann = await newUser(t, browser)
  const bob = await newUser(t, browser)
  const a = ann.page
  let b = bob.page

  await a.goto(annBase + '/')
  await a.getByRole('heading', { name: 'Sign in to Chime' }).waitFor()
  await shot(a, 'sign-in')
  await registerInApp(a, annBase, 'ann')
  await registerInApp(b, bobBase, 'bob')
  t.pass('both registered and see their chat list')

  await a.getByRole('button', { name: 'New server' }).first().click()
  await a.getByLabel('Server name').fill('Book club')
  await a.getByRole('button', { name: 'Create server' }).click()
  await a.getByRole('heading', { name: '#general' }).waitFor()
  await a.getByRole('button', { name: 'Invite people' }).first().click()
  const link = await a.getByTestId('invite-link').inputValue()
  t.match(link, /\/invite\/[A-Za-z0-9_-]+$/, 'the invitation is a link to the app')
  await a.getByRole('button', { name: 'Close' }).click()

  await b.goto(link.replace(annBase, bobBase))
  await b.getByText('You are invited to join').waitFor()
  await b.getByRole('button', { name: 'Accept invitation' }).click()
  await b.getByRole('heading', { name: '#general' }).waitFor()
  t.pass('bob joined the server by the invitation and sees #general')

  await t.test('messages arrive in real time, with reply, edit, reaction, typing and deletion', async (t) => {
    await send(a, 'Hello Bob!')
    await message(b, 'Hello Bob!').waitFor()
    t.pass("ann's message shows at bob's at once")

    await message(b, 'Hello Bob!').hover()
    await message(b, 'Hello Bob!').getByRole('button', { name: 'Reply' }).click()
    await b.getByText('Replying to').waitFor()
    await send(b, 'Hi Ann, glad to be here')
    const reply = message(a, 'Hi Ann, glad to be here')
    await reply.waitFor()
    t.equal(await reply.locator('.quote .quote-text').textContent(), 'Hello Bob!', 'the reply shows the quoted original')

    await message(a, 'Hello Bob!').hover()
    await message(a, 'Hello Bob!').getByRole('button', { name: 'Edit' }).click()
    await a.getByText('Editing your message').waitFor()
    await a.getByLabel('Message #general').fill('Hello Bob, welcome!')
    await a.getByLabel('Message #general').press('Enter')
    await message(b, 'Hello Bob, welcome!').waitFor()
    t.match(await message(b, 'Hello Bob, welcome!').locator('.msg-head').textContent(), /\(edited\)/, 'the edit shows at bob with "(edited)"')
    t.equal(await message(b, 'Hi Ann, glad to be here').locator('.quote .quote-text').textContent(), 'Hello Bob!', 'the quote keeps the original as it was when replied to')

    await b.getByLabel('Message #general').pressSequentially('still typ')
    await a.getByText('bob is typing…').waitFor()
    t.pass('ann sees that bob is typing')
    await b.getByLabel('Message #general').fill('')
    await b.getByLabel('Message #general').blur()

    await reply.hover()
    await reply.getByRole('button', { name: 'Add a reaction' }).click()
    await reply.getByRole('button', { name: 'React with 👍' }).click()
    await message(b, 'Hi Ann, glad to be here').getByRole('button', { name: '👍 1' }).waitFor()
    t.pass("ann's reaction shows on bob's message at bob's")

    a.once('dialog', (d) => void d.accept())
    await send(a, 'oops, wrong chat')
    await message(b, 'oops, wrong chat').waitFor()
    await message(a, 'oops, wrong chat').hover()
    await message(a, 'oops, wrong chat').getByRole('button', { name: 'Delete' }).click()
    await b.getByText('This message was deleted.').waitFor()
    t.equal(await message(b, 'oops, wrong chat').count(), 0, 'the deleted message is gone at bob')

    const picture = await sharp(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="480" height="320"><defs><linearGradient id="g"><stop offset="0" stop-color="#4f46e5"/><stop offset="1" stop-color="#22c55e"/></linearGradient></defs><rect width="480" height="320" fill="url(#g)"/><circle cx="240" cy="160" r="90" fill="#fde68a"/></svg>')).png().toBuffer()
    await a.getByLabel('Attach files').setInputFiles({ name: 'sunrise.png', mimeType: 'image/png', buffer: picture })
    const img = b.getByRole('img', { name: 'sunrise.png' })
    await img.waitFor()
    await b.waitForFunction(() => {
      const el = document.querySelector<HTMLImageElement>('img[alt="sunrise.png"]')
      return el !== null && el.complete && el.naturalWidth > 0
    })
    t.pass('the picture arrives at bob and its thumbnail loads')
    await a.getByRole('img', { name: 'sunrise.png' }).waitFor()
    await a.waitForFunction(() => document.querySelector<HTMLImageElement>('img[alt="sunrise.png"]')?.naturalWidth !== 0)
    await shot(a, 'chat')
  })

  await t.test('bob loses the network: messages that arrive meanwhile show in order with their unread count', async (t) => {
    await b.getByRole('link', { name: 'Chats' }).click()
    await b.getByRole('heading', { name: 'Chats' }).waitFor()
    t.equal(await unreadBadge(b, '#general'), '', 'nothing unread before')

    proxy.hold()
    proxy.cut()
    await b.locator('.connection').waitFor()
    t.pass('bob sees that he is offline')
    for (const text of ['one', 'two', 'three']) await send(a, text)
    await message(a, 'three').waitFor()
    proxy.release()
    await b.locator('.connection').waitFor({ state: 'detached', timeout: 40_000 })
    await waitForBadge(b, '#general', '3')
    t.pass('back online, #general shows 3 unread')
    await shot(b, 'home')

    await b.locator('a.row', { hasText: '#general' }).click()
    await message(b, 'three').waitFor()
    const shown = await texts(b)
    t.same(shown.slice(-3), ['one', 'two', 'three'], 'the missed messages show in the order they were sent')
    await b.getByRole('link', { name: 'Chats' }).click()
    await waitForBadge(b, '#general', '')
    t.pass('reading them clears the badge')
  })

  await t.test('bob closes the app; the next start shows what came meanwhile', async (t) => {
    await b.close()
    await send(a, 'four')
    await message(a, 'four').waitFor()
    await send(a, 'five')
    await message(a, 'five').waitFor()
    b = await bob.context.newPage()
    await b.goto(bobBase + '/')
    await b.getByRole('heading', { name: 'Chats' }).waitFor()
    await waitForBadge(b, '#general', '2')
    t.pass('still signed in; #general shows 2 unread')
    await b.locator('a.row', { hasText: '#general' }).click()
    await message(b, 'five').waitFor()
    t.same((await texts(b)).slice(-5), ['one', 'two', 'three', 'four', 'five'], 'all in order')
  })

  await t.test("on a phone's width the list and the chat show one at a time", async (t) => {
    await a.setViewportSize({ width: 375, height: 740 })
    await a.getByRole('button', { name: 'Back to the list' }).waitFor()
    t.notOk(await a.getByRole('navigation', { name: 'Servers' }).isVisible(), 'the chat fills the screen')
    await shot(a, 'chat-phone')
    await a.getByRole('button', { name: 'Back to the list' }).click()
    await a.getByRole('navigation', { name: 'Channels' }).waitFor()
    t.pass('back shows the list')
  })

  const problems = [...ann.problems, ...bob.problems].filter((p) => /Content Security Policy|page error/.test(p))
  t.same(problems, [], 'no script error and nothing refused by the Content-Security-Policy')
})
