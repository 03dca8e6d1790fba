// What the load generators share: the paced send loop of a step, the QoS 1 packet-id window
// and connecting in lanes. The send loop, shared by the raw MQTT (worker.ts) and chat
// (chat-load/worker.ts) generators: every sender keeps its own schedule of `ratePerSender`
// messages a second against the shared monotonic clock, the senders spread over the second
// so they do not all send at once; one that fell behind catches up at most MAX_CATCH_UP_S of
// its schedule at once, and what it may not send (a backed-up socket, a full window of
// unacknowledged messages) is counted as held back instead of queued without end.
import { nowMicros } from './codec.ts'

/** A sender that fell behind catches up at most this much of its schedule at once. */
const MAX_CATCH_UP_S = 0.1

export interface Sender {
  /** Messages scheduled so far this step (sent or held back). */
  scheduled: number
}

export interface StepWindow {
  /** When sending starts (µs on the shared clock). */
  startAtUs: number
  /** The measured window: sends in it are counted apart. */
  windowStartUs: number
  windowEndUs: number
}

/** What a step sent, read by the worker's counts. */
export interface PacingCounts {
  sent: number
  sentInWindow: number
  heldBack: number
  /** The longest gap between two turns of the loop, in ms (the generator's own lag). */
  maxTickLagMs: number
  /** CPU time this process used in the measured window, in µs (set when the window ends). */
  windowCpuUs: number
}

export interface PacedStep<S extends Sender> extends StepWindow {
  senders: readonly S[]
  ratePerSender: number
  /** How many of `due` messages the sender may send now. */
  sendable(sender: S, due: number): number
  /** Sends `n` messages stamped `nowUs`. */
  write(sender: S, n: number, nowUs: number): void
  /** Called once sending has ended. */
  done(counts: PacingCounts): void
}

/** Measures this process's CPU time over the window into counts.windowCpuUs. */
function measureWindowCpu(window: StepWindow, counts: PacingCounts): void {
  let cpuAtStart: NodeJS.CpuUsage | null = null
  const untilWindow = Math.max(0, (window.windowStartUs - nowMicros()) / 1000)
  setTimeout(() => {
    cpuAtStart = process.cpuUsage()
  }, untilWindow)
  setTimeout(() => {
    const d = process.cpuUsage(cpuAtStart ?? undefined)
    counts.windowCpuUs = d.user + d.system
  }, untilWindow + (window.windowEndUs - window.windowStartUs) / 1000)
}

/** Runs one step's sending; answers its counts, which fill in as it goes. */
export function runPacedStep<S extends Sender>(step: PacedStep<S>): PacingCounts {
  const counts: PacingCounts = { sent: 0, sentInWindow: 0, heldBack: 0, maxTickLagMs: 0, windowCpuUs: 0 }
  measureWindowCpu(step, counts)
  const { senders, ratePerSender, startAtUs, windowStartUs, windowEndUs } = step
  if (senders.length === 0) return counts
  for (const s of senders) s.scheduled = 0
  const n = senders.length
  const maxCatchUp = Math.max(1, Math.ceil(ratePerSender * MAX_CATCH_UP_S))
  let lastTickUs = 0
  const tick = (): void => {
    const now = nowMicros()
    if (now < startAtUs) {
      setTimeout(tick, Math.max(0, (startAtUs - now) / 1000))
      return
    }
    if (lastTickUs > 0) counts.maxTickLagMs = Math.max(counts.maxTickLagMs, (now - lastTickUs) / 1000)
    lastTickUs = now
    const elapsedS = (Math.min(now, windowEndUs) - startAtUs) / 1e6
    for (let k = 0; k < n; k++) {
      const s = senders[k]!
      // Spread over the second (phase k/n).
      let due = Math.floor(elapsedS * ratePerSender + k / n) - s.scheduled
      if (due <= 0) continue
      if (due > maxCatchUp) {
        counts.heldBack += due - maxCatchUp
        s.scheduled += due - maxCatchUp
        due = maxCatchUp
      }
      const m = step.sendable(s, due)
      counts.heldBack += due - m
      s.scheduled += due
      if (m === 0) continue
      step.write(s, m, now)
      counts.sent += m
      if (now >= windowStartUs && now < windowEndUs) counts.sentInWindow += m
    }
    if (now >= windowEndUs) {
      step.done(counts)
      return
    }
    setTimeout(tick, 1)
  }
  tick()
  return counts
}

/** The QoS 1 packet ids of one connection: which are unacknowledged, and the next to use. */
export class PacketIdWindow {
  private readonly inUse = new Uint8Array(65_536)
  private nextId = 1
  unacked = 0

  /** Takes the next packet id (the caller checked `free` first). */
  take(): number {
    const id = this.nextId
    this.inUse[id] = 1
    this.unacked++
    this.nextId = id === 65_535 ? 1 : id + 1
    return id
  }

  /** A PUBACK: the id is free again (a duplicate or unknown id changes nothing). */
  release(id: number): void {
    if (this.inUse[id] === 1) {
      this.inUse[id] = 0
      this.unacked--
    }
  }

  /** How many of `due` ids may be taken now, with at most `maxUnacked` outstanding; an id still unacknowledged is never reused. */
  free(due: number, maxUnacked: number): number {
    let n = Math.min(due, maxUnacked - this.unacked)
    for (let k = 0, id = this.nextId; k < n; k++, id = id === 65_535 ? 1 : id + 1) {
      if (this.inUse[id] === 1) {
        n = k
        break
      }
    }
    return Math.max(0, n)
  }
}

/** Opens `specs` with `concurrency` lanes at a time; answers how many failed, by reason. */
export async function openInLanes<T>(specs: readonly T[], concurrency: number, open: (spec: T) => Promise<void>): Promise<{ failed: number; failures: Record<string, number> }> {
  const failures: Record<string, number> = {}
  let failed = 0
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < specs.length) {
      const spec = specs[next++]!
      try {
        await open(spec)
      } catch (err) {
        failed++
        const why = err instanceof Error ? err.message : String(err)
        failures[why] = (failures[why] ?? 0) + 1
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, specs.length)) }, lane))
  return { failed, failures }
}
