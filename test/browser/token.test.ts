// Access tokens that expire while the web app is open (CHIME_TOKEN_TTL_SECONDS at its
// minimum, 60): once bob's token has expired his network drops; the broker would refuse the
// old token, so the app renews it with the refresh token and hands it to the realtime
// client, which reconnects with it and goes on receiving.
import t from 'tap'
import type { Page } from 'playwright-core'
import { ChimeHttp } from '../../clients/sdk/src/index.ts'
import { newUser, startWebApp } from '../helpers/browser.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/wait.ts'

async function keptToken(page: Page): Promise<string> {
  return page.evaluate(() => (JSON.parse(localStorage.getItem('chime.session') ?? '{}') as { token: string }).token)
}

function expiresAt(token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000
}

t.test('a token that expired while the web app was open is renewed for the next connection', async (t) => {
  const started = await startWebApp(t, { tokenTtlSeconds: 60 })
  if (started === null) return
  const { browser, chime } = started
  const proxy = await startTcpProxy(t, chime.running.httpPort!)
  const base = `http://127.0.0.1:${proxy.port}`
  const bob = await newUser(t, browser)
  const b = bob.page
  await b.goto(base + '/')
  await b.getByRole('button', { name: 'Create an account' }).click()
  await b.getByLabel('Username').fill('bob')
  await b.getByLabel('Password').fill('correct horse battery')
  await b.getByRole('button', { name: 'Create account' }).click()
  await b.getByRole('heading', { name: 'Chats' }).waitFor()

  const ann = await chime.register('ann')
  const first = await keptToken(b)
  const server = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: ann.token, body: { name: 'Expiry' } })
  await chime.http('POST', `/api/servers/${server.body.server_id}/join`, { token: first })
  await b.locator('a.row', { hasText: '#general' }).waitFor()

  await waitFor("bob's first token to expire", () => (Date.now() > expiresAt(first) + 1_000 ? true : undefined), 70_000)
  proxy.cut()
  await b.locator('.connection').waitFor()
  t.pass('bob is offline')
  await b.locator('.connection').waitFor({ state: 'detached', timeout: 45_000 })
  const renewed = await keptToken(b)
  t.not(renewed, first, 'a renewed token is kept')
  t.ok(expiresAt(renewed) > Date.now(), 'and it is valid')

  // Ann's first token has expired too: she signs in again to post.
  const annHttp = new ChimeHttp({ baseUrl: chime.baseUrl })
  await annHttp.login('ann', 'correct horse battery')
  await annHttp.request('POST_MESSAGE', { channel_id: server.body.channel_id, content: 'after the renewal' })
  await b.locator('a.row', { hasText: 'after the renewal' }).waitFor()
  t.pass('back online with the renewed token, messages arrive live')

  const problems = bob.problems.filter((p) => /Content Security Policy|page error/.test(p))
  t.same(problems, [], 'no script error')
})
