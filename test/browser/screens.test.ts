// The web app's other screens in a real browser, each doing what it says against a running
// Chime: signing in with the keyboard alone, adding a friend by username and chatting 1:1,
// a group made and managed (a member added, one removed), server management (a role given,
// a member kicked, one banned), the profile's display name, notification settings, message
// search, user content shown as text, never as HTML, and a long channel rendered a window
// at a time with older pages loaded on scrolling up.
import t from 'tap'
import type { Page } from 'playwright-core'
import type { TestChime } from '../helpers/chime.ts'
import { newUser, startWebApp, registerInApp } from '../helpers/browser.ts'

async function send(page: Page, label: string, text: string): Promise<void> {
  await page.getByLabel(label).fill(text)
  await page.getByLabel(label).press('Enter')
}

function message(page: Page, text: string | RegExp) {
  return page.locator('article.msg:not(.pending)', { has: page.locator('p.text', { hasText: text }) })
}

async function apiUser(chime: TestChime, username: string) {
  const r = await chime.http<{ user_id: string; token: string }>('POST', '/api/auth/login', { body: { username, password: 'correct horse battery' } })
  return r.body
}

t.test('the screens of the web app', async (t) => {
  const started = await startWebApp(t)
  if (started === null) return
  const { browser, chime } = started
  const base = chime.baseUrl
  const ann = await newUser(t, browser)
  const bob = await newUser(t, browser)
  const a = ann.page
  const b = bob.page

  await t.test('signing in works with the keyboard alone', async (t) => {
    await chime.register('kim')
    await a.goto(base + '/')
    await a.getByLabel('Username').waitFor()
    await a.keyboard.type('kim')
    await a.keyboard.press('Tab')
    await a.keyboard.type('correct horse battery')
    await a.keyboard.press('Enter')
    await a.getByRole('heading', { name: 'Chats' }).waitFor()
    t.pass('the username field has the focus first; Tab moves to the password; Enter signs in')
    await a.getByRole('button', { name: 'Sign out' }).click()
    await a.getByRole('heading', { name: 'Sign in to Chime' }).waitFor()
    await a.getByLabel('Username').fill('kim')
    await a.getByLabel('Password').fill('wrong password!')
    await a.getByRole('button', { name: 'Sign in' }).click()
    t.match(await a.getByRole('alert').textContent(), /password/i, 'a wrong password is said in words')
  })

  await registerInApp(a, base, 'ann')
  await registerInApp(b, base, 'bob')

  await t.test('add a friend by username and chat 1:1', async (t) => {
    await a.getByRole('button', { name: 'Add a friend' }).first().click()
    await a.getByLabel('Their username').fill('bob')
    await a.getByRole('button', { name: 'Find' }).click()
    await a.getByRole('button', { name: 'Send a message' }).click()
    await a.getByRole('heading', { name: 'bob' }).waitFor()
    await send(a, 'Message bob', 'hi bob, it is ann <b>bold?</b> <img src=x onerror=alert(1)>')
    await b.locator('a.row', { hasText: 'ann' }).getByTestId('unread').waitFor()
    t.equal(await b.locator('a.row', { hasText: 'ann' }).getByTestId('unread').textContent(), '1', 'bob sees the new chat with 1 unread')
    await b.locator('a.row', { hasText: 'ann' }).click()
    const m = message(b, 'hi bob, it is ann')
    await m.waitFor()
    t.equal(await m.locator('p.text').textContent(), 'hi bob, it is ann <b>bold?</b> <img src=x onerror=alert(1)>', 'markup in a message is shown as text')
    t.equal(await m.locator('p.text b, p.text img').count(), 0, 'and never becomes elements')
  })

  await t.test('a group: created, a member added and one removed', async (t) => {
    await chime.register('cat')
    await chime.register('dan')
    await a.getByRole('link', { name: 'Chats' }).click()
    await a.getByRole('button', { name: 'New group' }).first().click()
    await a.getByLabel('Group name').fill('Climbing')
    for (const name of ['bob', 'cat']) {
      await a.getByLabel('Add people by username').fill(name)
      await a.getByRole('button', { name: 'Add', exact: true }).click()
      await a.getByRole('list', { name: 'People to add' }).getByText(name).waitFor()
    }
    await a.getByRole('button', { name: 'Create group' }).click()
    await a.getByRole('heading', { name: 'Climbing' }).waitFor()
    await send(a, 'Message Climbing', 'Saturday at the wall?')
    await b.getByRole('link', { name: 'Chats' }).click()
    await b.locator('a.row', { hasText: 'Climbing' }).waitFor()
    t.pass('bob has the group in his list')

    await a.getByRole('button', { name: 'Group settings' }).click()
    await a.getByLabel('Add people by username').fill('dan')
    await a.getByRole('button', { name: 'Add', exact: true }).click()
    await a.getByRole('button', { name: 'Add to the group' }).click()
    await a.getByRole('dialog').locator('li', { hasText: 'dan' }).getByRole('button', { name: 'Remove' }).waitFor()
    await a.getByRole('dialog').locator('li', { hasText: 'cat' }).getByRole('button', { name: 'Remove' }).click()
    await a.getByRole('dialog').locator('li', { hasText: 'cat' }).waitFor({ state: 'detached' })
    const members = (await chime.http<{ members: { username: string }[] }>('GET', `/api/chats/${a.url().split('/c/')[1]}`, { token: (await apiUser(chime, 'ann')).token })).body.members
    t.same(members.map((m) => m.username).sort(), ['ann', 'bob', 'dan'], 'the group is ann, bob and dan')
    await a.getByRole('button', { name: 'Close' }).click()
  })

  await t.test('server management: a role, a kick and a ban', async (t) => {
    await a.getByRole('button', { name: 'New server' }).first().click()
    await a.getByLabel('Server name').fill('Guild')
    await a.getByLabel('Anyone can find and join it').check()
    await a.getByRole('button', { name: 'Create server' }).click()
    await a.getByRole('heading', { name: '#general' }).waitFor()
    const serverId = a.url().split('/s/')[1]!.split('/')[0]!
    const annApi = await apiUser(chime, 'ann')
    for (const name of ['bob', 'cat', 'dan']) {
      const u = await apiUser(chime, name)
      t.equal((await chime.http('POST', `/api/servers/${serverId}/join`, { token: u.token })).status, 200, `${name} joins the public server`)
    }
    await a.getByRole('button', { name: 'Manage server' }).click()
    const row = (name: string) => a.getByRole('dialog').locator('tr', { hasText: `@${name}` })
    await row('bob').waitFor()
    await row('bob').getByLabel('Role of bob').selectOption('moderator')
    a.on('dialog', (d) => void d.accept())
    await row('cat').getByRole('button', { name: 'Kick' }).click()
    await row('cat').waitFor({ state: 'detached' })
    await row('dan').getByRole('button', { name: 'Ban' }).click()
    await row('dan').waitFor({ state: 'detached' })
    await a.getByRole('dialog').getByRole('button', { name: 'Unban' }).waitFor()
    const list = (await chime.http<{ members: { username: string; role: string }[] }>('GET', `/api/servers/${serverId}/members`, { token: annApi.token })).body.members
    t.same(list.map((m) => `${m.username}:${m.role}`).sort(), ['ann:owner', 'bob:moderator'], 'bob is a moderator; cat was kicked; dan was banned')
    const bans = (await chime.http<{ bans: unknown[] }>('GET', `/api/servers/${serverId}/bans`, { token: annApi.token })).body.bans
    t.equal(bans.length, 1, 'dan is on the ban list')
    await a.getByRole('button', { name: 'Close' }).click()
  })

  await t.test('profile, notification settings and search', async (t) => {
    await a.getByRole('button', { name: 'Profile' }).click()
    await a.getByLabel('Display name').fill('Ann Lee')
    await a.getByRole('button', { name: 'Save' }).click()
    await a.getByText('Profile saved').waitFor()
    const me = (await chime.http<{ display_name: string }>('GET', '/api/users/me', { token: (await apiUser(chime, 'ann')).token })).body
    t.equal(me.display_name, 'Ann Lee', 'the display name is saved')

    await send(a, 'Message #general', 'the quarterly budget meeting is on Thursday')
    await message(a, 'quarterly budget').waitFor()
    await a.getByRole('button', { name: 'Notification settings for this conversation' }).click()
    await a.getByLabel('Every message').check()
    await a.getByRole('button', { name: 'Save' }).click()
    await a.getByText('Notification settings saved').waitFor()
    const channelId = a.url().split('/c/')[1]!
    const setting = (await chime.http<{ data: { level: string; source: string } }>('POST', '/api/requests', { token: (await apiUser(chime, 'ann')).token, body: { action: 'GET_NOTIFICATIONS', data: { channel_id: channelId } } })).body.data
    t.same([setting.level, setting.source], ['all', 'channel'], 'the channel is set to every message')

    await a.getByRole('link', { name: 'Chats' }).click()
    await a.getByRole('button', { name: 'Search messages' }).click()
    await a.getByLabel('Words to find').fill('budget meet')
    await a.getByLabel('Words to find').press('Enter')
    const hit = a.getByRole('dialog').getByRole('link', { name: /quarterly budget meeting/ })
    await hit.waitFor()
    await hit.click()
    await message(a, 'quarterly budget').waitFor()
    t.pass('search finds the message and opens its channel')
  })

  await t.test('a long channel: only what is on screen is rendered; older pages load on scrolling up', async (t) => {
    const annApi = await apiUser(chime, 'ann')
    const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: annApi.token, body: { name: 'Archive' } })).body
    const posts = Array.from({ length: 400 }, (_, i) => ({ action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content: `entry ${i + 1}`, client_msg_id: `long${i}` } }))
    t.equal((await chime.http('POST', '/api/requests', { token: annApi.token, body: posts })).status, 200)
    await a.goto(`${base}/s/${server.server_id}/c/${server.channel_id}`)
    await message(a, 'entry 400').waitFor()
    const rendered = await a.locator('article.msg').count()
    t.ok(rendered > 5 && rendered < 60, `${rendered} of 400 messages are in the page`)
    const list = a.getByRole('log', { name: 'Messages in #general' })
    for (let i = 0; i < 30 && (await message(a, /^entry 1$/).count()) === 0; i++) {
      await list.evaluate((el) => { el.scrollTop = 0 })
      await a.waitForTimeout(150)
    }
    await message(a, /^entry 1$/).waitFor()
    t.pass('scrolling up loads older pages down to the first message')
    const seqs = await a.locator('article.msg').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))))
    t.ok(seqs.length < 60, 'still only a window is rendered')
    t.same(seqs, [...seqs].sort((x, y) => x - y), 'in order')
  })

  const problems = [...ann.problems, ...bob.problems].filter((p) => /Content Security Policy|page error/.test(p))
  t.same(problems, [], 'no script error and nothing refused by the Content-Security-Policy')
})
