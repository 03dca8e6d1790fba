// The load generator of post-latency: one poster, one subscriber, timestamps in payloads.
// A warm-up of `warmup` posts at the same rate goes first and is not measured (JIT, pools,
// the first partition); the measured posts carry an 'm' before their timestamp.
import mqtt from 'mqtt'

interface Job {
  mqttUrl: string
  username: string
  token: string
  serverId: string
  channelId: string
  rate: number
  count: number
  warmup: number
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

process.once('message', async (job: Job) => {
  const topic = `chime/v1/servers/${job.serverId}/channels/${job.channelId}`
  const sub = await mqtt.connectAsync(job.mqttUrl, { username: job.username, password: job.token, reconnectPeriod: 0 })
  const pub = await mqtt.connectAsync(job.mqttUrl, { username: job.username, password: job.token, reconnectPeriod: 0 })
  const latencies: number[] = []
  let done!: () => void
  const all = new Promise<void>((r) => (done = r))
  sub.on('message', (t, payload) => {
    if (t !== topic) return
    const env = JSON.parse(payload.toString()) as { data: { content: string } }
    if (!env.data.content.startsWith('m')) return
    latencies.push(performance.now() - Number(env.data.content.slice(1)))
    if (latencies.length === job.count) done()
  })
  await sub.subscribeAsync(topic, { qos: 1 })
  const requests = `chime/v1/requests/${pub.options.clientId}`
  const interval = 1000 / job.rate
  const send = async (n: number, mark: string): Promise<void> => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const wait = t0 + i * interval - performance.now()
      if (wait > 1) await new Promise((r) => setTimeout(r, wait))
      pub.publish(requests, JSON.stringify({ action: 'POST_MESSAGE', data: { channel_id: job.channelId, content: mark + String(performance.now()) } }), { qos: 1 })
    }
  }
  await send(job.warmup, 'w')
  const start = performance.now()
  await send(job.count, 'm')
  const timeout = setTimeout(done, 30_000)
  await all
  clearTimeout(timeout)
  const seconds = (performance.now() - start) / 1000
  const sorted = [...latencies].sort((a, b) => a - b)
  const round = (n: number): number => Math.round(n * 100) / 100
  if (process.env['CHIME_BENCH_DUMP']) console.error('LAT', JSON.stringify(latencies.map((l) => Math.round(l))))
  process.send!({ rate: job.rate, count: job.count, delivered: latencies.length, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? NaN), seconds: round(seconds) })
  await Promise.all([sub.endAsync(), pub.endAsync()])
  process.exit(0)
})
