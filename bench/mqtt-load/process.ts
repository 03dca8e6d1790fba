// The coordinator's handle on one load-generator process (worker.ts): fork, commands, and
// waiting for a report of a given type with a time limit.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { WorkerCommand, WorkerReport } from './messages.ts'

type ReportOf<T extends WorkerReport['type']> = Extract<WorkerReport, { type: T }>

interface Waiter {
  type: WorkerReport['type']
  resolve: (r: WorkerReport) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class LoadProcess {
  private readonly child: ChildProcess
  /** Reports nobody waited for yet, oldest first. */
  private readonly inbox: WorkerReport[] = []
  private readonly waiters: Waiter[] = []
  private exited: Error | null = null

  constructor(readonly label: string) {
    this.child = fork(fileURLToPath(new URL('./worker.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (r: WorkerReport) => {
      const i = this.waiters.findIndex((w) => w.type === r.type)
      if (i < 0) return void this.inbox.push(r)
      const [w] = this.waiters.splice(i, 1)
      clearTimeout(w!.timer)
      w!.resolve(r)
    })
    this.child.once('exit', (code, signal) => {
      this.exited = new Error(`load generator ${label} exited (${signal ?? code})`)
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer)
        w.reject(this.exited)
      }
    })
  }

  send(cmd: WorkerCommand): void {
    if (this.exited !== null) throw this.exited
    this.child.send(cmd)
  }

  /** The next report of `type` (one that already arrived, or the next to come). */
  expect<T extends WorkerReport['type']>(type: T, ms: number): Promise<ReportOf<T>> {
    const i = this.inbox.findIndex((r) => r.type === type)
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as ReportOf<T>)
    if (this.exited !== null) return Promise.reject(this.exited)
    return new Promise<ReportOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiters.findIndex((w) => w.timer === timer)
        if (k >= 0) this.waiters.splice(k, 1)
        reject(new Error(`load generator ${this.label}: no ${type} within ${ms / 1000} s`))
      }, ms)
      this.waiters.push({ type, resolve: resolve as (r: WorkerReport) => void, reject, timer })
    })
  }

  async request<T extends WorkerReport['type']>(cmd: WorkerCommand, type: T, ms: number): Promise<ReportOf<T>> {
    const answer = this.expect(type, ms)
    this.send(cmd)
    return answer
  }

  /** Disconnects every connection, then waits for the process to exit (killed after `ms`). */
  async close(ms = 60_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms)
    try {
      this.send({ type: 'close' })
    } catch {
      this.child.kill('SIGKILL')
    }
    await exited
    clearTimeout(timer)
  }
}
