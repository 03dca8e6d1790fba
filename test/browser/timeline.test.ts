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

t.test('a window around a message, newer pages down to the live end', async (t) => {
  const tl = new Timeline(C, ME)
  // Opened at seq 20: LIST_MESSAGES before 41 (bound) read when the channel was at 100.
  tl.setWindow({ messages: [msg(15, 'fifteen'), msg(20, 'twenty'), msg(40, 'forty')], has_more: true, last_seq: '100' }, 41)
  t.ok(tl.detached, 'detached from the live end')
  t.equal(tl.readSeq, 40, 'read only as far as shown')
  t.equal(tl.apply(delta(101, 'message', { content: 'past the window' })), false, 'a new message past the window waits for a newer page')
  t.ok(tl.apply(delta(102, 'reaction_added', { target_id: '1020', meta: { emoji: '👍' } })), 'an update of a shown message applies')
  tl.confirm(delta(103, 'message', { user_id: ME, content: 'mine' }))
  t.same(tl.messages.map((m) => m.seq), [15, 20, 40], 'nor is a confirmed post added below the gap')

  // A newer page (before 141) read at 102: it has 101 but not the reaction 103 that came since.
  t.ok(tl.apply(delta(104, 'reaction_added', { target_id: '1060', meta: { emoji: '🎉' } })) === false, 'an update of a message not loaded yet')
  tl.addNewerPage({ messages: [msg(40, 'forty'), msg(60, 'sixty'), { ...msg(101, 'past the window') }], has_more: true, last_seq: '103' }, 141)
  t.notOk(tl.detached, 'the page reached the live end (141 > 103)')
  t.same(tl.messages.map((m) => m.seq), [15, 20, 40, 60, 101], 'in order, each once')
  t.same(tl.get('1060')!.reactions, [{ emoji: '🎉', count: 1, me: false }], 'a delta that came after the page was read is applied to it')
  t.same(tl.get('1020')!.reactions, [{ emoji: '👍', count: 1, me: false }], 'and none twice')
  t.ok(tl.apply(delta(105, 'message', { content: 'live' })), 'live again: new messages go at the end')
  t.equal(tl.messages.at(-1)!.content, 'live')
  t.equal(tl.readSeq, 105)
})

t.test('a newer page still short of the live end keeps the timeline detached', async (t) => {
  const tl = new Timeline(C, ME)
  tl.setWindow({ messages: [msg(1, 'one')], has_more: false, last_seq: '500' }, 22)
  tl.addNewerPage({ messages: [msg(50, 'fifty')], has_more: true, last_seq: '500' }, 122)
  t.ok(tl.detached)
  t.equal(tl.newerBound, 122)
  t.equal(tl.apply(delta(501, 'edit', { target_id: '1050', content: 'fifty, edited' })), true)
  tl.addNewerPage({ messages: [msg(50, 'fifty (as read)'), msg(130, 'one thirty')], has_more: true, last_seq: '500' }, 222)
  t.equal(tl.get('1050')!.content, 'fifty, edited', 'a message already shown stays as the deltas made it')
  t.same(tl.messages.map((m) => m.seq), [1, 50, 130])
})
