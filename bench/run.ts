// npm run bench [scenario...] [--profile embedded|production|both] [options]
// Each scenario prints a table and writes bench/results/<scenario>.json; docs/benchmarks.md
// holds the figures. Scenarios:
//   chat             POST → PUBLISH latency at 100, 1,000, 5,000 posts/s into channels with
//                    10 and 1,000 subscribers (bench/chat.ts)
//                    [--rates 100,1000,5000] [--subscribers 10,1000] [--posters 20] [--step-ms 5000] [--max-deliveries 250000]
//   max-posts        highest posts/s with p99 POST → PUBLISH within 100 ms, 10 subscribers (bench/chat.ts)
//                    [--rates 500,1000,2000,4000,8000,16000] [--subscribers 10] [--posters 20] [--step-ms 5000]
//   reconnect-storm  5,000 members dropped at once and back at once, until all have SYNCed (bench/reconnect-storm.ts)
//                    [--clients 5000] [--away 300]
//   post-latency     one poster, one subscriber, fixed rate [--rate N] [--count N] [--warmup N] (bench/post-latency.ts)
//   history          SYNC of 1,000 missed deltas, RESTORE of a 100,000-delta channel (bench/history.ts)
//   scale            1M members in a server [--members N] (bench/scale.ts)
//   list-chats, search, files, web
//   mqtt             raw MQTT against Mosquitto in the same run [--peer URL|aedes] [--only fanout,fanin,p2p,idle]
//                    [--quick] [--cpu-prof] [--idle 10000,50000] [--heap-snapshot] (bench/mqtt.ts; embedded profile only)
//   soak             connect/disconnect churn, broker RSS sampled over time [--minutes 10] [--connections 2000]
//                    [--churn 50] [--sample-s 10] [--quick: 1 minute, 500 devices, 20/s] (bench/soak.ts)
// With no scenario: chat, max-posts and reconnect-storm at their --quick sizes (3 s steps, at
// most 150,000 deliveries a step, 1,000 storm clients), both profiles: a few minutes on 2 cores.
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
import { runSoak } from './soak.ts'
import { runChat } from './chat.ts'
import { runReconnectStorm } from './reconnect-storm.ts'
import { benchCommand } from './bench-machine.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    profile: { type: 'string', default: 'both' }, rate: { type: 'string', default: '100' }, count: { type: 'string', default: '2000' }, warmup: { type: 'string', default: '200' }, members: { type: 'string', default: '1000000' },
    // mqtt (bench/mqtt.ts)
    peer: { type: 'string' }, only: { type: 'string' }, quick: { type: 'boolean', default: false }, 'cpu-prof': { type: 'boolean', default: false },
    subscribers: { type: 'string' }, pairs: { type: 'string' }, idle: { type: 'string' }, 'step-ms': { type: 'string' }, 'heap-snapshot': { type: 'boolean', default: false },
    // soak (bench/soak.ts)
    minutes: { type: 'string' }, connections: { type: 'string' }, churn: { type: 'string' }, 'sample-s': { type: 'string' },
    // chat, max-posts, reconnect-storm (bench/chat.ts, bench/reconnect-storm.ts)
    rates: { type: 'string' }, posters: { type: 'string' }, 'max-deliveries': { type: 'string' }, clients: { type: 'string' }, away: { type: 'string' },
  },
})
const scenarios = positionals.length > 0 ? positionals : ['chat', 'max-posts', 'reconnect-storm']
/** Smaller sizes for the chat scenarios (the default run, or --quick). */
const quickChat = positionals.length === 0 || values.quick === true
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
  if (scenario === 'soak') {
    const quick = values.quick === true
    const num = (flag: string, raw: string | undefined, fallback: number, min: number, max: number): number => {
      const n = raw === undefined ? fallback : Number(raw)
      if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${flag} must be a number from ${min} to ${max}`)
      return n
    }
    await runSoak({
      minutes: num('minutes', values.minutes, quick ? 1 : 10, 0.5, 240),
      connections: Math.round(num('connections', values.connections, quick ? 500 : 2000, 10, 15_000)),
      churn: num('churn', values.churn, quick ? 20 : 50, 1, 1000),
      sampleSeconds: num('sample-s', values['sample-s'], quick ? 5 : 10, 1, 600),
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    })
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
      heapSnapshot: values['heap-snapshot'] === true,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    })
    continue
  }
  if (scenario === 'chat' || scenario === 'max-posts') {
    const list = (flag: string, raw: string | undefined, fallback: number[], max: number): number[] => {
      const l = raw === undefined ? fallback : raw.split(',').map(Number)
      if (l.length === 0 || l.some((n) => !Number.isInteger(n) || n < 1 || n > max)) throw new Error(`--${flag} must be whole numbers from 1 to ${max}, comma-separated`)
      return l
    }
    const chat = scenario === 'chat'
    const stepMs = list('step-ms', values['step-ms'], [quickChat ? 3000 : 5000], 60_000)[0]!
    await runChat(scenario, {
      profiles: [...profiles],
      rates: list('rates', values.rates, chat ? [100, 1000, 5000] : [500, 1000, 2000, 4000, 8000, 16_000], 100_000),
      subscribers: list('subscribers', values.subscribers, chat ? [10, 1000] : [10], 5000),
      posters: list('posters', values.posters, [20], 1000)[0]!,
      warmMs: Math.round(stepMs / 5),
      measureMs: stepMs - Math.round(stepMs / 5),
      maxDeliveries: list('max-deliveries', values['max-deliveries'], [quickChat ? 150_000 : 250_000], 10_000_000)[0]!,
      stopAtFirstFailure: !chat,
      retryTailFailures: !chat,
    }, benchCommand())
    continue
  }
  if (scenario === 'reconnect-storm') {
    const one = (flag: string, raw: string | undefined, fallback: number, max: number): number => {
      const n = raw === undefined ? fallback : Number(raw)
      if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${flag} must be a whole number from 1 to ${max}`)
      return n
    }
    await runReconnectStorm({ profiles: [...profiles], clients: one('clients', values.clients, quickChat ? 1000 : 5000, 50_000), away: one('away', values.away, quickChat ? 200 : 300, 10_000) }, benchCommand())
    continue
  }
  if (scenario !== 'post-latency') throw new Error(`unknown scenario ${scenario}; known: post-latency, chat, max-posts, reconnect-storm, scale, list-chats, search, history, files, web, mqtt, soak`)
  const results: LatencyResult[] = []
  for (const profile of profiles) results.push(await postLatency({ profile, rate, count, warmup }))
  console.log('| profile | posts/s offered | posts | delivered | p50 ms | p99 ms | max ms |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of results) console.log(`| ${r.profile} | ${r.rate} | ${r.count} | ${r.delivered} | ${r.p50} | ${r.p99} | ${r.max} |`)
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL(`./results/${scenario}.json`, import.meta.url), JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2))
}
process.exit(0)
