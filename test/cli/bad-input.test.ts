// Every mistake made with the `chime` CLI is one coded error on stderr (a JSON object with
// --json, "chime: CODE: message" without), nothing on stdout, the exit status docs/cli.md
// gives its class (2 bad input, 3 not signed in, 4 not found, 5 not allowed, 6 unavailable,
// 1 other refusals), and no change on the server. Both profiles.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { cliUser, jsonError, lab, PASSWORD } from './run-cli.ts'

type Case = [args: string[], exit: number, code: string, details?: Record<string, unknown>]

async function run(t: Test, chime: TestChime): Promise<void> {
  const { ann, bob, serverId, serverName, channelId } = await lab(t, chime)
  const lastSeq = async (): Promise<unknown> => (await chime.http<{ data: { last_seq: string } }>('POST', '/api/requests', { token: ann.token, body: { action: 'LIST_MESSAGES', data: { channel_id: channelId, limit: 1 } } })).body.data.last_seq
  const before = await lastSeq()

  const cases: Case[] = [
    [['frobnicate'], 2, 'UNKNOWN_ACTION', { command: 'frobnicate' }],
    [['help', 'frobnicate'], 2, 'UNKNOWN_ACTION'],
    [['send'], 2, 'INVALID_FIELD', { field: 'channel' }],
    [['send', 'general'], 2, 'INVALID_FIELD', { field: 'text' }],
    [['channels'], 2, 'INVALID_FIELD', { field: 'server' }],
    [['history', 'general', '--limit', 'many'], 2, 'INVALID_FIELD', { field: 'limit' }],
    [['history', 'general', '--limit', '500'], 2, 'INVALID_FIELD', { field: 'limit' }],
    [['history', 'general', '--before', 'x7'], 2, 'INVALID_FIELD', { field: 'before' }],
    [['history', 'general', '--limit'], 2, 'INVALID_FIELD', { field: 'limit' }],
    [['servers', '--bogus'], 2, 'INVALID_FIELD', { field: 'bogus' }],
    [['servers', 'extra'], 2, 'INVALID_FIELD', { field: 'arguments' }],
    [['servers', '--url', 'ftp://example.org'], 2, 'INVALID_FIELD', { field: 'url' }],
    [['servers', '--url', 'not a url'], 2, 'INVALID_FIELD', { field: 'url' }],
    [['send', 'general', 'x', '--file', join(ann.cli.home, 'missing.bin')], 2, 'INVALID_FIELD', { field: 'file' }],
    [['send', 'general', 'x', '--file', ann.cli.home], 2, 'INVALID_FIELD', { field: 'file' }],
    [['send', 'general', 'x', '--reply-to', 'nope'], 2, 'INVALID_FIELD', { field: 'reply-to' }],
    [['send', 'general', 'x', '--reply-to', '#999999'], 4, 'MESSAGE_NOT_FOUND'],
    [['send', 'no-such-channel', 'x'], 4, 'CHANNEL_NOT_FOUND'],
    [['history', 'no-such-channel'], 4, 'CHANNEL_NOT_FOUND'],
    [['channels', 'No such server'], 4, 'SERVER_NOT_FOUND'],
    [['search', 'x', '--channel', 'general', '--server', serverName], 2, 'INVALID_FIELD', { field: 'channel' }],
    [['search', '***'], 2, 'INVALID_FIELD', { field: 'query' }],
    [['search', 'x', '--after', 'yesterday'], 2, 'INVALID_FIELD', { field: 'after' }],
    [['tail', 'general', '--lines', '3', '--from', '1'], 2, 'INVALID_FIELD', { field: 'from' }],
    [['restore', 'general', '--after', 'abc'], 2, 'INVALID_FIELD', { field: 'after' }],
    [['ui'], 2, 'INVALID_FIELD', { field: 'terminal' }],
    [['servers', '--url', 'http://127.0.0.1:9'], 3, 'UNAUTHENTICATED'],
  ]
  const results = await Promise.all(cases.map(([args]) => ann.cli.run([...args, '--json'])))
  cases.forEach(([args, exit, code, details], i) => {
    const r = results[i]!
    const what = `chime ${args.join(' ')}`
    t.equal(r.code, exit, `${what}: exit ${exit}`)
    const error = jsonError(r)
    t.equal(error.code, code, `${what}: ${code} (${error.message})`)
    if (details !== undefined) t.match(error.details, details, `${what}: ${JSON.stringify(details)}`)
    t.equal(r.stdout, '', `${what}: nothing on stdout`)
  })

  const stranger = await cliUser(t, 'away')
  const [human, away, muteOk] = await Promise.all([
    ann.cli.run(['send', 'no-such-channel', 'x']),
    // Chime out of reach (a registration needs no session).
    stranger.run(['register', 'nobody', '--password', PASSWORD, '--url', 'http://127.0.0.1:9', '--json']),
    chime.http('POST', `/api/servers/${serverId}/members/${bob.user_id}/mute`, { token: ann.token, body: { seconds: 600 } }),
  ])
  t.match(human.stderr, /^chime: CHANNEL_NOT_FOUND: no channel or chat "no-such-channel"/, 'without --json: "chime: CODE: message"')
  t.equal(human.code, 4)
  t.equal(away.code, 6, 'unreachable: exit 6')
  t.equal(jsonError(away).code, 'UNAVAILABLE')

  // Not allowed: a muted member posting (exit 5).
  t.equal(muteOk.status, 200)
  const muted = await bob.cli.run(['send', 'general', 'let me speak', '--json'])
  t.equal(muted.code, 5, 'a refusal of permission: exit 5')
  t.equal(jsonError(muted).code, 'MUTED')

  t.equal(await lastSeq(), before, 'no message was posted by any of them')
}

t.test('bad input to the chime CLI', async (t) => {
  await eachProfile(t, 'cli bad input', run)
})
