// The coordinator's handle on one chat load-generator process (worker.ts): fork, commands,
// and waiting for a report of a given type with a time limit.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ChatCommand, ChatReport } from './messages.ts'

type ReportOf<T extends ChatReport['type']> = Extract<ChatReport, { type: T }>

interface Waiter {
  type: ChatReport['type']
  resolve: (r: ChatReport) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class ChatLoadProcess {
  private readonly child: ChildProcess
  private readonly inbox: ChatReport[] = []
  private readonly waiters: Waiter[] = []
  private exited: Error | null = null

  constructor(readonly label: string) {
    this.child = fork(fileURLToPath(new URL('./worker.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (r: ChatReport) => {
      const i = this.waiters.findIndex((w) => w.type === r.type)
      if (i < 0) return void this.inbox.push(r)
      const [w] = this.waiters.splice(i, 1)
      clearTimeout(w!.timer)
      w!.resolve(r)
    })
    this.child.once('exit', (code, signal) => {
      this.exited = new Error(`chat load generator ${label} exited (${signal ?? code})`)
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer)
        w.reject(this.exited)
      }
    })
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  send(cmd: ChatCommand): void {
    if (this.exited !== null) throw this.exited
    this.child.send(cmd)
  }

  expect<T extends ChatReport['type']>(type: T, ms: number): Promise<ReportOf<T>> {
    const i = this.inbox.findIndex((r) => r.type === type)
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as ReportOf<T>)
    if (this.exited !== null) return Promise.reject(this.exited)
    return new Promise<ReportOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiters.findIndex((w) => w.timer === timer)
        if (k >= 0) this.waiters.splice(k, 1)
        reject(new Error(`chat load generator ${this.label}: no ${type} within ${ms / 1000} s`))
      }, ms)
      this.waiters.push({ type, resolve: resolve as (r: ChatReport) => void, reject, timer })
    })
  }

  request<T extends ChatReport['type']>(cmd: ChatCommand, type: T, ms: number): Promise<ReportOf<T>> {
    const answer = this.expect(type, ms)
    this.send(cmd)
    return answer
  }

  /** Disconnects every connection, then waits for the process to exit (killed after `ms`). */
  async close(ms = 30_000): Promise<void> {
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
