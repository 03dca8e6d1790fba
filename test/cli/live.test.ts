// `chime tail` and `chime restore` against a real Chime, on both profiles.
// - tail prints the channel's last deltas, then each delta posted meanwhile, once and in seq
//   order, also across a network cut (its MQTT connection goes through a TCP proxy that
//   drops it while messages are being posted), and exits 0 on Ctrl-C (SIGINT).
// - restore downloads the archived partitions (checking their SHA-256) and pages the open
//   one: its NDJSON output is the channel's log, delta for delta, as SYNC reads it.
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { DeltaJson, RestoreHistoryResponseData, SyncResponseData } from '../../clients/sdk/src/index.ts'
import type { TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/wait.ts'
import { jsonError, lab, postAs, type Lab } from './run-cli.ts'

/** Every delta of a channel by paged SYNC (the reference the outputs are compared with). */
async function syncAll(chime: TestChime, token: string, channelId: string): Promise<DeltaJson[]> {
  const out: DeltaJson[] = []
  let seq = '0'
  for (;;) {
    const r = await chime.http<{ data: SyncResponseData }>('POST', '/api/sync/', { token, body: { action: 'SYNC', data: { channel_id: channelId, client_seq: seq, limit: 1000 } } })
    out.push(...r.body.data.missing_deltas)
    seq = r.body.data.next_client_seq!
    if (!r.body.data.has_more) return out
  }
}

const ndjson = (text: string): DeltaJson[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DeltaJson)

async function tailTests(t: Test, chime: TestChime, setup: Lab): Promise<void> {
  const { ann, bob, channelId } = setup
  await t.test('tail prints posts as they arrive, once each, in order, across a network cut', async (t) => {
    for (let i = 1; i <= 3; i++) await postAs(chime, bob.token, channelId, `before ${i}`)
    const proxy = await startTcpProxy(t, chime.running.mqttPort!)
    const tail = ann.cli.spawn(['tail', 'general', '--json', '--lines', '2', '--mqtt-url', `mqtt://127.0.0.1:${proxy.port}`])
    const first = await tail.waitForOutput('the last two deltas', (out) => (ndjson(out).length >= 2 ? ndjson(out) : undefined))
    t.same(first.map((d) => d.content), ['before 2', 'before 3'], '--lines 2: the last two, oldest first')

    for (let i = 1; i <= 5; i++) await postAs(chime, bob.token, channelId, `live ${i}`)
    await tail.waitForOutput('five live posts', (out) => (ndjson(out).length >= 7 ? true : undefined))

    // The network goes while posts continue: they arrive after the reconnect's SYNC.
    proxy.cut()
    for (let i = 6; i <= 15; i++) {
      await postAs(chime, bob.token, channelId, `live ${i}`)
      if (i === 8) proxy.cut()
    }
    await tail.waitForOutput('every post after the cuts', (out) => (ndjson(out).length >= 17 ? true : undefined), 30_000)
    const stopped = await tail.stop('SIGINT')
    t.equal(stopped.code, 0, `Ctrl-C ends tail with exit 0: ${stopped.stderr}`)
    const got = ndjson(stopped.stdout)
    t.same(got.map((d) => d.content), ['before 2', 'before 3', ...Array.from({ length: 15 }, (_, i) => `live ${i + 1}`)], 'every post once, in the order posted')
    const seqs = got.map((d) => Number(d.seq))
    t.same(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i), 'gapless seqs')
    t.match(stopped.stderr, /connection lost; reconnecting/, 'the drop is noted on stderr')
    t.ok(proxy.connections >= 2, 'it did reconnect through the proxy')
    t.same(got, (await syncAll(chime, ann.token, channelId)).slice(-got.length), 'the deltas as the log has them')
  })

  await t.test('tail as text, with --from; a second tail at once gets its own device slot', async (t) => {
    const log = await syncAll(chime, ann.token, channelId)
    const from = log.length - 1
    const a = ann.cli.spawn(['tail', 'general', '--from', String(from)])
    const b = ann.cli.spawn(['tail', 'general', '-n', '0', '--json'])
    await a.waitForOutput('the last delta', (out) => (out.includes('live 15') ? true : undefined))
    // b printed nothing yet; wait until it is following: its device lock exists.
    await waitFor('two device slots', async () => ((await stat(join(ann.cli.home, 'chime', 'state', ann.user_id, 'device-2.lock')).catch(() => null)) !== null ? true : undefined))
    await postAs(chime, bob.token, channelId, 'to both \x1b[31mred\x1b[0m')
    await a.waitForOutput('the new post', (out) => (out.includes('to both') ? true : undefined))
    await b.waitForOutput('the new post', (out) => (out.includes('to both') ? true : undefined))
    const [ra, rb] = await Promise.all([a.stop('SIGTERM'), b.stop('SIGINT')])
    t.equal(ra.code, 0)
    t.equal(rb.code, 0)
    const lines = ra.stdout.trim().split('\n')
    t.equal(lines.length, 2, 'the delta after --from, then the new one')
    t.match(lines[0], new RegExp(`^#${from + 1} \\d\\d:\\d\\d:\\d\\d ${bob.username}: live 15$`))
    t.match(lines[1], new RegExp(`^#${from + 2} \\d\\d:\\d\\d:\\d\\d ${bob.username}: to both \\^\\[\\[31mred\\^\\[\\[0m$`), 'control sequences shown escaped')
    t.same(ndjson(rb.stdout).map((d) => d.content), ['to both \x1b[31mred\x1b[0m'], '-n 0: only what arrives')
    const cliDevices = async (): Promise<number> => (await chime.http<{ devices: { platform: string }[] }>('GET', '/api/devices', { token: ann.token })).body.devices.filter((d) => d.platform === 'cli').length
    t.equal(await waitFor('both slots in the device list', async () => ((await cliDevices()) >= 2 ? cliDevices() : undefined)), 2, 'two slots, two devices named "cli" (later runs reuse them)')
  })

  await t.test('tail of an unknown channel, or from a seq past the end, fails with its code', async (t) => {
    const [unknown, ahead] = await Promise.all([
      ann.cli.run(['tail', 'nowhere', '--json']),
      ann.cli.run(['tail', 'general', '--from', '999999', '--json']),
    ])
    t.equal(unknown.code, 4)
    t.equal(jsonError(unknown).code, 'CHANNEL_NOT_FOUND')
    t.equal(ahead.code, 2)
    t.equal(jsonError(ahead).code, 'INVALID_CURSOR')
  })
}

async function restoreTests(t: Test, chime: TestChime, setup: Lab): Promise<void> {
  const { ann, bob, channelId } = setup
  await t.test('restore: archives checked and paged history, equal to the log', async (t) => {
    for (let i = 1; i <= 33; i++) await postAs(chime, bob.token, channelId, `history ${i}`)
    const log = await syncAll(chime, ann.token, channelId)
    const sealed = Math.floor((log.length - 1) / 10)
    await waitFor('the sealed partitions archived', async () => {
      const r = await chime.http<{ data: RestoreHistoryResponseData }>('POST', '/api/restore/', { token: ann.token, body: { action: 'RESTORE_HISTORY', data: { channel_id: channelId } } })
      return r.body.data.partitions.length === sealed ? true : undefined
    })
    const out = join(ann.cli.home, 'general.ndjson')
    const [toFile, toStdout, after] = await Promise.all([
      ann.cli.run(['restore', 'general', '--out', out, '--json']),
      bob.cli.run(['restore', 'general']),
      bob.cli.run(['restore', 'general', '--after', '25']),
    ])
    t.equal(toFile.code, 0, toFile.stderr)
    t.same(JSON.parse(toFile.stdout), { channel_id: channelId, deltas: log.length, last_seq: String(log.length), partitions: sealed, out }, 'the summary')
    t.same(ndjson(await readFile(out, 'utf8')), log, 'the file holds the whole log, delta for delta')
    await t.rejects(stat(`${out}.partial`), { code: 'ENOENT' }, 'no temporary file is left')
    t.equal(toStdout.code, 0, toStdout.stderr)
    t.same(ndjson(toStdout.stdout), log, 'to stdout as well')
    t.same(ndjson(after.stdout), log.slice(25), '--after: only what follows')

    const [unknown, badOut] = await Promise.all([
      ann.cli.run(['restore', 'nowhere', '--json']),
      ann.cli.run(['restore', 'general', '--out', join(ann.cli.home, 'no', 'such', 'dir', 'x.ndjson'), '--json']),
    ])
    t.equal(unknown.code, 4)
    t.equal(jsonError(unknown).code, 'CHANNEL_NOT_FOUND')
    t.equal(badOut.code, 2)
    t.match(jsonError(badOut), { code: 'INVALID_FIELD', details: { field: 'out' } })
  })
}

t.test('tail and restore with the chime CLI', async (t) => {
  await eachProfile(t, 'cli live', async (t, chime) => {
    const setup = await lab(t, chime)
    await tailTests(t, chime, setup)
    await restoreTests(t, chime, setup)
  }, { partitionMaxDeltas: 10, archiveIntervalMs: 20 })
})
