// The coordinator's handle on one load-generator process: fork, commands, and waiting for a
// report of a given type with a time limit. Shared by the raw MQTT (mqtt-load/) and chat
// (chat-load/) generators; each worker answers { type: 'close' } by disconnecting and exiting.
// Also the two helpers the forked Chime processes (chat-chime.ts, mqtt-chime.ts) share.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Waiter<R> {
  type: string
  resolve: (r: R) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class ForkedWorker<C extends { type: string }, R extends { type: string }> {
  private readonly child: ChildProcess
  /** Reports nobody waited for yet, oldest first. */
  private readonly inbox: R[] = []
  private readonly waiters: Waiter<R>[] = []
  private exited: Error | null = null

  /** `name` says which generator in errors ("load generator fanout/3"). */
  constructor(script: URL, readonly name: string, private readonly closeMs: number) {
    this.child = fork(fileURLToPath(script), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (r: R) => {
      const i = this.waiters.findIndex((w) => w.type === r.type)
      if (i < 0) return void this.inbox.push(r)
      const [w] = this.waiters.splice(i, 1)
      clearTimeout(w!.timer)
      w!.resolve(r)
    })
    this.child.once('exit', (code, signal) => {
      this.exited = new Error(`${name} exited (${signal ?? code})`)
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer)
        w.reject(this.exited)
      }
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  send(cmd: C): void {
    if (this.exited !== null) throw this.exited
    this.child.send(cmd)
  }

  /** The next report of `type` (one that already arrived, or the next to come). */
  expect<T extends R['type']>(type: T, ms: number): Promise<Extract<R, { type: T }>> {
    const i = this.inbox.findIndex((r) => r.type === type)
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Extract<R, { type: T }>)
    if (this.exited !== null) return Promise.reject(this.exited)
    return new Promise<Extract<R, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiters.findIndex((w) => w.timer === timer)
        if (k >= 0) this.waiters.splice(k, 1)
        reject(new Error(`${this.name}: no ${type} within ${ms / 1000} s`))
      }, ms)
      this.waiters.push({ type, resolve: resolve as (r: R) => void, reject, timer })
    })
  }

  request<T extends R['type']>(cmd: C, type: T, ms: number): Promise<Extract<R, { type: T }>> {
    const answer = this.expect(type, ms)
    this.send(cmd)
    return answer
  }

  /** Disconnects every connection, then waits for the process to exit (killed after `ms`). */
  async close(ms = this.closeMs): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms)
    try {
      this.send({ type: 'close' } as C)
    } catch {
      this.child.kill('SIGKILL')
    }
    await exited
    clearTimeout(timer)
  }
}

/**
 * The next report of type `want` from a forked Chime process (bench/chat-chime.ts,
 * bench/mqtt-chime.ts); a report { type: 'failed', error } or the process's exit rejects.
 * `who` names the process in errors.
 */
export function nextReport<R extends { type: string }>(child: ChildProcess, want: R['type'], ms: number, who: string): Promise<R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${who} did not answer ${want} within ${ms / 1000} s`)), ms)
    const onMessage = (m: R): void => {
      if (m.type === 'failed') done(new Error(`${who} failed: ${(m as unknown as { error: string }).error}`))
      else if (m.type === want) done(null, m)
    }
    const onExit = (code: number | null): void => done(new Error(`${who} exited with ${code}`))
    function done(err: Error | null, m?: R): void {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      if (err !== null) reject(err)
      else resolve(m!)
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** Asks a forked process to stop and waits for it to exit; kills it after `killAfterMs`. */
export async function stopChild(child: ChildProcess, ask: () => void, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  ask()
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
  await exited
  clearTimeout(timer)
}
