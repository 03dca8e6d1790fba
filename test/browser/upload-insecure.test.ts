// Uploading from a page without crypto.subtle, as a browser gives a page opened over plain
// http from a LAN address: the SDK hashes the file with its JS SHA-256 (loaded only then), a
// chunk at a time, and the upload of a file in several parts completes (the API checks the
// digest, so a wrong one would be CHECKSUM_MISMATCH), the same digest node computes.
import { createHash } from 'node:crypto'
import t from 'tap'
import { newUser, startWebApp } from '../helpers/browser.ts'

t.test('an upload from a page without crypto.subtle', async (t) => {
  const started = await startWebApp(t)
  if (started === null) return
  const { browser, chime } = started
  const ann = await newUser(t, browser)
  const a = ann.page
  // What an insecure context lacks: crypto.subtle (crypto.getRandomValues stays).
  // (A script as text: the test's own functions are compiled with helpers the page lacks.)
  await a.addInitScript({ content: "Object.defineProperty(Crypto.prototype, 'subtle', { get() { return undefined }, configurable: true })" })
  const fallbackLoaded: string[] = []
  a.on('request', (r) => {
    if (/\/assets\/sha2-[^/]*\.js$/.test(r.url())) fallbackLoaded.push(r.url())
  })

  const { token } = await chime.register('ann')
  const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token, body: { name: 'Plain' } })).body
  await a.goto(`${chime.baseUrl}/s/${server.server_id}/c/${server.channel_id}`)
  await a.getByLabel('Username').fill('ann')
  await a.getByLabel('Password').fill('correct horse battery')
  await a.getByRole('button', { name: 'Sign in' }).click()
  await a.getByLabel('Message #general').waitFor()
  t.equal(await a.evaluate(() => String(crypto.subtle)), 'undefined', 'the page has no crypto.subtle')
  t.equal(fallbackLoaded.length, 0, 'the JS SHA-256 is not part of the first load')

  // 9 MiB and a bit: above the 8 MiB part size (two parts), three 4 MiB hashing chunks.
  const bytes = Buffer.alloc(9 * 1024 * 1024 + 124)
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((i * 2654435761) >>> 0, i)
  await a.getByLabel('Attach files').setInputFiles({ name: 'survey.bin', mimeType: 'application/octet-stream', buffer: bytes })
  await a.locator('article.msg:not(.pending)', { hasText: 'survey.bin' }).waitFor({ timeout: 30_000 })
  t.pass('the file was uploaded and posted')
  t.equal(fallbackLoaded.length, 1, 'with the JS SHA-256, loaded when it was needed')

  const list = (await chime.http<{ data: { messages: { attachments?: { file_id: string }[] }[] } }>('POST', '/api/requests', { token, body: { action: 'LIST_MESSAGES', data: { channel_id: server.channel_id } } })).body.data
  const fileId = list.messages.at(-1)?.attachments?.[0]?.file_id
  t.ok(fileId, 'the message has the file')
  const link = (await chime.http<{ data: { sha256: string; size: number } }>('POST', '/api/requests', { token, body: { action: 'DOWNLOAD_FILE', data: { file_id: fileId } } })).body.data
  t.equal(link.size, bytes.length)
  t.equal(link.sha256, createHash('sha256').update(bytes).digest('hex'), "the digest the page announced is node's")

  const problems = ann.problems.filter((p) => /Content Security Policy|page error/.test(p))
  t.same(problems, [], 'no script error and nothing refused by the Content-Security-Policy')
})
