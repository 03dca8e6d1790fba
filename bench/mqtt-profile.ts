// Reads a V8 .cpuprofile (node --cpu-prof, or the inspector's Profiler.stop) and says where
// the time went: the functions with the most self time, and self time by package, as shares
// of the time the thread was busy (idle samples, waiting in the event loop, left out).
//   npx tsx bench/mqtt-profile.ts <file.cpuprofile> [top]
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface SelfTime {
  name: string
  where: string
  /** Share of the busy time (all samples but the idle ones), percent. */
  percent: number
  ms: number
}

export interface ProfileSummary {
  totalMs: number
  /** Share of the time the thread was idle (waiting in the event loop), percent. */
  idlePercent: number
  functions: SelfTime[]
  packages: Array<{ name: string; percent: number; ms: number }>
}

/** Which package or part of Node a script belongs to, from its URL. */
export function packageOf(url: string): string {
  if (url === '') return 'V8 / native'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[1] ?? url.slice(5)}`
  const m = /\/(broker|api|bin|clients|config|bench)\//.exec(url)
  if (m !== null) return `chime ${m[1]}/`
  return url
}

function shortWhere(url: string, line: number): string {
  if (url === '') return ''
  const nm = url.lastIndexOf('/node_modules/')
  const path = nm >= 0 ? url.slice(nm + '/node_modules/'.length) : url.replace(/^file:\/\/.*?\/(broker|api|bin|clients|config|bench)\//, '$1/')
  // tsx hands V8 each TypeScript module as one line: only the file says anything there.
  return path.endsWith('.ts') ? path : `${path}:${line + 1}`
}

/** Nodes under the inspector's own calls: stopping the profiler and serialising it, not the broker's work. */
function profilerOwnNodes(byId: Map<number, ProfileNode>): Set<number> {
  const out = new Set<number>()
  const walk = (id: number): void => {
    if (out.has(id)) return
    out.add(id)
    for (const c of byId.get(id)?.children ?? []) walk(c)
  }
  for (const n of byId.values()) if (n.callFrame.url === 'node:inspector') walk(n.id)
  return out
}

export function summarize(profile: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const skip = profilerOwnNodes(byId)
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    if (!skip.has(id)) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  let total = 0
  let idle = 0
  const fns = new Map<string, SelfTime>()
  const pkgs = new Map<string, number>()
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    total += us
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') {
      idle += us
      continue
    }
    const name = functionName === '' ? '(anonymous)' : functionName
    const key = `${name}\u0000${url}\u0000${lineNumber}`
    const f = fns.get(key) ?? { name, where: shortWhere(url, lineNumber), percent: 0, ms: 0 }
    f.ms += us / 1000
    fns.set(key, f)
    const pkg = functionName === '(garbage collector)' ? 'garbage collector' : functionName === '(program)' ? 'V8 / native (program)' : packageOf(url)
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us)
  }
  const busy = total - idle
  const pct = (us: number): number => Math.round((us / busy) * 1000) / 10
  return {
    totalMs: Math.round(total / 1000),
    idlePercent: Math.round((idle / total) * 1000) / 10,
    functions: [...fns.values()].sort((a, b) => b.ms - a.ms).slice(0, top).map((f) => ({ ...f, percent: pct(f.ms * 1000), ms: Math.round(f.ms) })),
    packages: [...pkgs.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, percent: pct(us), ms: Math.round(us / 1000) })),
  }
}

export async function summarizeFile(file: string, top = 20): Promise<ProfileSummary> {
  return summarize(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, top)
}

export function printSummary(title: string, s: ProfileSummary): void {
  console.log(`\n${title}: ${s.totalMs} ms sampled, ${s.idlePercent} % idle; shares of the busy time`)
  console.log('| self % | self ms | function | where |')
  console.log('|---|---|---|---|')
  for (const f of s.functions) console.log(`| ${f.percent} | ${f.ms} | ${f.name} | ${f.where} |`)
  console.log('\n| package | self % |')
  console.log('|---|---|')
  for (const p of s.packages.slice(0, 15)) console.log(`| ${p.name} | ${p.percent} |`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2]
  if (file === undefined) throw new Error('usage: npx tsx bench/mqtt-profile.ts <file.cpuprofile> [top]')
  printSummary(file, await summarizeFile(file, Number(process.argv[3] ?? 20)))
}
