// BRIEF invariants 1-4 on the embedded profile; test/e2e/production-profile.test.ts runs
// the same checks on MariaDB + Redis.
import t from 'tap'
import { runInvariantSuite } from './invariant-suite.ts'
import { startTestChime } from '../helpers/chime.ts'

t.test('invariants on SQLite + in-memory broker', async (t) => {
  const chime = await startTestChime(t)
  await runInvariantSuite(t, chime)
})
