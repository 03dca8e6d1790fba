// A search hit opens its channel at the message, not at the newest page: in a channel of 300
// messages, the one hit (the 20th) is in view, highlighted, focused and announced; only a
// window of messages is rendered; scrolling down loads newer pages until the newest message,
// after which the view follows the channel live again (a new message shows at the bottom).
import t from 'tap'
import type { Locator, Page } from 'playwright-core'
import { newUser, startWebApp } from '../helpers/browser.ts'
import { waitFor } from '../helpers/wait.ts'

function message(page: Page, text: string | RegExp): Locator {
  return page.locator('article.msg:not(.pending)', { has: page.locator('p.text', { hasText: text }) })
}

/** Whether the element is inside the list's visible area. */
async function inView(list: Locator, el: Locator): Promise<boolean> {
  const [l, e] = [await list.boundingBox(), await el.boundingBox()]
  return l !== null && e !== null && e.y >= l.y - 1 && e.y + Math.min(e.height, 20) <= l.y + l.height + 1
}

t.test('a search hit opens its channel at the message', async (t) => {
  const started = await startWebApp(t)
  if (started === null) return
  const { browser, chime } = started
  const base = chime.baseUrl
  const ann = await newUser(t, browser)
  const a = ann.page

  const { token } = await chime.register('ann')
  const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token, body: { name: 'Logbook' } })).body
  const text = (i: number): string => (i === 20 ? 'entry 20 mentions the zeppelin hangar' : `entry ${i}`)
  const posts = Array.from({ length: 300 }, (_, i) => ({ action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content: text(i + 1), client_msg_id: `log${i}` } }))
  t.equal((await chime.http('POST', '/api/requests', { token, body: posts })).status, 200, '300 messages posted')

  await a.goto(base + '/')
  await a.getByLabel('Username').fill('ann')
  await a.getByLabel('Password').fill('correct horse battery')
  await a.getByRole('button', { name: 'Sign in' }).click()
  await a.getByRole('heading', { name: 'Chats' }).waitFor()

  await a.getByRole('button', { name: 'Search messages' }).click()
  await a.getByLabel('Words to find').fill('zeppelin')
  await a.getByLabel('Words to find').press('Enter')
  const hit = a.getByRole('dialog').getByRole('link', { name: /zeppelin hangar/ })
  await hit.waitFor()
  t.equal(await a.getByRole('dialog').getByRole('link').count(), 1, 'one hit')
  await hit.click()

  const list = a.getByRole('log', { name: 'Messages in #general' })
  const target = message(a, 'zeppelin hangar')
  await target.waitFor()
  await waitFor('the hit in view', async () => ((await inView(list, target)) ? true : undefined), 10_000)
  t.pass('the message hit is in view')
  t.match(await target.getAttribute('class'), /\bhighlight\b/, 'and highlighted')
  await waitFor('the hit focused', () => target.evaluate((el) => el.parentElement === document.activeElement || undefined), 10_000)
  t.pass('the focus is on it')
  t.match(await a.locator('.chat p[role="status"]').textContent(), /^Showing the message from ann/, 'and a status line says so for screen readers')
  t.equal(await message(a, /^entry 300$/).count(), 0, 'the newest message is not loaded')
  t.ok(await a.getByRole('button', { name: 'Jump to the newest messages' }).isVisible(), 'a button leads to the newest')
  await waitFor('the highlight gone', async () => (/\bhighlight\b/.test((await target.getAttribute('class')) ?? '') ? undefined : true), 10_000)
  t.pass('the highlight is brief')

  // Older ones above it, newer ones below, as the reader scrolls.
  t.ok(await message(a, /^entry 19$/).count() === 1 && (await message(a, /^entry 21$/).count()) === 1, 'its neighbours are shown')
  const seqsOf = (): Promise<number[]> => a.locator('article.msg').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))))
  let maxRendered = 0
  await waitFor('the newest message after scrolling down', async () => {
    await list.evaluate((el) => { el.scrollTop = el.scrollHeight })
    const seqs = await seqsOf()
    maxRendered = Math.max(maxRendered, seqs.length)
    return (await message(a, /^entry 300$/).count()) === 1 ? true : undefined
  }, 30_000)
  t.pass('scrolling down reaches the newest message')
  const seqs = await seqsOf()
  t.same(seqs, [...new Set(seqs)].sort((x, y) => x - y), 'in order, each once')
  // The list renders what its viewport shows plus 800 px either side (VirtualList's overscan).
  const fits = await list.evaluate((el) => {
    const rows = [...el.querySelectorAll('article.msg')].map((r) => r.getBoundingClientRect().height).filter((h) => h > 0)
    return Math.ceil((el.clientHeight + 2 * 800) / Math.min(...rows)) + 2
  })
  t.ok(maxRendered <= fits && maxRendered < 150, `still only a window is rendered (at most ${maxRendered} of 300; ${fits} fit the viewport and its overscan)`)
  await a.getByRole('button', { name: 'Jump to the newest messages' }).waitFor({ state: 'detached' })
  t.pass('at the live end the button goes')

  // Live again: a new message shows at the bottom and the list stays there.
  t.equal((await chime.http('POST', '/api/requests', { token, body: { action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content: 'entry 301, live' } } })).status, 200)
  const live = message(a, 'entry 301, live')
  await live.waitFor()
  await waitFor('the new message in view', async () => ((await inView(list, live)) ? true : undefined), 10_000)
  t.pass('a new message shows at the bottom, in view')

  // Searching in the open channel moves its view; scrolling up from the hit loads older pages.
  await a.getByRole('button', { name: 'Search in this conversation' }).click()
  await a.getByLabel('Words to find').fill('zeppelin')
  await a.getByLabel('Words to find').press('Enter')
  await a.getByRole('dialog').getByRole('link', { name: /zeppelin hangar/ }).click()
  await waitFor('the hit in view again', async () => ((await message(a, /^entry 300$/).count()) === 0 && (await inView(list, target)) ? true : undefined), 10_000)
  t.pass('a hit in the channel already open moves the view to it')
  await waitFor('the first message after scrolling up', async () => {
    await list.evaluate((el) => { el.scrollTop = 0 })
    return (await message(a, /^entry 1$/).count()) === 1 ? true : undefined
  }, 30_000)
  t.pass('scrolling up reaches the first message')

  const problems = ann.problems.filter((p) => /Content Security Policy|page error/.test(p))
  t.same(problems, [], 'no script error and nothing refused by the Content-Security-Policy')
})
