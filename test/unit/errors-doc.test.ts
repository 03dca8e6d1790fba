// Every code of the catalogue is documented, and the documentation names no code that
// does not exist (the fastify habit: test/internals/errors.test.js).
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { ERROR_CATALOGUE } from '../../clients/sdk/src/errors.ts'

t.test('docs/errors.md and the catalogue agree', async (t) => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const documented = new Map([...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]))
  for (const [code, { status }] of Object.entries(ERROR_CATALOGUE)) {
    t.equal(documented.get(code), status, `${code} is documented with HTTP ${status}`)
  }
  for (const code of documented.keys()) t.ok(code in ERROR_CATALOGUE, `${code} in the docs exists in the catalogue`)
})
