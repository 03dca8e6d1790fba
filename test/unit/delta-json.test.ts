// The wire form of deltas: optional fields appear only when set, and a message or edit past
// its lifetime never goes out with its content, even before the expiry sweep purged it.
import t from 'tap'
import { toDeltaJson } from '../../api/src/publish/delta-json.ts'
import type { DeltaRecord } from '../../api/src/store/types.ts'

const at = new Date('2026-11-24T10:00:00.000Z')
const base: DeltaRecord = {
  deltaId: 7n, channelId: 'C', serverId: null, seq: 3n, type: 'message', userId: 'U', content: 'secret words',
  clientMsgId: null, targetId: null, meta: null, attachments: null, isPartitionHead: false, createdAt: at,
}

t.test('a plain message has no optional fields', async (t) => {
  t.same(toDeltaJson(base), { delta_id: '7', seq: '3', type: 'message', channel_id: 'C', user_id: 'U', content: 'secret words', timestamp: at.toISOString() })
})

t.test('target, meta and attachments travel when set', async (t) => {
  const json = toDeltaJson({ ...base, type: 'edit', targetId: 5n, meta: '{"mentions":["U2"]}', attachments: '[{"file_id":"F","name":"a","mime_type":"text/plain","size":1}]' })
  t.equal(json.target_id, '5')
  t.same(json.meta, { mentions: ['U2'] })
  t.same(json.attachments, [{ file_id: 'F', name: 'a', mime_type: 'text/plain', size: 1 }])
})

t.test('a message past its lifetime loses content, meta and attachments', async (t) => {
  const expiring = { ...base, meta: JSON.stringify({ kind: 'file', expires_at: '2026-11-24T10:00:05.000Z', mentions: ['U2'] }), attachments: '[{"file_id":"F","name":"a","mime_type":"text/plain","size":1}]' }
  const before = toDeltaJson(expiring, Date.parse('2026-11-24T10:00:04.999Z'))
  t.equal(before.content, 'secret words', 'before the lifetime ends it is whole')
  t.ok(before.attachments)
  const after = toDeltaJson(expiring, Date.parse('2026-11-24T10:00:05.000Z'))
  t.equal(after.content, null, 'from expires_at on, no content')
  t.same(after.meta, { expires_at: '2026-11-24T10:00:05.000Z', kind: 'file' }, 'only the lifetime and kind')
  t.notOk('attachments' in after, 'no attachments')
  const edit = toDeltaJson({ ...base, type: 'edit', targetId: 6n, content: 'edited secret', meta: JSON.stringify({ expires_at: '2026-11-24T10:00:05.000Z' }) }, Date.parse('2026-11-24T10:00:06Z'))
  t.equal(edit.content, null, 'an edit of an expired message neither')
})
