// What every chat scenario records beside its figures: the machine (cores, CPU model,
// memory, Node), the load average when the scenario started, and the exact command; and the
// one place results are written (bench/results/<scenario>.json).
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'

export interface Machine {
  cores: number
  model: string
  memoryGiB: number
  node: string
  /** 1, 5 and 15 minute load averages when the scenario started. */
  loadAverage: [number, number, number]
  at: string
}

export function machine(): Machine {
  const [a, b, c] = loadavg()
  const r = (n: number | undefined): number => Math.round((n ?? 0) * 100) / 100
  return { cores: cpus().length, model: cpus()[0]?.model.trim() ?? 'cpu', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAverage: [r(a), r(b), r(c)], at: new Date().toISOString() }
}

export function describeMachine(m: Machine): string {
  return `${m.cores} x ${m.model}, ${m.memoryGiB} GiB, Node ${m.node}, load average ${m.loadAverage.join(' / ')} at ${m.at}`
}

/** The command line as typed: `npm run bench -- <arguments>`. */
export function benchCommand(): string {
  const args = process.argv.slice(2)
  return args.length === 0 ? 'npm run bench' : `npm run bench -- ${args.join(' ')}`
}

export async function writeResult(scenario: string, body: object): Promise<string> {
  const dir = new URL('./results/', import.meta.url)
  await mkdir(dir, { recursive: true })
  const file = new URL(`${scenario}.json`, dir)
  await writeFile(file, JSON.stringify(body, null, 2))
  return file.pathname
}

export const round2 = (n: number): number => (Number.isFinite(n) ? Math.round(n * 100) / 100 : n)

/** The 1-minute load average now, for figures taken in the middle of a scenario. */
export function loadNow(): number {
  return round2(loadavg()[0] ?? 0)
}
