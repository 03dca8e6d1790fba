// The `chime` command-line client run as a separate process against a real Chime, on both
// profiles: servers, channels and chats (with unread counts) print the API's answers with
// --json and names as text; send posts text, replies and uploaded files; history and search
// read them back; and message content never reaches the terminal as control sequences.
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { ChatListItemJson, DownloadFileResponseData, MessageJson, PostMessageResponseData, SearchResponseData } from '../../clients/sdk/src/index.ts'
import type { TestChime } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { lab, postAs } from './run-cli.ts'

async function run(t: Test, chime: TestChime): Promise<void> {
  const { ann, bob, serverId, serverName, channelId } = await lab(t, chime)

  await t.test('servers, channels and chats print the API answers with --json, names as text', async (t) => {
    const [servers, channels, human] = await Promise.all([
      ann.cli.run(['servers', '--json']),
      ann.cli.run(['channels', serverName, '--json']),
      ann.cli.run(['servers']),
    ])
    t.equal(servers.code, 0, servers.stderr)
    t.same(JSON.parse(servers.stdout), (await chime.http('GET', '/api/servers', { token: ann.token })).body, 'servers --json is GET /api/servers')
    t.equal(channels.code, 0, channels.stderr)
    t.match(JSON.parse(channels.stdout), { server_id: serverId, channels: [{ channel_id: channelId, name: 'general', type: 'text' }] }, 'channels takes the server by name')
    t.match(human.stdout, new RegExp(`^SERVER +ROLE +MEMBERS +ACCESS +ID\\n${serverName} +owner +2 +public +${serverId}$`, 'm'))

    // Two messages from bob: ann has two unread.
    for (const content of ['one for ann', 'two for ann']) await postAs(chime, bob.token, channelId, content)
    const [chats, unread, bobUnread] = await Promise.all([ann.cli.run(['chats', '--json']), ann.cli.run(['chats', '--unread']), bob.cli.run(['chats', '--unread'])])
    t.equal(chats.code, 0, chats.stderr)
    const item = (JSON.parse(chats.stdout) as { chats: ChatListItemJson[] }).chats.find((c) => c.channel_id === channelId)
    t.match(item, { name: 'general', server_name: serverName, unread: 2, last_message: { preview: 'two for ann' } }, 'LIST_CHATS with the unread count')
    t.match(unread.stdout, new RegExp(`${serverName}/general +2 +${bob.username}: two for ann +${channelId}`), 'the human list shows the count and the last message')
    t.equal(bobUnread.stdout.trim(), 'Nothing unread.', "bob's own messages are not unread to him")
  })

  await t.test('send posts text, replies and files; history and search read them back', async (t) => {
    const hello = await ann.cli.run(['send', `${serverName}/general`, 'hello', 'from', 'the', 'cli', '--json'])
    t.equal(hello.code, 0, hello.stderr)
    const posted = JSON.parse(hello.stdout) as PostMessageResponseData
    t.match(posted, { status: 'success', duplicate: false, delta: { content: 'hello from the cli', channel_id: channelId, client_msg_id: String } }, 'the words are joined into one message, sent with a client_msg_id')

    const reply = await bob.cli.run(['send', 'general', 'a reply', '--reply-to', `#${posted.seq}`, '--json'])
    t.equal(reply.code, 0, reply.stderr)
    t.match(JSON.parse(reply.stdout), { delta: { meta: { reply_to: { message_id: posted.delta_id, content: 'hello from the cli' } } } }, '--reply-to #seq finds the message of that seq')

    const bytes = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251))
    const path = join(ann.cli.home, 'notes.bin')
    await writeFile(path, bytes)
    const [withFile, onlyFile] = await Promise.all([
      ann.cli.run(['send', 'general', 'see the file', '--file', path, '--json']),
      ann.cli.run(['send', 'general', '--file', path]),
    ])
    t.equal(withFile.code, 0, withFile.stderr)
    t.equal(withFile.stderr, '', 'no progress bar when stderr is not a terminal')
    const fileDelta = (JSON.parse(withFile.stdout) as PostMessageResponseData).delta
    t.match(fileDelta.attachments, [{ name: 'notes.bin', size: bytes.length, file_id: String }], 'the file is uploaded and attached')
    const link = await chime.http<{ data: DownloadFileResponseData }>('POST', '/api/requests', { token: bob.token, body: { action: 'DOWNLOAD_FILE', data: { file_id: fileDelta.attachments![0]!.file_id } } })
    const downloaded = Buffer.from(await (await fetch(new URL(link.body.data.download_url, chime.baseUrl))).arrayBuffer())
    t.equal(createHash('sha256').update(downloaded).digest('hex'), createHash('sha256').update(bytes).digest('hex'), 'the stored file is the sent bytes')
    t.equal(onlyFile.code, 0, onlyFile.stderr)
    t.match(onlyFile.stdout, /^Sent #\d+ to .*general with 1 file \(message id \d+\)$/m, 'a file needs no text')

    const hist = await bob.cli.run(['history', 'general', '--json', '--limit', '4'])
    t.equal(hist.code, 0, hist.stderr)
    const page = JSON.parse(hist.stdout) as { messages: MessageJson[]; has_more: boolean; last_seq: string }
    t.same(page.messages.slice(0, 2).map((m) => m.content), ['hello from the cli', 'a reply'], 'LIST_MESSAGES, oldest first')
    t.same(page.messages.slice(2).map((m) => m.content).sort(), ['', 'see the file'], 'then the two file messages')
    t.equal(page.has_more, true)
    const [older, text] = await Promise.all([
      bob.cli.run(['history', 'general', '--json', '--before', page.messages[0]!.seq]),
      bob.cli.run(['history', 'general', '--limit', '4']),
    ])
    t.same((JSON.parse(older.stdout) as { messages: MessageJson[] }).messages.map((m) => m.content), ['one for ann', 'two for ann'], '--before pages back')
    t.equal(text.code, 0, text.stderr)
    t.match(text.stdout, new RegExp(`^#${posted.seq} \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d ${ann.username}: hello from the cli$`, 'm'), 'the human form: #seq, time, name, text')
    t.match(text.stdout, new RegExp(`^    reply to ${ann.username}: hello from the cli$`, 'm'), 'replies show their quote')
    t.match(text.stdout, /^ {4}\[file\] notes\.bin \(application\/octet-stream, 195 KB\)$/m, 'files show name, type and size')
    t.match(text.stderr, /older: chime history general --before \d+/, 'where older messages are, on stderr')

    const [found, scoped, nothing] = await Promise.all([
      bob.cli.run(['search', 'cli', '--json']),
      bob.cli.run(['search', 'hello', 'cli', '--channel', 'general']),
      bob.cli.run(['search', 'zebra']),
    ])
    t.equal(found.code, 0, found.stderr)
    t.match((JSON.parse(found.stdout) as SearchResponseData).results, [{ message_id: posted.delta_id, content: 'hello from the cli', channel_id: channelId }])
    t.match(scoped.stdout, new RegExp(`${serverName}/general ${ann.username}: hello from the cli`), 'search --channel, as text')
    t.equal(nothing.stdout.trim(), 'No messages found.')
  })

  await t.test('message content cannot drive the terminal', async (t) => {
    const evil = 'clear\x1b[2J\x1b[H title\x1b]0;owned\x07 csi\u009b31m bidi\u202eevil\r\nnext line'
    await postAs(chime, bob.token, channelId, evil)
    const [text, json, chats] = await Promise.all([
      ann.cli.run(['history', 'general', '--limit', '1']),
      ann.cli.run(['history', 'general', '--limit', '1', '--json']),
      ann.cli.run(['chats']),
    ])
    t.equal(text.code, 0, text.stderr)
    t.notMatch(text.stdout, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/, 'no control character reaches stdout')
    t.match(text.stdout, 'clear^[[2J^[[H title^[]0;owned^G csi<U+009B>31m bidi<U+202E>evil^M', 'each is shown escaped instead')
    t.match(text.stdout, /\n {4}next line\n/, 'a newline stays a newline, indented under the message')
    t.notMatch(json.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'nor in JSON (escaped as \\u....)')
    t.equal((JSON.parse(json.stdout) as { messages: MessageJson[] }).messages[0]!.content, evil, 'and the JSON parses back to the exact content')
    t.notMatch(chats.stdout, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/, 'the chat list preview is escaped too')
  })
}

t.test('the chime CLI against a running Chime', async (t) => {
  await eachProfile(t, 'cli commands', run)
})
