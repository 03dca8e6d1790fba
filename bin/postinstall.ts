// Runs after `npm ci` / `npm install`: generates both Prisma clients, and in a development
// install rebuilds tap with the plugins of .taprc (tap's TypeScript plugin does not work with
// TypeScript 7, and tap only applies a changed plugin list when it is rebuilt).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

function run(what: string, args: string[]): void {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`postinstall: ${what} failed (exit ${r.status ?? r.signal})`)
    process.exit(1)
  }
}

run('prisma client generation', ['--import', 'tsx', 'prisma/scripts/generate.ts'])
const tapBin = `${root}node_modules/tap/dist/esm/run.mjs`
if (existsSync(tapBin)) run('tap build', [tapBin, 'build'])
