// A private MariaDB server for one test, in a temporary data directory on a free port, that
// the test may kill and start again on the same data directory and port (the shared server
// on 3306 must never be restarted under other tests). Root has no password; only 127.0.0.1
// is listened on. The binaries are found on PATH (and in the sbin directories, where Debian
// puts mariadbd); without them the caller gets null, or a failure under
// CHIME_TEST_SERVICES=require.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { createConnection } from 'mysql2/promise'
import { requireServices } from './databases.ts'
import { freePort } from './redis.ts'
import { defer } from './cleanup.ts'
import { waitFor } from './wait.ts'

export interface PrivateMariadb {
  port: number
  /** mysql://root@127.0.0.1:<port> (no database). */
  serverUrl: string
  /** Kills the server: SIGKILL (a crash; InnoDB recovers at the next start) or SIGTERM (a clean shutdown). */
  stop(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>
  /** Starts the server again on the same data directory and port; resolves once it answers. */
  start(): Promise<void>
  /** The server's error log, for failure messages. */
  log(): Promise<string>
}

function findBinary(names: readonly string[]): string | null {
  const path = `${process.env['PATH'] ?? ''}:/usr/sbin:/usr/local/sbin:/sbin`
  for (const name of names) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { env: { PATH: path }, encoding: 'utf8' })
    const at = found.stdout.trim()
    if (found.status === 0 && at !== '' && existsSync(at)) return at
  }
  return null
}

/** Installs and starts a private MariaDB, or returns null when its binaries are missing (see above). */
export async function startPrivateMariadb(t: Test): Promise<PrivateMariadb | null> {
  const server = findBinary(['mariadbd', 'mysqld'])
  const install = findBinary(['mariadb-install-db', 'mysql_install_db'])
  if (server === null || install === null) {
    const message = `a private MariaDB needs mariadbd and mariadb-install-db (found: ${server ?? 'no server'}, ${install ?? 'no installer'})`
    if (requireServices) {
      t.fail(`${message} (CHIME_TEST_SERVICES=require)`)
      throw new Error(message)
    }
    t.comment(`${message}; this test is not run (CHIME_TEST_SERVICES=require makes this a failure)`)
    return null
  }
  const dir = await mkdtemp(join(tmpdir(), 'chime-mariadb-'))
  const datadir = join(dir, 'data')
  const errorLog = join(dir, 'error.log')
  // mariadbd refuses to run as root unless told which user to be.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : []
  // Small redo log and buffer pool: the server holds a few test rows, and starts faster.
  const tuning = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M', '--skip-log-bin']
  const installed = spawnSync(install, ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...asRoot, ...tuning], { encoding: 'utf8' })
  if (installed.status !== 0) {
    await rm(dir, { recursive: true, force: true })
    throw new Error(`${install} failed (${installed.status}):\n${installed.stdout}\n${installed.stderr}`)
  }
  const port = await freePort()
  const serverUrl = `mysql://root@127.0.0.1:${port}`
  const args = [
    '--no-defaults', `--datadir=${datadir}`, `--socket=${join(dir, 'mysqld.sock')}`, `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--log-error=${errorLog}`, `--port=${port}`, '--bind-address=127.0.0.1', '--skip-networking=0', ...tuning, ...asRoot,
  ]
  let child: ChildProcess | undefined
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null
  // If the test process ends without its teardown (the runner's timeout), the server goes too.
  process.once('exit', () => {
    if (running()) child!.kill('SIGKILL')
  })
  const log = (): Promise<string> => readFile(errorLog, 'utf8').catch(() => '')
  const start = async (): Promise<void> => {
    if (running()) throw new Error('the private MariaDB is still running: stop() it first')
    const c = spawn(server, args, { stdio: 'ignore' })
    child = c
    await new Promise<void>((resolve, reject) => {
      c.once('spawn', () => resolve())
      c.once('error', reject)
    })
    await waitFor(`the private MariaDB on port ${port} to answer`, async () => {
      if (!running()) throw new Error(`mariadbd exited (${c.exitCode ?? c.signalCode}):\n${(await log()).slice(-2000)}`)
      try {
        const conn = await createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 })
        await conn.end()
        return true
      } catch {
        return undefined
      }
    }, 30_000)
  }
  const stop = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> => {
    const c = child
    if (c === undefined || !running()) return
    const exited = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill(signal)
    await exited
  }
  defer(t, () => rm(dir, { recursive: true, force: true }))
  defer(t, () => stop())
  await start()
  return { port, serverUrl, stop, start, log }
}
