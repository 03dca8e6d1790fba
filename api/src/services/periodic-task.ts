// A background task of an API process that runs every `intervalMs` (0: only when asked):
// the expiry sweeper and the history archiver. Runs of one task never overlap; a failed run
// is logged and the task tries again on the next tick.

export interface TaskLogger {
  error(obj: object, msg: string): void
}

export interface PeriodicTask<T> {
  /** Runs the task now (after the run in flight, if any) and answers its result. */
  runNow(): Promise<T>
  /** Stops the timer and waits for a run in flight. */
  stop(): Promise<void>
}

export interface PeriodicTaskOptions<T> {
  intervalMs: number
  run: () => Promise<T>
  /** What a failed run counts as, for the runs waiting behind it. */
  failed: T
  /** Logged when a run fails. */
  failure: string
  log: TaskLogger
}

export function startPeriodicTask<T>(opts: PeriodicTaskOptions<T>): PeriodicTask<T> {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let running: Promise<T> = Promise.resolve(opts.failed)

  const runNow = (): Promise<T> => {
    const next = running.catch(() => opts.failed).then(() => opts.run())
    running = next.catch((err: unknown) => {
      opts.log.error({ err }, opts.failure)
      return opts.failed
    })
    return next
  }

  const schedule = (): void => {
    if (stopped || opts.intervalMs === 0) return
    timer = setTimeout(() => {
      void runNow().catch(() => undefined).finally(schedule)
    }, opts.intervalMs)
    timer.unref()
  }
  schedule()

  return {
    runNow,
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      await running
    },
  }
}
