// A connection over its publish budget is slowed down, not refused: every QoS 1 post is
// acknowledged and committed once, in order, and GET /metrics says how often it waited.
import t from 'tap'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { Envelope } from '../../clients/sdk/src/protocol.ts'
import { collect, startTestChime } from '../helpers/chime.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('over its budget a connection waits, loses nothing, and the metrics say so', async (t) => {
  const chime = await startTestChime(t, { ingressClientRate: 40, ingressClientBurst: 5 })
  const ann = await chime.register()
  const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: ann.token, body: { name: 'budget' } })).body
  const client = await chime.connect(ann, { clientId: `ann-${process.pid}` })
  const replies = collect(client, topics.inbox(ann.user_id))
  await client.subscribeAsync(topics.inbox(ann.user_id), { qos: 1 })
  const N = 25
  const started = performance.now()
  await Promise.all(Array.from({ length: N }, (_, i) => client.publishAsync(topics.requests(client.options.clientId!), JSON.stringify({
    action: 'POST_MESSAGE', request_id: `r${i}`, data: { channel_id: server.channel_id, content: `m${i}`, client_msg_id: `c${i}` },
  }), { qos: 1 })))
  const ms = performance.now() - started
  t.ok(ms >= 300, `${N} posts with a budget of 5 + 40/s were all acknowledged, after ${ms.toFixed(0)} ms (20 over the burst need about 500 ms)`)
  await waitFor('the replies', () => (replies.filter((r) => r.action === 'POST_MESSAGE_RESPONSE').length === N ? true : undefined))
  const seqs = replies.filter((r) => r.action === 'POST_MESSAGE_RESPONSE').map((r) => Number((r as Envelope<string, { seq: string }>).data.seq))
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'committed in the order sent')
  t.equal(new Set(seqs).size, N, 'each once')
  t.equal(replies.filter((r) => r.action === 'ERROR').length, 0, 'nothing refused')

  const res = await fetch(`${chime.baseUrl}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type') ?? '', /^text\/plain/)
  const text = await res.text()
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
  t.ok(value('chime_broker_budget_holds_total') >= 15, `budget holds counted (${value('chime_broker_budget_holds_total')})`)
  t.equal(value('chime_broker_held_publishes'), 0, 'none waiting any more')
  t.equal(value('chime_broker_connections'), 1)
  t.match(text, /# TYPE chime_broker_overloaded gauge/)
})
