// A plain, non-JavaScript MQTT client (Mosquitto's mosquitto_sub / mosquitto_pub) speaks
// Chime: it receives a delta posted over HTTP and posts through the requests topic.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { startTestChime } from '../helpers/chime.ts'
import { requireServices } from '../helpers/databases.ts'
import { waitFor } from '../helpers/wait.ts'
import { defer } from '../helpers/cleanup.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'

const available = spawnSync('mosquitto_sub', ['--help']).error === undefined

function run(cmd: string, args: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args)
    let output = ''
    child.stdout.on('data', (b: Buffer) => (output += b.toString()))
    child.stderr.on('data', (b: Buffer) => (output += b.toString()))
    child.once('error', reject)
    child.once('close', (status) => resolve({ status, output }))
  })
}

t.test('mosquitto_sub receives a delta posted with curl-style HTTP; mosquitto_pub posts one', async (t) => {
  if (!available) {
    if (requireServices) throw new Error('mosquitto_sub is not installed (Debian package mosquitto-clients)')
    t.comment('mosquitto-clients is not installed; the interoperability test is not run')
    return
  }
  const chime = await startTestChime(t)
  const ada = await chime.register()
  const { body: server } = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: ada.token, body: { name: 'Lab' } })
  const port = String(chime.running.mqttPort)
  const subscribed = new Promise<void>((resolve) => chime.running.aedes!.on('subscribe', (_subs, client) => client.id === 'ada-sub' && resolve()))
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-u', ada.username, '-P', ada.token, '-i', 'ada-sub', '-q', '1', '-v', '-t', topics.serverWildcard(server.server_id), '-C', '2'])
  defer(t, () => sub.kill())
  let out = ''
  sub.stdout.on('data', (b: Buffer) => (out += b.toString()))
  sub.stderr.on('data', (b: Buffer) => (out += b.toString()))
  await subscribed
  const posted = await chime.http('POST', '/api/post/', { token: ada.token, body: { action: 'POST_MESSAGE', data: { 'channel-id': server.channel_id, content: 'Hello, World!' } } })
  t.equal(posted.status, 200)
  await waitFor('mosquitto_sub to receive the HTTP post', () => (out.includes('Hello, World!') ? true : undefined))
  // Asynchronously: the broker runs in this process and must keep serving meanwhile.
  const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', ada.username, '-P', ada.token, '-i', 'ada-shell', '-q', '1', '-t', topics.requests('ada-shell'), '-m', JSON.stringify({ action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content: 'from mosquitto_pub' } })])
  t.equal(pub.status, 0, `mosquitto_pub exits 0 ${pub.output}`)
  await waitFor('the second delta', () => (out.includes('from mosquitto_pub') ? true : undefined))
  const lines = out.trim().split('\n')
  const [topic, ...json] = lines[0]!.split(' ')
  t.equal(topic, topics.serverChannel(server.server_id, server.channel_id))
  const env = JSON.parse(json.join(' ')) as Envelope<string, DeltaJson>
  t.equal(env.action, 'PUBLISH_DELTA')
  t.equal(env.data.content, 'Hello, World!')
  t.equal(env.data.seq, '1')
  t.match(lines[1], /"content":"from mosquitto_pub"/)
  t.match(lines[1], /"seq":"2"/)
})
