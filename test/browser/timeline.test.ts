// The chat view's model of a channel (clients/web/src/lib/timeline.ts): a LIST_MESSAGES page
// and the deltas after its last_seq make the messages as they are now; deltas the page
// already covers are not applied twice; a post confirmed before its delta arrives is shown
// once; older pages go on top without repeating messages; a deleted original empties its quotes.
import t from 'tap'
import type { DeltaJson, MessageJson } from '../../clients/sdk/src/index.ts'
import { Timeline } from '../../clients/web/src/lib/timeline.ts'

const ME = 'U_ME'
const OTHER = 'U_OTHER'
const C = 'C1'

function msg(seq: number, content: string, user = OTHER): MessageJson {
  return { message_id: String(1000 + seq), channel_id: C, seq: String(seq), user_id: user, kind: 'text', content, timestamp: new Date(seq * 1000).toISOString(), reactions: [] }
}

function delta(seq: number, type: DeltaJson['type'], extra: Partial<DeltaJson> = {}): DeltaJson {
  return { delta_id: String(1000 + seq), seq: String(seq), type, channel_id: C, user_id: OTHER, content: null, timestamp: new Date(seq * 1000).toISOString(), ...extra }
}

t.test('a page, then the deltas after its last_seq', async (t) => {
  const tl = new Timeline(C, ME)
  tl.setLatestPage({ messages: [msg(3, 'three'), msg(4, 'four')], has_more: true, last_seq: '5' })
  t.equal(tl.apply(delta(4, 'message', { content: 'four again' })), false, 'a delta the page covers is skipped')
  t.equal(tl.apply(delta(5, 'reaction_added', { target_id: '1003', meta: { emoji: '👍' } })), false, 'also an update at last_seq')
  t.same(tl.messages.map((m) => m.content), ['three', 'four'])
  t.same(tl.messages[0]!.reactions, [], 'nothing applied twice')

  t.ok(tl.apply(delta(6, 'message', { content: 'six', client_msg_id: 'm6' })))
  t.ok(tl.apply(delta(7, 'edit', { target_id: '1003', content: 'three, edited' })))
  t.ok(tl.apply(delta(8, 'reaction_added', { target_id: '1004', meta: { emoji: '👍' }, user_id: ME })))
  t.ok(tl.apply(delta(9, 'reaction_added', { target_id: '1004', meta: { emoji: '👍' } })))
  t.ok(tl.apply(delta(10, 'reaction_removed', { target_id: '1004', meta: { emoji: '👍' }, user_id: ME })))
  t.same(tl.messages.map((m) => [m.seq, m.content, m.edited]), [[3, 'three, edited', true], [4, 'four', false], [6, 'six', false]])
  t.same(tl.messages[1]!.reactions, [{ emoji: '👍', count: 1, me: false }], 'reaction counts and "mine" follow the deltas')
  t.equal(tl.messages[2]!.client_msg_id, 'm6', 'the delta keeps client_msg_id (replaces the pending post)')
  t.equal(tl.apply(delta(11, 'edit', { target_id: '999', content: 'x' })), false, 'an update of a message not loaded changes nothing shown')
  t.equal(tl.appliedSeq, 11)
})

t.test('a confirmed post shows once, in seq order', async (t) => {
  const tl = new Timeline(C, ME)
  tl.setLatestPage({ messages: [msg(1, 'one')], has_more: false, last_seq: '1' })
  tl.confirm(delta(3, 'message', { user_id: ME, content: 'mine' }))
  t.same(tl.messages.map((m) => m.content), ['one', 'mine'], 'shown as soon as the server confirmed it')
  tl.apply(delta(2, 'message', { content: 'two' }))
  tl.apply(delta(3, 'message', { user_id: ME, content: 'mine' }))
  t.same(tl.messages.map((m) => m.content), ['one', 'two', 'mine'], 'the earlier delta goes before it; its own delta does not add it again')
})

t.test('older pages and deleted originals', async (t) => {
  const tl = new Timeline(C, ME)
  tl.setLatestPage({ messages: [msg(3, 'three'), { ...msg(4, 'reply'), reply_to: { message_id: '1003', user_id: OTHER, content: 'three', kind: 'text', timestamp: '', original: 'available' } }], has_more: true, last_seq: '4' })
  tl.addOlderPage({ messages: [msg(1, 'one'), msg(2, 'two'), msg(3, 'three')], has_more: false })
  t.same(tl.messages.map((m) => m.seq), [1, 2, 3, 4], 'the older page goes on top, without repeating')
  t.equal(tl.hasMore, false)
  tl.apply(delta(5, 'delete', { target_id: '1003', meta: { by: 'author' } }))
  const deleted = tl.get('1003')!
  t.ok(deleted.deleted)
  t.equal(deleted.content, null, 'a deleted message keeps its place without its content')
  t.same(tl.get('1004')!.reply_to, { message_id: '1003', user_id: OTHER, content: null, kind: 'text', timestamp: '', original: 'deleted' }, "its quotes no longer show the original's content")
})
