// `chime register`, `login`, `whoami` and `logout` as separate processes against a real
// Chime, on both profiles: the session is saved to a file only its owner can read and the
// token is never printed; passwords come from --password, CHIME_PASSWORD or stdin, and a
// script without one gets an error instead of a prompt; a failed login keeps the session;
// logout revokes the sign-in on the server and removes the file; an access token that has
// expired is renewed with the refresh token without the user noticing.
import { readFile, stat, writeFile } from 'node:fs/promises'
import t, { type Test } from 'tap'
import type { TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { cliUser, jsonError, PASSWORD, uniqueName } from './run-cli.ts'

async function run(t: Test, chime: TestChime): Promise<void> {
  const cli = await cliUser(t, 'acct')
  const username = uniqueName('acct')
  const reg = await cli.run(['register', username, '--password', PASSWORD, '--url', chime.baseUrl])
  t.equal(reg.code, 0, reg.stderr)
  t.match(reg.stdout, `Registered and signed in as ${username} at ${chime.baseUrl}`)
  t.equal((await stat(cli.config)).mode & 0o777, 0o600, 'the session file is readable by its owner only')
  const saved = JSON.parse(await readFile(cli.config, 'utf8')) as Record<string, unknown>
  t.match(saved, { url: chime.baseUrl, username, user_id: String, token: String, refresh_token: String })
  t.notMatch(reg.stdout, saved['token'] as string, 'the token is never printed')

  const [who, taken, wrong, noPassword] = await Promise.all([
    cli.run(['whoami', '--json']),
    cli.run(['register', username, '--password', PASSWORD, '--json']),
    cli.run(['login', username, '--password', 'not the password', '--json']),
    cli.run(['login', username, '--json']),
  ])
  t.equal(who.code, 0, who.stderr)
  t.match(JSON.parse(who.stdout), { user_id: saved['user_id'], username, url: chime.baseUrl }, 'whoami: the session as the server sees it, no --url needed')
  t.equal(taken.code, 1, 'a username taken: exit 1')
  t.equal(jsonError(taken).code, 'USERNAME_TAKEN')
  t.equal(wrong.code, 3, 'a wrong password: exit 3')
  t.equal(jsonError(wrong).code, 'INVALID_CREDENTIALS')
  t.equal(noPassword.code, 2, 'no password and no terminal: exit 2 rather than waiting for input')
  t.match(jsonError(noPassword), { code: 'INVALID_FIELD', details: { field: 'password' } })
  t.same(JSON.parse(await readFile(cli.config, 'utf8')), saved, 'failed sign-ins leave the saved session as it was')

  const fromEnv = await cli.run(['login', username], { env: { CHIME_PASSWORD: PASSWORD } })
  t.equal(fromEnv.code, 0, `CHIME_PASSWORD signs in: ${fromEnv.stderr}`)
  const fromStdin = await cli.run(['login', username, '--password-stdin', '--json'], { input: `${PASSWORD}\n` })
  t.equal(fromStdin.code, 0, `--password-stdin signs in: ${fromStdin.stderr}`)
  t.match(JSON.parse(fromStdin.stdout), { username, url: chime.baseUrl, config: cli.config })

  // An expired access token (its exp in the past) is exchanged with the refresh token.
  const current = JSON.parse(await readFile(cli.config, 'utf8')) as { token: string; refresh_token: string }
  const [head, , sig] = current.token.split('.')
  const expiredClaims = Buffer.from(JSON.stringify({ sub: saved['user_id'], exp: Math.floor(Date.now() / 1000) - 60, iat: Math.floor(Date.now() / 1000) - 3600 })).toString('base64url')
  await writeFile(cli.config, JSON.stringify({ ...current, token: `${head}.${expiredClaims}.${sig}` }))
  const renewed = await cli.run(['servers', '--json'])
  t.equal(renewed.code, 0, `an expired token is renewed: ${renewed.stderr}`)
  const after = JSON.parse(await readFile(cli.config, 'utf8')) as { token: string; refresh_token: string }
  t.not(after.refresh_token, current.refresh_token, 'with a new refresh token, saved')
  t.equal((await chime.http('GET', '/api/servers', { token: after.token })).status, 200, 'and a valid access token')

  const out = await cli.run(['logout', '--json'])
  t.equal(out.code, 0, out.stderr)
  t.same(JSON.parse(out.stdout), { signed_out: true, revoked_sessions: 1 })
  await t.rejects(stat(cli.config), { code: 'ENOENT' }, 'the session file is gone')
  t.equal((await chime.http('GET', '/api/servers', { token: after.token })).status, 401, 'and the sign-in is revoked on the server')
  const [signedOut, again] = await Promise.all([cli.run(['servers', '--json']), cli.run(['logout'])])
  t.equal(signedOut.code, 3, 'signed out: exit 3')
  t.equal(jsonError(signedOut).code, 'UNAUTHENTICATED')
  t.equal(again.stdout.trim(), 'Not signed in.', 'logging out twice is harmless')
}

t.test('signing in and out with the chime CLI', async (t) => {
  await eachProfile(t, 'cli account', run)
})
