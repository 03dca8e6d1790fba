// npm run bench [scenario...] [--profile embedded|production|both] [--rate N] [--count N] [--warmup N] [--members N]
// npm run bench -- mqtt [--peer URL|aedes] [--only fanout,fanin,p2p,idle] [--quick] [--cpu-prof] (bench/mqtt.ts)
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
import { runWeb } from './web.ts'
import { MQTT_GROUPS, runMqtt, type MqttGroup } from './mqtt.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    profile: { type: 'string', default: 'both' }, rate: { type: 'string', default: '100' }, count: { type: 'string', default: '2000' }, warmup: { type: 'string', default: '200' }, members: { type: 'string', default: '1000000' },
    // mqtt (bench/mqtt.ts)
    peer: { type: 'string' }, only: { type: 'string' }, quick: { type: 'boolean', default: false }, 'cpu-prof': { type: 'boolean', default: false },
    subscribers: { type: 'string' }, pairs: { type: 'string' }, idle: { type: 'string' }, 'step-ms': { type: 'string' },
  },
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
  if (scenario === 'web') {
    await runWeb()
    continue
  }
  if (scenario === 'mqtt') {
    if (values.profile === 'production') throw new Error('mqtt measures the embedded profile\'s broker; the production profile (broker nodes over Redis) is not part of it yet')
    const counts = (flag: string, raw: string | undefined, fallback: number[]): number[] => {
      const list = raw === undefined ? fallback : raw.split(',').map(Number)
      if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 1_000_000)) throw new Error(`--${flag} must be whole numbers from 1 to 1000000, comma-separated`)
      return list
    }
    const only = (values.only?.split(',') ?? [...MQTT_GROUPS]) as MqttGroup[]
    if (only.some((g) => !MQTT_GROUPS.includes(g))) throw new Error(`--only takes ${MQTT_GROUPS.join(', ')}`)
    const quick = values.quick === true
    const stepMs = counts('step-ms', values['step-ms'], [quick ? 1000 : 1200])[0]!
    await runMqtt({
      ...(values.peer !== undefined ? { peer: values.peer } : {}),
      only,
      subscribers: counts('subscribers', values.subscribers, quick ? [100] : [100, 1000]).map((n) => Math.min(n, 5000)),
      pairs: Math.min(5000, counts('pairs', values.pairs, [quick ? 100 : 1000])[0]!),
      idle: counts('idle', values.idle, quick ? [2000] : [10_000, 50_000]),
      warmMs: Math.max(200, Math.round(stepMs / 3)),
      measureMs: stepMs,
      cpuProf: values['cpu-prof'] === true,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    })
    continue
  }
  if (scenario !== 'post-latency') throw new Error(`unknown scenario ${scenario}; known: post-latency, scale, list-chats, search, history, files, mqtt`)
  const results: LatencyResult[] = []
  for (const profile of profiles) results.push(await postLatency({ profile, rate, count, warmup }))
  console.log('| profile | posts/s offered | posts | delivered | p50 ms | p99 ms | max ms |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of results) console.log(`| ${r.profile} | ${r.rate} | ${r.count} | ${r.delivered} | ${r.p50} | ${r.p99} | ${r.max} |`)
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL(`./results/${scenario}.json`, import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2))
}
process.exit(0)
