// The typing path without a broker: payload checks, the per-connection throttle on a fake
// clock, the chat typing topic, and the forward hook skipping typing for a backed-up socket.
import t from 'tap'
import type { AedesPublishPacket, Client } from 'aedes'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import { isTypingTopic, parseFilter, parseTopic, topics, typingTopic } from '../../clients/sdk/src/topics.ts'
import { authorizeForward } from '../../broker/src/hooks/authorize-forward.ts'
import { setSession } from '../../broker/src/sessions.ts'
import { parseTyping, skipTypingTo, TYPING_BACKLOG_BYTES, TYPING_THROTTLE_MS, TypingThrottle, typingPayload, typingStats } from '../../broker/src/typing.ts'

t.test('the chat typing topic builds and parses like the server one', async (t) => {
  t.same(parseTopic(topics.chatTyping('K1')), { kind: 'chat-typing', chatId: 'K1' })
  t.same(parseFilter(topics.chatTyping('K1')), { kind: 'chat-typing', chatId: 'K1' })
  t.equal(typingTopic({ id: 'K1', serverId: null }), 'chime/v1/chats/K1/typing')
  t.equal(typingTopic({ id: 'C1', serverId: 'S1' }), 'chime/v1/servers/S1/channels/C1/typing')
  t.ok(isTypingTopic(topics.chatTyping('K1')) && isTypingTopic(topics.typing('S', 'C')))
  t.notOk(isTypingTopic(topics.chat('K1')) || isTypingTopic(topics.inbox('U')))
  for (const bad of ['chime/v1/chats/K1/typing/x', 'chime/v1/chats/K1/other', 'chime/v1/chats/+/typing', 'chime/v1/chats//typing']) t.equal(parseFilter(bad), null, bad)
})

t.test('payloads: TYPING with a state; anything else a coded error', async (t) => {
  t.equal(parseTyping(JSON.stringify({ action: 'TYPING', data: { state: 'typing', user_id: 'someone else' } })), 'typing')
  t.equal(parseTyping(Buffer.from(JSON.stringify({ action: 'TYPING', data: { state: 'stopped' } }))), 'stopped')
  const code = (p: string): string => (parseTyping(p) as ChatError).code
  t.equal(code('{'), 'BAD_JSON')
  t.equal(code('null'), 'INVALID_ENVELOPE')
  t.equal(code(JSON.stringify({ action: 'TYPING' })), 'INVALID_ENVELOPE')
  t.equal(code(JSON.stringify({ action: 'TYPING', data: { state: 'idle' } })), 'INVALID_FIELD')
  t.equal(code(JSON.stringify({ action: 'TYPING', data: { state: 'typing', pad: 'x'.repeat(2000) } })), 'PAYLOAD_TOO_LARGE')
  t.same(JSON.parse(typingPayload('U1', 'typing').toString()), { action: 'TYPING', data: { user_id: 'U1', state: 'typing', expires_in_ms: 6000 } })
})

t.test('the throttle: one typing per topic per 2 s; stopped only after a typing; a refusal gives the slot back', async (t) => {
  let now = 1_000_000
  const throttle = new TypingThrottle(() => now)
  const a = {} as Client
  const b = {} as Client
  t.ok(throttle.take(a, 'T1', 'typing'), 'the first passes')
  t.equal(throttle.take(a, 'T1', 'typing'), null, 'a repeat within 2 s is dropped')
  t.ok(throttle.take(a, 'T2', 'typing'), 'another topic has its own slot')
  t.ok(throttle.take(b, 'T1', 'typing'), 'another connection too')
  t.ok(throttle.take(a, 'T1', 'stopped'), 'stopped after typing passes at once')
  t.equal(throttle.take(a, 'T1', 'stopped'), null, 'a second stopped says nothing new')
  t.equal(throttle.take(a, 'T1', 'typing'), null, 'typing again within the window waits (no typing/stopped flood)')
  now += TYPING_THROTTLE_MS
  t.ok(throttle.take(a, 'T1', 'typing'), 'after 2 s it passes again')
  t.equal(throttle.take(a, 'T3', 'stopped'), null, 'a stopped with no typing before is dropped')
  const release = throttle.take(a, 'T4', 'typing')!
  release()
  t.ok(throttle.take(a, 'T4', 'typing'), 'a refused publish did not use the slot')
})

t.test('the forward hook skips typing, and only typing, for a subscriber whose socket is backed up', async (t) => {
  const client = (backlog: number, needDrain = false): Client => {
    const c = { conn: { writableLength: backlog, writableNeedDrain: needDrain } } as unknown as Client
    setSession(c, { userId: 'U1', username: 'u1', token: 'x', granted: new Set([topics.chatTyping('K1'), topics.chat('K1')]) })
    return c
  }
  const packet = (topic: string) => ({ topic, payload: Buffer.from('{}'), qos: 0, cmd: 'publish' }) as unknown as AedesPublishPacket
  const before = typingStats.skippedSlowSubscriber
  t.ok(authorizeForward(client(0), packet(topics.chatTyping('K1'))), 'an idle socket gets typing')
  t.equal(authorizeForward(client(TYPING_BACKLOG_BYTES + 1), packet(topics.chatTyping('K1'))), null, 'a backed-up one does not')
  t.equal(authorizeForward(client(0, true), packet(topics.chatTyping('K1'))), null, 'nor one waiting for a drain')
  t.ok(authorizeForward(client(TYPING_BACKLOG_BYTES + 1), packet(topics.chat('K1'))), 'deltas still go to it')
  t.equal(typingStats.skippedSlowSubscriber - before, 2, 'each skip is counted')
  t.equal(authorizeForward(client(0), packet(topics.chatTyping('K2'))), null, 'no grant, no typing')
  t.notOk(skipTypingTo({} as Client, topics.chatTyping('K1')), 'a client without a socket is not skipped')
})
