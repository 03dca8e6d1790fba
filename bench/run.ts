// npm run bench [scenario...] [--profile embedded|production|both] [--rate N] [--count N] [--warmup N] [--members N]
// Prints a table and writes bench/results/<scenario>.json. Issue 8 grows this into the full
// suite with a Mosquitto baseline; today it measures POST to PUBLISH latency.
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { postLatency, type LatencyResult } from './post-latency.ts'
import { scale, type ScaleResult } from './scale.ts'
import { runListChats } from './list-chats.ts'
import { runSearch } from './search.ts'
import { runHistory } from './history.ts'
import { runFiles } from './files.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { profile: { type: 'string', default: 'both' }, rate: { type: 'string', default: '100' }, count: { type: 'string', default: '2000' }, warmup: { type: 'string', default: '200' }, members: { type: 'string', default: '1000000' } },
})
const scenarios = positionals.length > 0 ? positionals : ['post-latency']
const profiles = values.profile === 'both' ? (['embedded', 'production'] as const) : [values.profile as 'embedded' | 'production']
const rate = Number(values.rate)
const count = Number(values.count)
const warmup = Number(values.warmup)
if (!Number.isFinite(rate) || rate <= 0 || !Number.isInteger(count) || count <= 0 || count > 1_000_000 || !Number.isInteger(warmup) || warmup < 0) throw new Error('--rate and --count must be positive numbers, --warmup a whole number')

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`)
const members = Number(values.members)
if (!Number.isInteger(members) || members < 1 || members > 10_000_000) throw new Error('--members must be a whole number from 1 to 10000000')
for (const scenario of scenarios) {
  if (scenario === 'scale') {
    const results: ScaleResult[] = []
    for (const profile of profiles) results.push(await scale({ profile, members }))
    console.log('| profile | members | add all (s) | members/s | check cold p50/p99 ms | check warm p50/p99 ms | connect + 101 subscriptions p50/p99 ms |')
    console.log('|---|---|---|---|---|---|---|')
    for (const r of results) console.log(`| ${r.profile} | ${r.members} | ${r.addSeconds} | ${r.addPerSecond} | ${r.checkColdP50} / ${r.checkColdP99} | ${r.checkWarmP50} / ${r.checkWarmP99} | ${r.subscribe100P50} / ${r.subscribe100P99} |`)
    await mkdir(new URL('./results/', import.meta.url), { recursive: true })
    await writeFile(new URL('./results/scale.json', import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2))
    continue
  }
  if (scenario === 'list-chats') {
    await runListChats(profiles)
    continue
  }
  if (scenario === 'search') {
    await runSearch(profiles)
    continue
  }
  if (scenario === 'history') {
    await runHistory(profiles)
    continue
  }
  if (scenario === 'files') {
    await runFiles(profiles)
    continue
  }
  if (scenario !== 'post-latency') throw new Error(`unknown scenario ${scenario}; known: post-latency, scale, list-chats, search, history, files`)
  const results: LatencyResult[] = []
  for (const profile of profiles) results.push(await postLatency({ profile, rate, count, warmup }))
  console.log('| profile | posts/s offered | posts | delivered | p50 ms | p99 ms | max ms |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of results) console.log(`| ${r.profile} | ${r.rate} | ${r.count} | ${r.delivered} | ${r.p50} | ${r.p99} | ${r.max} |`)
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL(`./results/${scenario}.json`, import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2))
}
process.exit(0)
