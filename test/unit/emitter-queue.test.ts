// The emitter's queue in constant time: messages beyond its concurrency still reach their
// listeners, in order, each callback once, and mqemitter's `length` still counts the queue.
import t from 'tap'
import { createRequire } from 'node:module'
import Denque from 'denque'
import { constantTimeEmitterQueue } from '../../broker/src/emitter-queue.ts'

const require = createRequire(import.meta.url)
const MQEmitter = require('mqemitter') as (opts: { concurrency: number }) => {
  on(topic: string, notify: (msg: { topic: string; n: number }, cb: () => void) => void): void
  emit(msg: { topic: string; n: number }, cb: () => void): void
  length: number
}

t.test('a flood beyond the concurrency is delivered in order, each callback once, through a Denque', async (t) => {
  const mq = MQEmitter({ concurrency: 2 })
  t.equal(constantTimeEmitterQueue(mq), true, 'the queue was replaced')
  t.ok((mq as unknown as { _messageQueue: unknown })._messageQueue instanceof Denque)
  const got: number[] = []
  const pending: Array<() => void> = []
  mq.on('a/b', (msg, cb) => {
    got.push(msg.n)
    pending.push(cb)
  })
  const done: number[] = []
  const N = 10_000
  for (let n = 0; n < N; n++) mq.emit({ topic: 'a/b', n }, () => done.push(n))
  t.equal(mq.length, N - 2, 'all but two wait in the queue')
  while (pending.length > 0) pending.shift()!()
  t.same(got, Array.from({ length: N }, (_, n) => n), 'every message reached the listener, in order')
  t.equal(done.length, N, 'every emit called back')
  t.equal(new Set(done).size, N, 'each once')
  t.equal(mq.length, 0)
})

t.test('an emitter without those queues is left as it is', async (t) => {
  t.equal(constantTimeEmitterQueue({}), false)
  t.equal(constantTimeEmitterQueue(null), false)
})
