// last_seen of known devices is written in batches: many CONNECTs, one statement.
import t from 'tap'
import { DeviceSeenWriter } from '../../broker/src/device-seen.ts'
import { waitFor } from '../helpers/wait.ts'

function store(fail = 0): { writes: string[][]; recordSeen: (ids: readonly string[]) => Promise<void> } {
  const writes: string[][] = []
  let failures = fail
  return {
    writes,
    async recordSeen(ids) {
      if (failures-- > 0) throw new Error('database down')
      writes.push([...ids])
    },
  }
}

t.test('the CONNECTs of a moment are written together, each device once', async (t) => {
  const s = store()
  const w = new DeviceSeenWriter(s, (err) => t.fail(String(err)), 20)
  for (const id of ['a', 'b', 'a', 'c']) w.seen(id)
  t.same(s.writes, [], 'nothing written at once')
  await waitFor('the batch', () => (s.writes.length === 1 ? true : undefined))
  t.same(s.writes, [['a', 'b', 'c']])
  w.seen('d')
  await w.close()
  t.same(s.writes, [['a', 'b', 'c'], ['d']], 'close writes what is left')
})

t.test('past maxPending the batch is written without waiting', async (t) => {
  const s = store()
  const w = new DeviceSeenWriter(s, (err) => t.fail(String(err)), 60_000, 3)
  for (const id of ['a', 'b', 'c']) w.seen(id)
  await waitFor('the full batch', () => (s.writes.length === 1 ? true : undefined))
  t.same(s.writes, [['a', 'b', 'c']])
  await w.close()
})

t.test('a failed write is reported and the next batch is still written', async (t) => {
  const s = store(1)
  const errors: unknown[] = []
  const w = new DeviceSeenWriter(s, (err) => errors.push(err), 60_000)
  w.seen('a')
  await w.flush()
  t.equal(errors.length, 1, 'reported, not thrown')
  w.seen('b')
  await w.close()
  t.same(s.writes, [['b']])
})
