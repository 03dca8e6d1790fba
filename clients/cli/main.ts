// The `chime` command-line client (docs/cli.md). Run it as `chime` once installed
// (package.json "bin", through chime.mjs), or from the checkout with
// `node --import tsx clients/cli/main.ts <command>`. The server is `npm start` (bin/chime.ts).
import { runCli } from './cli.ts'

// A reader that went away (`chime restore ... | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

const code = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })
// Let what was written reach its reader, then end even if a socket would keep the loop alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
