// Access tokens that expire while the CLI runs (CHIME_TOKEN_TTL_SECONDS at its minimum, 60):
// a running `chime tail` renews its token before the expiry and reconnects with the new one
// (the broker refuses the old token at CONNECT once it expired), so a network cut after the
// expiry loses nothing and prints nothing twice; a later command of the other user renews
// its expired token with the refresh token by itself. Embedded profile (what is tested is
// the client's side).
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import type { DeltaJson } from '../../clients/sdk/src/index.ts'
import { tokenTimes } from '../../clients/cli/session.ts'
import { startTestChime } from '../helpers/chime.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/wait.ts'
import { lab } from './run-cli.ts'

const ndjson = (text: string): DeltaJson[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DeltaJson)
const savedToken = async (path: string): Promise<string> => (JSON.parse(await readFile(path, 'utf8')) as { token: string }).token

t.test('tokens that expire while the CLI runs are renewed', async (t) => {
  const chime = await startTestChime(t, { tokenTtlSeconds: 60 })
  const { ann, bob } = await lab(t, chime)
  const firstToken = await savedToken(ann.cli.config)
  const expiresAt = tokenTimes(firstToken)!.expiresAt

  const proxy = await startTcpProxy(t, chime.running.mqttPort!)
  const tail = ann.cli.spawn(['tail', 'general', '--json', '-n', '0', '--mqtt-url', `mqtt://127.0.0.1:${proxy.port}`])
  // Following once its device slot is taken (after it read where the channel ends).
  await waitFor('the tail to follow', async () => ((await stat(join(ann.cli.home, 'chime', 'state', ann.user_id, 'device-1.lock')).catch(() => null)) !== null ? true : undefined))
  const before = await bob.cli.run(['send', 'general', 'before the expiry'])
  t.equal(before.code, 0, before.stderr)
  await tail.waitForOutput('the first post', (out) => (ndjson(out).length >= 1 ? true : undefined))

  const renewed = await waitFor('the tail to renew its token', async () => {
    const token = await savedToken(ann.cli.config)
    return token !== firstToken ? token : undefined
  }, 70_000)
  t.ok(tokenTimes(renewed)!.expiresAt > expiresAt, 'a new token, saved before the old one expired')
  await waitFor('the first token to expire', () => (Date.now() > expiresAt + 1_000 ? true : undefined), 70_000)

  // The network goes after the expiry: the reconnect must use the new token.
  proxy.cut()
  const after = await bob.cli.run(['send', 'general', 'after the expiry'])
  t.equal(after.code, 0, `bob's expired token is renewed for the send: ${after.stderr}`)
  await tail.waitForOutput('the post after the cut', (out) => (ndjson(out).length >= 2 ? true : undefined), 30_000)
  const stopped = await tail.stop('SIGINT')
  t.equal(stopped.code, 0, stopped.stderr)
  t.same(ndjson(stopped.stdout).map((d) => d.content), ['before the expiry', 'after the expiry'], 'each once, in order')
})
