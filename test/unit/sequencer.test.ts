// The sequencer publishes only what committed, after the commit, in commit order.
import t from 'tap'
import { Sequencer, type DeltaPublisher } from '../../api/src/sequencer/sequencer.ts'
import type { DeltaLog } from '../../api/src/store/delta-log.ts'
import type { AppendInput, AppendResult, DeltaRecord } from '../../api/src/store/types.ts'

function fakeLog(behaviour: (inputs: readonly AppendInput[]) => Promise<void>): { log: DeltaLog; committed: DeltaRecord[]; batches: number[] } {
  let id = 0n
  const committed: DeltaRecord[] = []
  const batches: number[] = []
  const log = {
    async append(inputs: readonly AppendInput[], afterCommit: (r: AppendResult[]) => Promise<void>): Promise<AppendResult[]> {
      batches.push(inputs.length)
      await behaviour(inputs)
      const out = inputs.map((i) => ({ delta: { deltaId: ++id, channelId: i.channelId, serverId: null, seq: id, type: i.type, userId: i.userId, content: i.content, clientMsgId: null, targetId: null, meta: null, attachments: null, isPartitionHead: false, createdAt: new Date() }, duplicate: false }))
      committed.push(...out.map((o) => o.delta))
      await afterCommit(out)
      return out
    },
  } as unknown as DeltaLog
  return { log, committed, batches }
}

const quiet = { announce: async () => {}, publishInbox: async () => {} }

const input = (content: string): AppendInput => ({ channelId: 'C', userId: 'U', type: 'message', content })

t.test('nothing is published before its commit, and order is commit order', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const { log, committed } = fakeLog(() => gate)
  const published: string[] = []
  const publisher: DeltaPublisher = {
    ...quiet,
    async publish(deltas) {
      for (const d of deltas) {
        t.ok(committed.some((c) => c.deltaId === d.deltaId), `delta ${d.deltaId} was committed before it was published`)
        published.push(d.content!)
      }
    },
  }
  const seq = new Sequencer(log, publisher, 100, (err) => t.fail(String(err)))
  const pending = ['a', 'b', 'c'].map((c) => seq.append(input(c)))
  await new Promise((r) => setImmediate(r))
  t.same(published, [], 'nothing published while the transaction is open')
  release()
  await Promise.all(pending)
  await seq.close()
  t.same(published, ['a', 'b', 'c'])
})

t.test('posts arriving during a transaction join the next one (group commit)', async (t) => {
  const { log, batches } = fakeLog(() => new Promise((r) => setTimeout(r, 5)))
  const seq = new Sequencer(log, { ...quiet, publish: async () => {} }, 50, () => {})
  const first = seq.append(input('first'))
  await new Promise((r) => setImmediate(r))
  const rest = Array.from({ length: 120 }, (_, i) => seq.append(input(`p${i}`)))
  await Promise.all([first, ...rest])
  await seq.close()
  t.same(batches, [1, 50, 50, 20], 'one alone, then batches up to the maximum')
})

t.test('a failed batch is retried post by post, so one bad post fails alone', async (t) => {
  const { log } = fakeLog(async (inputs) => {
    if (inputs.some((i) => i.content === 'poison')) throw new Error('constraint failed')
  })
  const published: string[] = []
  const seq = new Sequencer(log, { ...quiet, publish: async (ds) => void published.push(...ds.map((d) => d.content!)) }, 100, () => {})
  const gate = seq.append(input('opener'))
  const results = await Promise.allSettled([gate, seq.append(input('ok1')), seq.append(input('poison')), seq.append(input('ok2'))])
  await seq.close()
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
  t.same(published, ['opener', 'ok1', 'ok2'], 'the failed post was never published')
})

t.test('a failed publish does not fail the post: it is committed, and SYNC has it', async (t) => {
  const { log, committed } = fakeLog(async () => {})
  const errors: unknown[] = []
  const seq = new Sequencer(log, { ...quiet, publish: async () => { throw new Error('broker down') } }, 10, (err) => errors.push(err))
  const result = await seq.append(input('kept'))
  await seq.close()
  t.equal(result.duplicate, false)
  t.equal(committed.length, 1)
  t.equal(errors.length, 1, 'the failure is reported')
})

t.test('a post arriving while the last publish runs is taken, not left in the queue', async (t) => {
  const { log } = fakeLog(async () => {})
  let releasePublish!: () => void
  const gate = new Promise<void>((r) => (releasePublish = r))
  let publishing = false
  const seq = new Sequencer(log, {
    ...quiet,
    async publish(deltas) {
      if (deltas.some((d) => d.content === 'slow')) {
        publishing = true
        await gate
      }
    },
  }, 100, () => {})
  const slow = seq.append(input('slow'))
  const deadline = Date.now() + 5000
  while (!publishing && Date.now() < deadline) await new Promise((r) => setImmediate(r))
  const late = seq.append(input('late'))
  releasePublish()
  const outcome = await Promise.race([Promise.all([slow, late]).then(() => 'both committed'), new Promise((r) => setTimeout(() => r('stuck'), 2000))])
  t.equal(outcome, 'both committed')
  await seq.close()
})

t.test('linger: a lone post at low load commits at once, a burst just after a commit joins one transaction', async (t) => {
  const { log, batches } = fakeLog(async () => {})
  // A linger far longer than the test: were it applied to the lone post, the test would time out.
  const seq = new Sequencer(log, { ...quiet, publish: async () => {} }, 100, () => {}, 60_000)
  const lone = seq.append(input('lone'))
  await new Promise((r) => setImmediate(r))
  t.same(batches, [1], 'the lone post went to the database without waiting')
  await lone
  await seq.close()

  const { log: log2, batches: batches2 } = fakeLog(async () => {})
  // batchMax 11: the linger (a minute) ends when the burst is complete, whatever the machine's speed.
  const seq2 = new Sequencer(log2, { ...quiet, publish: async () => {} }, 11, () => {}, 60_000)
  await seq2.append(input('first'))
  // Right after that commit: one post, then the rest of the burst a few milliseconds later.
  const early = seq2.append(input('early'))
  await new Promise((r) => setTimeout(r, 3))
  const rest = Array.from({ length: 10 }, (_, i) => seq2.append(input(`r${i}`)))
  await Promise.all([early, ...rest])
  await seq2.close()
  t.same(batches2, [1, 11], 'the early post waited for the burst instead of committing alone')
})

t.test('linger ends as soon as a full batch is queued', async (t) => {
  const { log, batches } = fakeLog(async () => {})
  const seq = new Sequencer(log, { ...quiet, publish: async () => {} }, 5, () => {}, 60_000)
  await seq.append(input('first'))
  await Promise.all(Array.from({ length: 5 }, (_, i) => seq.append(input(`b${i}`))))
  await seq.close()
  t.same(batches, [1, 5], 'a full batch did not wait out the linger')
})
