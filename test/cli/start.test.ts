// `npm start` as a user runs it: the embedded profile in one process, addresses printed;
// a port in use is one clear line and exit status 1, not a stack trace.
import t from 'tap'
import { createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { spawnChime } from '../helpers/processes.ts'
import { topics } from '../../clients/sdk/src/topics.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

t.test('the embedded profile starts with nothing configured and serves HTTP and MQTT', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'chime-start-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const chime = await spawnChime(t, 'all', { CHIME_DATA_DIR: dataDir })
  t.match(chime.output(), /HTTP API +http:\/\/127\.0\.0\.1:\d+\/api\//)
  t.match(chime.output(), /MQTT\/TCP +mqtt:\/\/127\.0\.0\.1:\d+/)
  t.match(chime.output(), /\(SQLite\)/)
  const res = await fetch(`http://127.0.0.1:${chime.httpPort}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'first', password: 'correct horse battery' }) })
  t.equal(res.status, 200)
  const user = (await res.json()) as { user_id: string; token: string }
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${chime.mqttPort}`, { username: 'first', password: user.token, reconnectPeriod: 0 })
  t.same((await client.subscribeAsync(topics.inbox(user.user_id), { qos: 1 })).map((g) => g.qos), [1])
  await client.endAsync()
  // SIGTERM stops it cleanly; a restart keeps the account (SQLite in the data dir, same secret).
  await chime.kill('SIGTERM')
  t.equal(chime.child.exitCode, 0, 'exits 0 on SIGTERM')
  const again = await spawnChime(t, 'all', { CHIME_DATA_DIR: dataDir })
  const client2 = await mqtt.connectAsync(`mqtt://127.0.0.1:${again.mqttPort}`, { username: 'first', password: user.token, reconnectPeriod: 0 })
  t.ok(client2.connected, 'the token from before the restart is still valid')
  await client2.endAsync()
})

t.test('a port in use is a one-line error naming the variable, exit status 1', async (t) => {
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())))
  const port = (blocker.address() as { port: number }).port
  const dataDir = await mkdtemp(join(tmpdir(), 'chime-port-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  for (const [name, env] of [
    ['CHIME_MQTT_PORT', { CHIME_MQTT_PORT: String(port), CHIME_HTTP_PORT: '0' }],
    ['CHIME_HTTP_PORT', { CHIME_HTTP_PORT: String(port), CHIME_MQTT_PORT: '0' }],
  ] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bin/chime.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', CHIME_HOST: '127.0.0.1', CHIME_DATA_DIR: dataDir, CHIME_LOG_LEVEL: 'silent', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    })
    t.equal(r.status, 1, `${name}: exit status 1`)
    const lines = r.stderr.trim().split('\n')
    t.equal(lines.length, 1, `${name}: one line on stderr: ${r.stderr.trim()}`)
    t.match(lines[0], new RegExp(`port ${port} is already in use.*${name}`))
  }
})

t.test('an invalid setting is a one-line error naming the variable', async (t) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bin/chime.ts'], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', CHIME_HTTP_PORT: 'http' }, encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 1)
  t.match(r.stderr.trim(), /^chime: CHIME_HTTP_PORT="http": a port is a whole number/)
})
