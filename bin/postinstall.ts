// Runs after `npm ci` / `npm install`: generates both Prisma clients, builds the web app, and in a development
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
// The web app the API serves at / (clients/web/dist). An install without the sources (a
// Docker layer that copies only the manifests) or without the build tools (--omit=dev)
// skips it; `npm run build:web` builds it later.
const viteBin = `${root}node_modules/vite/bin/vite.js`
if (existsSync(`${root}clients/web/index.html`) && existsSync(viteBin)) run('web app build', [viteBin, 'build', 'clients/web', '--logLevel', 'warn'])
else console.log('postinstall: the web app was not built here; run `npm run build:web` where its sources and the dev dependencies are')
const tapBin = `${root}node_modules/tap/dist/esm/run.mjs`
if (existsSync(tapBin)) run('tap build', [tapBin, 'build'])
