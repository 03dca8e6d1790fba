// Single sign-on with an external OpenID Connect issuer: the test plays the issuer (an RS256
// key pair and its JWKS served on an ephemeral port) and signs ID tokens itself.
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { createServer, type Server } from 'node:http'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { startTestChime, type TestChime } from '../helpers/chime.ts'
import { defer } from '../helpers/cleanup.ts'
import { expectError } from '../helpers/expect.ts'
import type { AuthAnswer } from '../../api/src/services/accounts.ts'

const ISSUER = 'https://id.example.test/realms/acme'
const AUDIENCE = 'chime-web'

type Auth = AuthAnswer & { created: boolean }

interface Issuer {
  jwksUrl: string
  requests: () => number
  sign(claims: JWTPayload, opts?: { issuer?: string; audience?: string; expires?: string | number; key?: 'good' | 'stranger'; alg?: string }): Promise<string>
}

async function startIssuer(t: Test): Promise<Issuer> {
  const good = await generateKeyPair('RS256', { extractable: true })
  const stranger = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(good.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' }
  let requests = 0
  const server: Server = createServer((req, res) => {
    requests++
    if (req.url !== '/jwks') {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  defer(t, () => new Promise<void>((r) => server.close(() => r())))
  const port = (server.address() as { port: number }).port
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks`,
    requests: () => requests,
    async sign(claims, opts = {}) {
      const key: CryptoKey = opts.key === 'stranger' ? stranger.privateKey : good.privateKey
      return new SignJWT(claims)
        .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: 'key-1' })
        .setIssuer(opts.issuer ?? ISSUER)
        .setAudience(opts.audience ?? AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(opts.expires ?? '5m')
        .sign(key)
    },
  }
}

async function signInWith(chime: TestChime, idToken: unknown): Promise<{ status: number; body: Auth }> {
  return chime.http<Auth>('POST', '/api/auth/oidc', { body: { id_token: idToken } })
}

t.test('ID tokens of the configured issuer sign in; the first one makes the account', async (t) => {
  const issuer = await startIssuer(t)
  const chime = await startTestChime(t, { oidcIssuer: ISSUER, oidcJwksUrl: issuer.jwksUrl, oidcAudience: AUDIENCE })

  const first = await signInWith(chime, await issuer.sign({ sub: 'u-1001', name: 'Grace Hopper', preferred_username: 'grace' }))
  t.equal(first.status, 200, 'first sign-in')
  t.match(first.body, { user_id: String, token: String, refresh_token: String, session_id: String, username: /^oidc_[0-9a-f]{48}$/, created: true })
  const me = await chime.http<{ user_id: string; display_name: string; username: string }>('GET', '/api/users/me', { token: first.body.token })
  t.equal(me.status, 200, 'the access token works like a login token')
  t.equal(me.body.display_name, 'Grace Hopper', 'display name from the name claim')
  t.ok(issuer.requests() >= 1, 'the JWKS was fetched from the issuer')

  const second = await signInWith(chime, await issuer.sign({ sub: 'u-1001', name: 'Grace B. Hopper' }))
  t.equal(second.status, 200)
  t.equal(second.body.user_id, first.body.user_id, 'the same (issuer, sub) is the same account')
  t.equal(second.body.created, false)
  t.not(second.body.session_id, first.body.session_id, 'a new sign-in')

  const other = await signInWith(chime, await issuer.sign({ sub: 'u-2002', preferred_username: 'ada' }))
  t.not(other.body.user_id, first.body.user_id, 'another subject, another account')
  const adaMe = await chime.http<{ display_name: string }>('GET', '/api/users/me', { token: other.body.token })
  t.equal(adaMe.body.display_name, 'ada', 'display name from preferred_username when there is no name')

  const client = await mqtt.connectAsync(chime.mqttUrl, { username: first.body.username, password: first.body.token, reconnectPeriod: 0 })
  t.equal(client.connected, true, 'MQTT CONNECT with the answered username and token')
  await client.endAsync()
  const refreshed = await chime.http<Auth>('POST', '/api/auth/refresh', { body: { refresh_token: first.body.refresh_token } })
  t.equal(refreshed.status, 200, 'its refresh token works')

  expectError(t, await chime.http('POST', '/api/auth/login', { body: { username: first.body.username, password: 'any password at all' } }), 400, 'INVALID_FIELD', 'the linked username cannot log in with a password')
  expectError(t, await chime.http('POST', '/api/auth/register', { body: { username: first.body.username, password: 'any password at all' } }), 400, 'INVALID_FIELD', 'nor be registered by someone else')
  const del = await chime.http('DELETE', '/api/users/me', { token: other.body.token })
  t.equal(del.status, 200, 'an account without a password is deleted with its token')
  const reborn = await signInWith(chime, await issuer.sign({ sub: 'u-2002', preferred_username: 'ada' }))
  t.equal(reborn.body.created, true, 'signing in after deletion makes a new account')
  t.not(reborn.body.user_id, other.body.user_id)
})

t.test('ID tokens that are not for this deployment are refused', async (t) => {
  const issuer = await startIssuer(t)
  const chime = await startTestChime(t, { oidcIssuer: ISSUER, oidcJwksUrl: issuer.jwksUrl, oidcAudience: AUDIENCE })
  const cases: [string, Promise<string> | string][] = [
    ['another audience', issuer.sign({ sub: 'x' }, { audience: 'someone-else' })],
    ['another issuer', issuer.sign({ sub: 'x' }, { issuer: 'https://evil.example.test' })],
    ['an expired token', issuer.sign({ sub: 'x' }, { expires: Math.floor(Date.now() / 1000) - 3600 })],
    ['a key the issuer does not publish', issuer.sign({ sub: 'x' }, { key: 'stranger' })],
    ['no sub', issuer.sign({})],
    ['not a JWT', 'definitely-not-a-jwt'],
  ]
  for (const [what, token] of cases) expectError(t, await signInWith(chime, await token), 401, 'INVALID_ID_TOKEN', what)
  const hs = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode('a shared secret that is long enough'))
  expectError(t, await signInWith(chime, hs), 401, 'INVALID_ID_TOKEN', 'a symmetric (HS256) token')
  expectError(t, await signInWith(chime, undefined), 400, 'INVALID_FIELD', 'no id_token')
  expectError(t, await signInWith(chime, 7), 400, 'INVALID_FIELD', 'a number')
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  t.equal(await db.prisma.user.count({ where: { username: { startsWith: 'oidc_' } } }), 0, 'no account was made along the way')
})

t.test('single sign-on is a coded error when not configured, and UNAVAILABLE when the keys cannot be fetched', async (t) => {
  const off = await startTestChime(t)
  expectError(t, await signInWith(off, 'whatever'), 501, 'SSO_NOT_CONFIGURED', 'no issuer configured')
  const issuer = await startIssuer(t)
  const halfway = await startTestChime(t, { oidcIssuer: ISSUER, oidcJwksUrl: issuer.jwksUrl })
  expectError(t, await signInWith(halfway, await issuer.sign({ sub: 'x' })), 501, 'SSO_NOT_CONFIGURED', 'no audience configured')
  const dead = await startTestChime(t, { oidcIssuer: ISSUER, oidcJwksUrl: `${issuer.jwksUrl.replace('/jwks', '')}/missing`, oidcAudience: AUDIENCE })
  expectError(t, await signInWith(dead, await issuer.sign({ sub: 'x' })), 503, 'UNAVAILABLE', 'the JWKS URL answers 404')
})
