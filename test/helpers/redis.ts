// A private redis-server per test file on a free port: isolated keys and pub/sub, and it
// can be stopped and restarted by the test.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { requireServices } from './databases.ts'
import { waitFor } from './wait.ts'
import { defer } from './cleanup.ts'

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const address = server.address()
  await new Promise<void>((r) => server.close(() => r()))
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

export interface TestRedis {
  url: string
  /** Kills the server (SIGKILL): its keys are gone, as after a crash without persistence. */
  stop(): Promise<void>
  /** Starts a new server on the same port (after stop()) and waits until it answers. */
  start(): Promise<void>
}

// If the test process ends without its teardown (the runner's timeout), the servers go too.
const running = new Set<() => void>()
process.once('exit', () => {
  for (const kill of running) kill()
})

/** Starts redis-server, or returns null (when services are not required and it is missing). */
export async function startRedis(t: Test): Promise<TestRedis | null> {
  const port = await freePort()
  let child: ChildProcess
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve())
      child.once('error', reject)
    })
  }
  try {
    await launch()
  } catch (err) {
    const message = `redis-server could not be started: ${(err as Error).message}`
    if (requireServices) throw new Error(message)
    t.comment(`${message}; the Redis suite is not run (set CHIME_TEST_SERVICES=require to make this fail)`)
    return null
  }
  const url = `redis://127.0.0.1:${port}`
  const answers = (): Promise<true> => waitFor('redis-server to answer', async () => {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    r.on('error', () => {}) // refused until the server is up: that is what is being polled
    try {
      await r.connect()
      return (await r.ping()) === 'PONG' ? true : undefined
    } catch {
      return undefined
    } finally {
      r.disconnect()
    }
  })
  await answers()
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill('SIGKILL')
    await exited
  }
  const start = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) throw new Error('redis-server is still running: stop() it first')
    await launch()
    await answers()
  }
  defer(t, () => stop())
  running.add(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { url, stop, start }
}
