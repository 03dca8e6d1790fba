// The interactive mode's pure parts: key handling (focus, typing, sending, moving between
// channels, quitting), what arriving deltas do to the list and the open channel, and the
// screen as a function of state: always exactly the terminal's size, user content escaped,
// the newest messages at the bottom, pending and failed posts shown.
import t from 'tap'
import type { ChatListItemJson, DeltaJson, MessageJson, OutboxItem } from '../../clients/sdk/src/index.ts'
import { render, type Frame } from '../../clients/cli/ui/render.ts'
import {
  deltaArrived, handleKey, initialState, loadingStarted, markerArrived, outboxChanged, pageLoaded, selectedChat, statusChanged,
  type Key, type UiState,
} from '../../clients/cli/ui/state.ts'
import { stripAnsi, textWidth } from '../../clients/cli/terminal-text.ts'

const ME = { user_id: 'U-ME', username: 'ann' }

function chat(id: string, name: string, extra: Partial<ChatListItemJson> = {}): ChatListItemJson {
  return {
    channel_id: id, kind: 'text', name, server_id: 'S1', server_name: 'Lab', icon_file_id: null, last_message: null,
    unread: 0, mentions: 0, unread_capped: false, mentions_capped: false, read_seq: '0', received_seq: '0', last_seq: '0',
    closed: false, last_activity_at: null, ...extra,
  }
}

function message(seq: number, content: string | null, userId = 'U-BOB', extra: Partial<MessageJson> = {}): MessageJson {
  return { message_id: String(100 + seq), channel_id: 'C1', seq: String(seq), user_id: userId, kind: 'text', content, timestamp: '2026-11-24T12:00:00.000Z', reactions: [], ...extra }
}

function delta(channelId: string, seq: number, content: string, userId = 'U-BOB', extra: Partial<DeltaJson> = {}): DeltaJson {
  return { delta_id: String(100 + seq), seq: String(seq), type: 'message', channel_id: channelId, user_id: userId, content, timestamp: '2026-11-24T12:05:00.000Z', ...extra }
}

const key = (name: string, extra: Key = {}): Key => ({ name, sequence: name.length === 1 ? name : undefined, ...extra })
const typed = (text: string): Key[] => [...text].map((ch) => ({ sequence: ch, name: /[a-z]/.test(ch) ? ch : undefined }))

function press(s: UiState, ...keys: Key[]): { state: UiState; effects: ReturnType<typeof handleKey>['effects'] } {
  let state = s
  const effects: ReturnType<typeof handleKey>['effects'] = []
  for (const k of keys) {
    const step = handleKey(state, k)
    state = step.state
    effects.push(...step.effects)
  }
  return { state, effects }
}

const base = (): UiState => ({ ...initialState(ME, [chat('C1', 'general'), chat('C2', 'random', { unread: 3 }), chat('C3', 'Bobby', { kind: 'dm', server_id: null, server_name: null })]), names: { 'U-ME': 'ann', 'U-BOB': 'bob' } })

function plain(frame: Frame): string[] {
  return frame.lines.map(stripAnsi)
}

t.test('keys: focus, typing, editing, sending', async (t) => {
  let s = base()
  t.equal(s.focus, 'list', 'the list has the focus at first')
  t.equal(s.selectedId, 'C1', 'and the first chat is selected')
  s = press(s, key('tab')).state
  t.equal(s.focus, 'input', 'Tab moves to the input line')
  s = press(s, ...typed('helo')).state
  t.same(s.input.join(''), 'helo')
  s = press(s, key('left'), key('left'), ...typed('l')).state
  t.equal(s.input.join(''), 'hello', 'typing inserts at the cursor')
  t.equal(s.cursor, 3)
  s = press(s, key('end'), key('backspace'), ...typed('o!')).state
  t.equal(s.input.join(''), 'hello!', 'backspace deletes before the cursor')
  s = press(s, key('home'), key('delete')).state
  t.equal(s.input.join(''), 'ello!', 'delete removes at the cursor')
  s = press(s, ...typed('é q')).state
  t.equal(s.input.join(''), 'é qello!', "in the input line q is a letter, and any character types")
  const sent = press(s, key('return'))
  t.same(sent.effects, [{ type: 'send', channel_id: 'C1', content: 'é qello!' }], 'Enter sends the line to the selected channel')
  t.same(sent.state.input, [], 'and clears it')
  t.same(press(sent.state, ...typed('   '), key('return')).effects, [], 'a blank line is not sent')
  t.same(press(sent.state, key('tab')).state.focus, 'list', 'Tab goes back to the list')
  t.same(press(sent.state, key('escape')).state.focus, 'list', 'so does Esc')
  const cleared = press(s, key('end'), key('left'), key('u', { ctrl: true }))
  t.same(cleared.state.input, ['!'], 'Ctrl-U clears before the cursor')
  t.same(press(s, { sequence: '\x1b[31m' }).state.input, s.input, 'a control sequence is never typed into the line')
})

t.test('keys: moving between channels and quitting', async (t) => {
  const s = base()
  const down = press(s, key('down'))
  t.equal(down.state.selectedId, 'C2', 'Down selects the next channel')
  t.same(down.effects, [{ type: 'open', channel_id: 'C2' }], 'and opens it')
  t.same(down.state.loading, { C2: [] }, 'its live deltas are kept until its page arrives')
  t.equal(press(s, key('up')).state.selectedId, 'C3', 'Up from the first wraps to the last')
  t.equal(press(s, key('j')).state.selectedId, 'C2', 'j and k move too in the list')
  t.equal(press(press(s, key('tab')).state, key('down')).state.selectedId, 'C2', 'arrows move from the input line as well')
  t.same(press(s, key('q')).effects, [{ type: 'quit' }], 'q quits from the list')
  t.same(press(press(s, key('tab')).state, key('c', { ctrl: true })).effects, [{ type: 'quit' }], 'Ctrl-C quits from anywhere')
  t.same(press(s, key('d', { ctrl: true })).effects, [{ type: 'quit' }], 'Ctrl-D on an empty line quits')
  const typing = press(s, ...typed('hi'))
  t.equal(typing.state.focus, 'input', 'typing a letter in the list starts a message')
  t.equal(typing.state.input.join(''), 'hi')
  t.same(press(s, key('return')).state.focus, 'input', 'Enter in the list goes to the input line')
  t.equal(press(s, key('pageup')).state.scroll, 10, 'PgUp scrolls the messages back')
  t.equal(press(press(s, key('pageup')).state, key('pagedown'), key('pagedown')).state.scroll, 0, 'PgDn forward, not past the newest')
})

t.test('what arrives: pages, live deltas, markers, the outbox', async (t) => {
  let s = loadingStarted(base(), 'C1')
  // A delta that comes while the page is asked for, newer than the page: applied on top.
  s = deltaArrived(s, delta('C1', 3, 'came meanwhile'))
  s = pageLoaded(s, 'C1', [message(1, 'one'), message(2, 'two')], '2')
  t.same(s.views['C1']!.messages.map((m) => m.content), ['one', 'two', 'came meanwhile'], 'the page, then what came meanwhile')
  t.same(s.loading, {}, 'nothing waits any more')
  s = deltaArrived(s, delta('C1', 2, 'two'))
  t.equal(s.views['C1']!.messages.length, 3, 'a delta already in the page changes nothing')
  s = deltaArrived(s, delta('C1', 4, 'edited', 'U-BOB', { type: 'edit', target_id: '101' }))
  t.match(s.views['C1']!.messages[0], { content: 'edited', edited: true }, 'an edit changes its message')
  s = deltaArrived(s, delta('C1', 5, '', 'U-BOB', { type: 'delete', target_id: '102', content: null }))
  t.match(s.views['C1']!.messages[1], { content: null, deleted: true }, 'a delete empties it')
  t.equal(selectedChat(s)!.unread, 0, 'messages in the open channel are read')

  s = deltaArrived(s, delta('C3', 1, 'psst'))
  t.same(s.chats.map((c) => c.channel_id), ['C3', 'C1', 'C2'], 'a channel with a new message moves to the top')
  t.equal(s.chats[0]!.unread, 1, 'and counts it unread')
  t.equal(s.chats[0]!.last_message?.preview, 'psst')
  t.equal(s.selectedId, 'C1', 'the selection stays on its channel')
  s = deltaArrived(s, delta('C3', 2, 'my own', ME.user_id))
  t.equal(s.chats[0]!.unread, 1, 'one’s own messages are not unread')
  s = markerArrived(s, { channel_id: 'C3', read_seq: '2', received_seq: '2', unread: 0, mentions: 0, unread_capped: false, mentions_capped: false })
  t.equal(s.chats[0]!.unread, 0, "a MARKER (read on another device) sets the server's count")

  const pending: OutboxItem = { client_msg_id: 'm1', channel_id: 'C1', data: { content: 'on its way' }, created_at: '', attempts: 1, state: 'pending' }
  s = outboxChanged(s, [pending])
  t.same(s.pending, [pending])
  t.equal(statusChanged(s, 'online').status, 'online')
})

t.test('the screen: exact size, layout, and escaped content', async (t) => {
  let s = pageLoaded(base(), 'C1', [message(1, 'hello'), message(2, 'evil \x1b[2J\x1b]0;x\x07 \u009b1m \u202eok', 'U-BOB'), message(3, '你好 wide', 'U-ME')], '3')
  s = { ...s, status: 'online' }
  for (const size of [{ columns: 80, rows: 24 }, { columns: 41, rows: 8 }, { columns: 200, rows: 60 }]) {
    const frame = render(s, size)
    t.equal(frame.lines.length, size.rows, `${size.columns}x${size.rows}: one line per row`)
    t.same(plain(frame).map(textWidth), Array(size.rows).fill(size.columns), `${size.columns}x${size.rows}: every line exactly as wide as the terminal`)
  }
  const frame = render(s, { columns: 80, rows: 12 })
  const lines = plain(frame)
  t.match(lines[0], /^ Chime · ann · online/, 'the title: who and the connection')
  t.match(lines[1], /^ Lab\/general .*│ Lab\/general/, 'the list on the left, the open channel on the right')
  t.match(lines[2], /^ Lab\/random +3 │/, 'unread counts in the list')
  t.match(lines[3], /^ @Bobby +│/, '1:1 chats by the other person')
  const body = lines.slice(1, -2).map((l) => l.slice(l.indexOf('│') + 1)).join('\n')
  t.match(body, /12:00 bob: hello/)
  t.match(body, /12:00 ann: 你好 wide/)
  t.ok(body.indexOf('hello') < body.indexOf('你好'), 'oldest first, newest at the bottom')
  t.match(body, 'evil ^[[2J^[]0;x^G <U+009B>1m <U+202E>ok', 'control characters in content are shown escaped')
  const raw = frame.lines.join('').replace(/\x1b\[[0-9;]*m/g, '')
  t.notMatch(raw, /[\x00-\x1f\x7f-\x9f\u202e]/, 'nothing but the screen’s own styling reaches the terminal')
  t.match(lines.at(-2), /Tab focus · ↑↓ channel · Enter send/, 'the keys are listed')
  t.equal(frame.cursor, null, 'no cursor while the list has the focus')

  const typing = press(s, key('tab'), ...typed('hi there'))
  const withInput = render(typing.state, { columns: 80, rows: 12 })
  t.equal(plain(withInput).at(-1)!.trimEnd(), '> hi there', 'the input line')
  t.same(withInput.cursor, { row: 11, col: 10 }, 'the cursor after the typed text')
  const left = render(press(typing.state, key('left'), key('left')).state, { columns: 80, rows: 12 })
  t.same(left.cursor, { row: 11, col: 8 }, 'and where it was moved to')
  const long = render(press(typing.state, ...typed('x'.repeat(200))).state, { columns: 80, rows: 12 })
  t.equal(long.cursor!.col, 79, 'a long line scrolls sideways, the cursor stays on screen')
})

t.test('the screen: wrapping, scrolling, pending posts, small terminals', async (t) => {
  const many = Array.from({ length: 30 }, (_, i) => message(i + 1, `message number ${i + 1}`))
  let s = pageLoaded(base(), 'C1', many, '30')
  const frame = plain(render(s, { columns: 60, rows: 10 }))
  t.match(frame.at(-3), /message number 30/, 'the newest message sits just above the help line')
  t.notMatch(frame.join('\n'), /message number 1\b/, 'older ones are out of view')
  const up = plain(render(press(s, key('pageup')).state, { columns: 60, rows: 10 }))
  t.match(up.at(-3), /message number 20/, 'PgUp shows ten lines further back')
  const top = plain(render({ ...s, scroll: 10_000 }, { columns: 60, rows: 10 }))
  t.match(top[2], /message number 1\b/, 'scrolling stops at the oldest message')

  s = pageLoaded(base(), 'C1', [message(1, 'word '.repeat(30).trim())], '1')
  const wrapped = plain(render(s, { columns: 60, rows: 12 })).map((l) => l.slice(l.indexOf('│') + 1).trimEnd()).filter((l) => l.includes('word'))
  t.ok(wrapped.length >= 3, 'a long message wraps over several lines')
  t.match(wrapped[1], /^ {3}word/, 'continuation lines are indented')

  s = outboxChanged(s, [
    { client_msg_id: 'a', channel_id: 'C1', data: { content: 'on its way' }, created_at: '', attempts: 1, state: 'pending' },
    { client_msg_id: 'b', channel_id: 'C1', data: { content: 'refused' }, created_at: '', attempts: 1, state: 'failed', error: { code: 'MUTED', message: 'muted' } },
    { client_msg_id: 'c', channel_id: 'C2', data: { content: 'elsewhere' }, created_at: '', attempts: 1, state: 'pending' },
  ])
  const out = plain(render(s, { columns: 70, rows: 12 })).join('\n')
  t.match(out, 'ann: on its way (sending)', 'a post not yet confirmed is shown as sending')
  t.match(out, 'ann: refused (failed: MUTED)', 'a refused one with its code')
  t.notMatch(out, 'elsewhere', 'posts of other channels are not shown here')

  const loading = plain(render(base(), { columns: 60, rows: 10 })).join('\n')
  t.match(loading, 'loading…', 'a channel whose page has not come yet says so')
  const empty = plain(render(pageLoaded(base(), 'C1', [], '0'), { columns: 60, rows: 10 })).join('\n')
  t.match(empty, 'no messages yet')
  const none = plain(render(initialState(ME, []), { columns: 60, rows: 10 })).join('\n')
  t.match(none, '(none yet)', 'no channels or chats yet')
  const tiny = render(base(), { columns: 30, rows: 5 })
  t.equal(tiny.lines.length, 5)
  t.match(stripAnsi(tiny.lines[0]!), 'too small: need 40x8', 'a terminal too small says what it needs')
})
