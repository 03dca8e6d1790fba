// Regressions: on SQLite, SYNC of everything for a user with more than 999 readable channels
// failed ("too many SQL variables": Prisma binds each channel id), and so did a request
// batch of about 500 POST_MESSAGEs (Prisma merged their concurrent permission lookups into
// one query over the same limit). Both answer normally now.
import t from 'tap'
import type { DeltaJson, Envelope } from '../../clients/sdk/src/protocol.ts'
import { startTestChime } from '../helpers/chime.ts'

t.test('SQLite: SYNC across 1,000+ channels and a batch of 600 posts', async (t) => {
  const chime = await startTestChime(t)
  const [owner, friend] = [await chime.register(), await chime.register()]
  const created = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: owner.token, body: { name: 'wide' } })
  const serverId = created.body.server_id
  const channels = [created.body.channel_id]
  for (let i = 0; i < 1000; i++) {
    const res = await chime.http<{ channel_id: string }>('POST', `/api/servers/${serverId}/channels`, { token: owner.token, body: { name: `c${i}` } })
    t.equal(res.status, 200, 'channel created') || t.bailout(JSON.stringify(res.body))
    channels.push(res.body.channel_id)
  }
  t.ok(channels.length > 999, 'more readable channels than SQLite binds parameters')
  const chat = (await chime.http<{ chat_id: string }>('POST', '/api/chats', { token: owner.token, body: { user_ids: [friend.user_id] } })).body.chat_id

  // Posts into every 200th channel and the chat, then one SYNC of everything.
  const targets = [...channels.filter((_, i) => i % 200 === 0), chat]
  for (const channel_id of targets) await chime.http('POST', '/api/post/', { token: owner.token, body: { action: 'POST_MESSAGE', data: { channel_id, content: `in ${channel_id}` } } })
  // One SYNC of everything, paged until recovered.
  const all: DeltaJson[] = []
  let cursor = '0'
  for (let page = 0; page < 100; page++) {
    const sync = await chime.http<Envelope<string, { missing_deltas: DeltaJson[]; recovered: boolean; next_client_delta_id: string }>>('POST', '/api/sync/', { token: owner.token, body: { action: 'SYNC', data: { client_delta_id: cursor } } })
    t.equal(sync.body.action, 'SYNC_RESPONSE', JSON.stringify(sync.body).slice(0, 200))
    all.push(...sync.body.data.missing_deltas)
    cursor = sync.body.data.next_client_delta_id
    if (sync.body.data.recovered) break
  }
  const posted = all.filter((d) => d.type === 'message')
  t.same(posted.map((d) => d.channel_id).sort(), [...targets].sort(), 'every post, across all the chunks of channels')
  const ids = all.map((d) => BigInt(d.delta_id))
  t.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'in delta_id order, no repeats across pages')

  const batch = Array.from({ length: 600 }, (_, i) => ({ action: 'POST_MESSAGE', request_id: `r${i}`, data: { channel_id: chat, content: `batch ${i}` } }))
  const replies = (await chime.http<Envelope[]>('POST', '/api/requests', { token: owner.token, body: batch })).body
  t.equal(replies.length, 600)
  t.equal(replies.filter((r) => r.action === 'POST_MESSAGE_RESPONSE').length, 600, 'all 600 posts committed')
  const seqs = replies.map((r) => BigInt((r.data as { seq: string }).seq))
  t.ok(seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1n), 'in request order, gapless')
})
