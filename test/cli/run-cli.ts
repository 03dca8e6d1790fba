// Runs the `chime` command-line client as a user would: a separate process
// (`node --import tsx clients/cli/main.ts ...`) with its own session file, so the tests see
// exactly its stdout, stderr and exit status. Asynchronous on purpose: the Chime under test
// runs in the test's own process and must keep answering while the CLI waits for it.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { TestChime } from '../helpers/chime.ts'
import { defer } from '../helpers/cleanup.ts'
import { waitFor } from '../helpers/wait.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const MAIN = 'clients/cli/main.ts'

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

// A test process that ends without its teardown must not leave CLI processes behind.
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** One user of the CLI: a home and a session file of its own. */
export interface CliUser {
  home: string
  config: string
  env: Record<string, string>
  run(args: string[], opts?: { env?: Record<string, string>; input?: string }): Promise<CliResult>
  spawn(args: string[], opts?: { env?: Record<string, string> }): LiveCli
}

export interface LiveCli {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Waits until stdout satisfies `check`. */
  waitForOutput<T>(what: string, check: (stdout: string) => T | undefined, timeoutMs?: number): Promise<T>
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>
}

function baseEnv(home: string, config: string): Record<string, string> {
  // Nothing from the caller's environment but PATH: no CHIME_URL, no real home, UTC times, no colour.
  return { PATH: process.env['PATH'] ?? '', HOME: home, CHIME_CONFIG: config, TZ: 'UTC', NO_COLOR: '1' }
}

function start(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

function collect(child: ChildProcess, input: string | undefined): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()))
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
  if (input !== undefined) child.stdin!.end(input)
  else child.stdin!.end()
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
}

export async function cliUser(t: Test, name = 'cli'): Promise<CliUser> {
  const home = await mkdtemp(join(tmpdir(), `chime-${name}-`))
  defer(t, () => rm(home, { recursive: true, force: true }))
  const config = join(home, 'chime', 'session.json')
  const env = baseEnv(home, config)
  return {
    home,
    config,
    env,
    run(args, opts = {}) {
      return collect(start(args, { ...env, ...opts.env }), opts.input)
    },
    spawn(args, opts = {}) {
      const child = start(args, { ...env, ...opts.env })
      let stdout = ''
      let stderr = ''
      child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()))
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
      const closed = new Promise<CliResult>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
      const live: LiveCli = {
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        waitForOutput: (what, check, timeoutMs = 20_000) =>
          waitFor(what, () => {
            if (child.exitCode !== null) throw new Error(`chime exited with ${child.exitCode} while waiting for ${what}:\n${stderr}`)
            return check(stdout)
          }, timeoutMs),
        async stop(signal = 'SIGINT') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          return closed
        },
      }
      defer(t, async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
        await closed
      })
      return live
    },
  }
}

/** The ERROR object a --json run printed on stderr. */
export function jsonError(r: CliResult): { code: string; message: string; details?: Record<string, unknown> } {
  const line = r.stderr.trim().split('\n').at(-1) ?? ''
  return (JSON.parse(line) as { error: { code: string; message: string; details?: Record<string, unknown> } }).error
}

export const PASSWORD = 'correct horse battery'

let counter = 0
/** A username no other test of this process uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}${process.pid}x${++counter}`
}

export interface SignedCli {
  cli: CliUser
  username: string
  user_id: string
  token: string
}

/** A user registered through `chime register` (its token read back from the session file, for HTTP calls of the test). */
export async function registered(t: Test, baseUrl: string, prefix: string): Promise<SignedCli> {
  const cli = await cliUser(t, prefix)
  const username = uniqueName(prefix)
  const r = await cli.run(['register', username, '--password', PASSWORD, '--url', baseUrl, '--json'])
  if (r.code !== 0) throw new Error(`register failed: ${r.stderr}`)
  const saved = JSON.parse(await readFile(cli.config, 'utf8')) as { user_id: string; token: string }
  return { cli, username, user_id: saved.user_id, token: saved.token }
}

export interface Lab {
  ann: SignedCli
  bob: SignedCli
  serverId: string
  serverName: string
  channelId: string
}

/** Ann's public server (its channel "general"), with Bob in it; both signed in through the CLI. */
export async function lab(t: Test, chime: TestChime): Promise<Lab> {
  const [ann, bob] = await Promise.all([registered(t, chime.baseUrl, 'ann'), registered(t, chime.baseUrl, 'bob')])
  const serverName = uniqueName('Lab ')
  const created = await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: ann.token, body: { name: serverName } })
  await chime.http('POST', `/api/servers/${created.body.server_id}/join`, { token: bob.token })
  return { ann, bob, serverId: created.body.server_id, serverName, channelId: created.body.channel_id }
}

/** Posts through the HTTP API (the other side of a conversation). */
export async function postAs(chime: TestChime, token: string, channelId: string, content: string): Promise<{ seq: string; delta_id: string }> {
  const r = await chime.http<{ action: string; data: { seq: string; delta_id: string } }>('POST', '/api/post/', { token, body: { action: 'POST_MESSAGE', data: { channel_id: channelId, content } } })
  if (r.body.action !== 'POST_MESSAGE_RESPONSE') throw new Error(`post failed: ${JSON.stringify(r.body)}`)
  return r.body.data
}
