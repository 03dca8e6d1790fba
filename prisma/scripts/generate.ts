// `npm run db:generate` (also postinstall): derives prisma/sqlite/schema.prisma, then runs the
// locally installed Prisma CLI's `generate` for both schemas (generated/mysql, generated/sqlite).
//
// The CLI wants its native schema engine even for `generate`, which never uses it, and tries to
// download it when it is missing; offline that fails. PRISMA_SCHEMA_ENGINE_BINARY pointing at
// any existing file (node itself, unless the caller set it) skips the download. Any failure
// exits 1 with the CLI's output, so a broken generation cannot pass unnoticed.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { writeSqliteSchema } from './derive-sqlite.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const cli = fileURLToPath(new URL('../../node_modules/prisma/build/index.js', import.meta.url))

const targets = [
  { schema: 'prisma/schema.prisma', client: 'generated/mysql/client.ts' },
  { schema: 'prisma/sqlite/schema.prisma', client: 'generated/sqlite/client.ts' },
]

function fail(message: string): never {
  console.error(`db:generate: ${message}`)
  process.exit(1)
}

if (!existsSync(cli)) fail(`the Prisma CLI is not installed at ${cli} (it is a devDependency: run npm install with dev dependencies)`)

await writeSqliteSchema()
for (const { schema, client } of targets) {
  const startedAt = Date.now()
  const result = spawnSync(process.execPath, [cli, 'generate', '--schema', schema], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env['PRISMA_SCHEMA_ENGINE_BINARY'] ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
  if (result.error !== undefined) fail(`prisma generate for ${schema} did not run: ${result.error.message}\n${output}`)
  if (result.status !== 0 || !/Generated Prisma Client/.test(output)) {
    fail(`prisma generate failed for ${schema} (exit ${result.status ?? result.signal}):\n${output}`)
  }
  const clientPath = `${root}${client}`
  // A tolerance of a few seconds covers file systems with coarse timestamps.
  if (!existsSync(clientPath) || statSync(clientPath).mtimeMs < startedAt - 5_000) {
    fail(`prisma generate for ${schema} reported success but did not write ${client}:\n${output}`)
  }
  console.log(`db:generate: ${schema} -> ${client}`)
}
