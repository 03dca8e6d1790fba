// The CLI's small pure parts: making user text safe for a terminal (and JSON safe to print),
// display widths and wrapping, the progress line, exit statuses by error class, resolving
// channel names, argument parsing errors, and reading a token's expiry.
import t from 'tap'
import { ChatError, ERROR_CATALOGUE, type ChatListItemJson, type ErrorCode } from '../../clients/sdk/src/index.ts'
import { parseCommand, type CommandSpec } from '../../clients/cli/commands/spec.ts'
import { EXIT, exitCodeFor } from '../../clients/cli/exit-codes.ts'
import { progressLine } from '../../clients/cli/progress.ts'
import { matchChannel } from '../../clients/cli/resolve.ts'
import { renewMarginMs, tokenTimes } from '../../clients/cli/session.ts'
import { fit, jsonText, safeText, textWidth, wrap } from '../../clients/cli/terminal-text.ts'

t.test('safeText shows every control character instead of sending it', async (t) => {
  t.equal(safeText('a\x1b[2Jb'), 'a^[[2Jb', 'ESC as ^[')
  t.equal(safeText('bell\x07 nul\x00 del\x7f'), 'bell^G nul^@ del^?')
  t.equal(safeText('csi\u009b1m'), 'csi<U+009B>1m', 'C1 controls (8-bit CSI) as code points')
  t.equal(safeText('ab\u202ecd\u2066x'), 'ab<U+202E>cd<U+2066>x', 'bidi overrides and isolates, which reorder what is shown')
  t.equal(safeText('cr\r\nlf'), 'cr^M\nlf', 'a carriage return cannot overwrite the line')
  t.equal(safeText('tab\there'), 'tab    here')
  t.equal(safeText('two\nlines', { singleLine: true }), 'two ↵ lines', 'single-line places mark newlines')
  t.equal(safeText('plain text, émoji 🎉, 你好'), 'plain text, émoji 🎉, 你好', 'ordinary text is untouched')
})

t.test('jsonText escapes what JSON.stringify leaves raw, and parses back the same', async (t) => {
  const value = { s: 'x\u009b31m \u202e y\u2028z\x1b' }
  const text = jsonText(value)
  t.notMatch(text, /[\x00-\x1f\x7f-\x9f\u202e\u2028]/)
  t.same(JSON.parse(text), value)
})

t.test('widths, fitting and wrapping', async (t) => {
  t.equal(textWidth('abc'), 3)
  t.equal(textWidth('你好'), 4, 'CJK takes two columns')
  t.equal(textWidth('🎉'), 2, 'so do emoji')
  t.equal(textWidth('e\u0301'), 1, 'combining marks take none')
  t.equal(fit('hello', 8), 'hello   ', 'padded')
  t.equal(fit('hello world', 8), 'hello w…', 'cut with an ellipsis')
  t.equal(textWidth(fit('你好你好你好', 5)), 5, 'a wide character that would cross the edge is left out')
  t.same(wrap('the quick brown fox', 10), ['the quick', 'brown fox'], 'at spaces')
  t.same(wrap('abcdefghijkl', 5), ['abcde', 'fghij', 'kl'], 'a word longer than the line is cut')
  t.same(wrap('one\ntwo', 20), ['one', 'two'], 'at newlines')
})

t.test('the progress line', async (t) => {
  t.equal(progressLine('up', 5, 10, '5 B / 10 B', 80), 'up [####################--------------------]  50%  5 B / 10 B')
  t.equal(progressLine('up', 0, 0, '', 80).includes('  0%'), true, 'an empty total is 0%')
  t.equal(progressLine('a long label', 10, 10, 'done', 30).length <= 30, true, 'never wider than the terminal')
})

t.test('exit statuses follow the class of the error code', async (t) => {
  const expected: Partial<Record<ErrorCode, number>> = {
    INVALID_FIELD: EXIT.BAD_INPUT, UNKNOWN_ACTION: EXIT.BAD_INPUT, INVALID_CURSOR: EXIT.BAD_INPUT, CONTENT_TOO_LARGE: EXIT.BAD_INPUT,
    UNAUTHENTICATED: EXIT.AUTH, INVALID_CREDENTIALS: EXIT.AUTH, TOKEN_EXPIRED: EXIT.AUTH, SESSION_REVOKED: EXIT.AUTH,
    CHANNEL_NOT_FOUND: EXIT.NOT_FOUND, SERVER_NOT_FOUND: EXIT.NOT_FOUND, MESSAGE_DELETED: EXIT.NOT_FOUND,
    FORBIDDEN: EXIT.FORBIDDEN, NOT_A_MEMBER: EXIT.FORBIDDEN, MUTED: EXIT.FORBIDDEN, BANNED: EXIT.FORBIDDEN,
    UNAVAILABLE: EXIT.UNAVAILABLE, REQUEST_TIMEOUT: EXIT.UNAVAILABLE, RATE_LIMITED: EXIT.UNAVAILABLE, LINK_EXPIRED: EXIT.UNAVAILABLE,
    CHECKSUM_MISMATCH: EXIT.INTEGRITY, UPLOAD_INCOMPLETE: EXIT.INTEGRITY,
    USERNAME_TAKEN: EXIT.REFUSED, CHANNEL_CLOSED: EXIT.REFUSED, INTERNAL: EXIT.REFUSED,
  }
  for (const [code, exit] of Object.entries(expected)) t.equal(exitCodeFor(new ChatError(code as ErrorCode)), exit, `${code}: ${exit}`)
  for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) t.not(exitCodeFor(new ChatError(code)), 0, `${code} is never success`)
})

t.test('channel names: ids, server/channel, #name, names; ambiguity is refused', async (t) => {
  const item = (id: string, name: string, server: string | null, kind: ChatListItemJson['kind'] = 'text'): ChatListItemJson => ({
    channel_id: id, kind, name, server_id: server === null ? null : `S-${server}`, server_name: server, icon_file_id: null, last_message: null,
    unread: 0, mentions: 0, unread_capped: false, mentions_capped: false, read_seq: '0', received_seq: '0', last_seq: '0', closed: false, last_activity_at: null,
  })
  const chats = [item('C1', 'general', 'Lab'), item('C2', 'general', 'Home'), item('C3', 'random', 'Lab'), item('C4', 'Bobby', null, 'dm'), item('C5', 'Lab/general', null, 'group')]
  t.equal(matchChannel(chats, 'C3').channel_id, 'C3', 'by id')
  t.equal(matchChannel(chats, 'Home/general').channel_id, 'C2', 'by server/channel')
  t.equal(matchChannel(chats, '#random').channel_id, 'C3', 'by #name')
  t.equal(matchChannel(chats, 'bobby').channel_id, 'C4', 'by name, in any case')
  t.equal(matchChannel(chats, '@Bobby').channel_id, 'C4', 'a 1:1 chat as @name')
  t.throws(() => matchChannel(chats, 'general'), { code: 'INVALID_FIELD', details: { field: 'channel', candidates: ['C1', 'C2'] } }, 'a name of two channels is refused with both')
  t.equal(matchChannel(chats, 'Lab/general').channel_id, 'C1', 'server/channel comes before a name that looks like it')
  t.equal(matchChannel(chats, 'C5').channel_id, 'C5', '(which its id still names)')
  t.throws(() => matchChannel(chats, 'nowhere'), { code: 'CHANNEL_NOT_FOUND' })
})

t.test('argument parsing errors name the argument', async (t) => {
  const spec: CommandSpec = { name: 'demo', args: ['<channel>', '[text...]'], summary: '', options: { limit: { type: 'string', help: '' } }, run: async () => 0 }
  t.same(parseCommand(spec, ['c', 'a', 'b', '--limit', '3']).positionals, ['c', 'a', 'b'], 'the last argument takes the rest')
  t.throws(() => parseCommand(spec, []), { code: 'INVALID_FIELD', details: { field: 'channel' } })
  t.throws(() => parseCommand(spec, ['c', '--nope']), { code: 'INVALID_FIELD', details: { field: 'nope' } })
  t.throws(() => parseCommand(spec, ['c', '--limit']), { code: 'INVALID_FIELD', details: { field: 'limit' } })
  const fixed: CommandSpec = { ...spec, args: ['<server>'] }
  t.throws(() => parseCommand(fixed, ['a', 'b']), { code: 'INVALID_FIELD', details: { field: 'arguments' } })
  t.same(parseCommand(spec, ['c', '--', '--not-an-option']).positionals, ['c', '--not-an-option'], 'after -- nothing is an option')
})

t.test("a token's expiry, and when to renew it", async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const token = `h.${Buffer.from(JSON.stringify({ iat: now, exp: now + 86_400 })).toString('base64url')}.s`
  t.same(tokenTimes(token), { expiresAt: (now + 86_400) * 1000, lifetimeMs: 86_400_000 })
  t.equal(tokenTimes('not a token'), null)
  t.equal(renewMarginMs(86_400_000), 120_000, 'two minutes before a day-long token ends')
  t.equal(renewMarginMs(60_000), 15_000, 'a quarter of a short one')
})
