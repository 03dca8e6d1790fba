// The raw MQTT load generator (bench/mqtt-load/) speaks MQTT 3.1.1 to real brokers: its
// hand-rolled framing connects, subscribes and publishes at QoS 0 and 1 through an
// in-process Aedes and through a private Mosquitto, and every message arrives once with a
// readable send stamp; a load-generator process pair counts a paced step exactly.
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:net'
import { Aedes } from 'aedes'
import { LeanConnection, parseMqttUrl } from '../../bench/mqtt-load/connection.ts'
import { nowMicros, PacketReader, publishTemplate, readStamp, remainingLengthBytes, writeStamp, STAMP_FROM_END, type PacketSink } from '../../bench/mqtt-load/codec.ts'
import { LatencyHistogram } from '../../bench/mqtt-load/histogram.ts'
import { LoadProcess } from '../../bench/mqtt-load/process.ts'
import { startPrivateMosquitto } from '../../bench/mqtt-peer.ts'
import { requireServices } from '../helpers/databases.ts'
import { defer } from '../helpers/cleanup.ts'
import { waitFor } from '../helpers/wait.ts'

interface TestBroker {
  name: string
  url: string
}

async function startAedes(t: Test): Promise<TestBroker> {
  const aedes = await Aedes.createBroker()
  const server: Server = createServer((socket) => aedes.handle(socket))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const address = server.address()
  defer(t, () => new Promise<void>((r) => aedes.close(() => server.close(() => r()))))
  return { name: 'in-process Aedes', url: `mqtt://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}` }
}

async function startMosquitto(t: Test): Promise<TestBroker | null> {
  const m = await startPrivateMosquitto()
  if (m === null) {
    if (requireServices) throw new Error('mosquitto is not installed (Debian package mosquitto)')
    t.comment('mosquitto is not installed; its half of the suite is not run')
    return null
  }
  defer(t, () => m.stop())
  return { name: m.label, url: m.url }
}

/** Opens a connection and waits for its CONNACK; closed in teardown. */
async function open(t: Test, url: string, clientId: string): Promise<LeanConnection> {
  const c = new LeanConnection(parseMqttUrl(url))
  defer(t, () => c.close())
  await c.connect({ clientId, keepalive: 30, clean: true })
  return c
}

/** `n` copies of a publish, with packet ids 1..n at QoS 1, all stamped `stampUs`. */
function publishes(topic: string, qos: 0 | 1, n: number, stampUs: number): Buffer {
  const tpl = publishTemplate(topic, qos)
  writeStamp(tpl.bytes, tpl.stampAt, stampUs)
  const out = Buffer.alloc(n * tpl.bytes.length)
  for (let i = 0; i < n; i++) {
    tpl.bytes.copy(out, i * tpl.bytes.length)
    if (qos === 1) out.writeUInt16BE(i + 1, i * tpl.bytes.length + tpl.packetIdAt)
  }
  return out
}

t.test('framing: remaining lengths, stamps, and packets split anywhere across chunks', async (t) => {
  t.same(remainingLengthBytes(0), [0])
  t.same(remainingLengthBytes(127), [0x7f])
  t.same(remainingLengthBytes(128), [0x80, 0x01])
  t.same(remainingLengthBytes(16_383), [0xff, 0x7f])
  t.same(remainingLengthBytes(2_097_152), [0x80, 0x80, 0x80, 0x01])
  t.throws(() => remainingLengthBytes(268_435_456))

  const stamp = 1_234_567_890_123_456
  const tpl = publishTemplate('chime/v1/users/u1/presence', 1)
  writeStamp(tpl.bytes, tpl.stampAt, stamp)
  t.equal(readStamp(tpl.bytes, tpl.bytes.length - STAMP_FROM_END), stamp, 'the stamp reads back from the end of the payload')
  const payload = tpl.bytes.subarray(tpl.bytes.length - 80)
  t.same(JSON.parse(payload.toString()), { action: 'PRESENCE', data: { status: 'online', text: `bench ${stamp}` } }, 'the payload is an 80-byte presence envelope')

  // Two PUBLISHes (QoS 1, then a 200-byte topic so the length takes two bytes) and a PUBACK,
  // fed one byte at a time and then all in one chunk.
  const long = publishTemplate('t/' + 'x'.repeat(198), 0)
  tpl.bytes.writeUInt16BE(7, tpl.packetIdAt)
  const stream = Buffer.concat([tpl.bytes, long.bytes, Buffer.from([0x40, 2, 0, 9])])
  for (const chunking of ['byte by byte', 'one chunk']) {
    const seen: string[] = []
    const sink: PacketSink = {
      connack: () => seen.push('connack'),
      suback: () => seen.push('suback'),
      publish: (buf, topicAt, topicLength, payloadAt, payloadEnd, qos, packetId) => seen.push(`publish ${buf.toString('utf8', topicAt, topicAt + topicLength).length} ${qos} ${packetId} ${readStamp(buf, payloadEnd - STAMP_FROM_END)} ${payloadEnd - payloadAt}`),
      puback: (id) => seen.push(`puback ${id}`),
      pingresp: () => seen.push('pingresp'),
      unexpected: (type) => seen.push(`unexpected ${type}`),
    }
    const reader = new PacketReader(sink)
    if (chunking === 'byte by byte') for (let i = 0; i < stream.length; i++) reader.push(stream.subarray(i, i + 1))
    else reader.push(stream)
    t.same(seen, [`publish 26 1 7 ${stamp} 80`, 'publish 200 0 0 0 80', 'puback 9'], chunking)
  }
})

t.test('the histogram reports percentiles within its bucket width', async (t) => {
  const h = new LatencyHistogram()
  for (let us = 1; us <= 10_000; us++) h.record(us)
  t.ok(Math.abs(h.percentileUs(50) - 5000) <= 10)
  t.ok(Math.abs(h.percentileUs(99) - 9900) <= 10)
  t.equal(h.maxUs, 10_000)
  h.record(250_000)
  const merged = new LatencyHistogram()
  merged.add(h.sparse(), h.maxUs)
  t.equal(merged.total, 10_001)
  t.equal(merged.percentileUs(100), 250_000)
})

t.test('connect, subscribe, publish at QoS 0 and 1 through real brokers', async (t) => {
  const brokers = [await startAedes(t), await startMosquitto(t)].filter((b): b is TestBroker => b !== null)
  for (const broker of brokers) {
    await t.test(broker.name, async (t) => {
      for (const qos of [0, 1] as const) {
        const topic = `bench/test/${qos}/${process.pid}`
        const sub = await open(t, broker.url, `lean-sub-${qos}-${process.pid}`)
        const codes = await sub.subscribe([topic], qos)
        t.same(codes, [qos], `SUBACK grants QoS ${qos}`)
        let received = 0
        let badStamps = 0
        let qosSeen = -1
        sub.onPublish = (buf, _ta, _tl, _pa, payloadEnd, q, _id, nowUs) => {
          received++
          qosSeen = q
          const latency = nowUs - readStamp(buf, payloadEnd - STAMP_FROM_END)
          if (latency < 0 || latency > 10_000_000) badStamps++
        }
        const pub = await open(t, broker.url, `lean-pub-${qos}-${process.pid}`)
        let acked = 0
        pub.onPuback = () => void acked++
        const n = 500
        pub.write(publishes(topic, qos, n, nowMicros()))
        await waitFor(`${n} QoS ${qos} messages through ${broker.name}`, () => (received >= n && (qos === 0 || acked >= n) ? true : undefined))
        t.equal(received, n, `QoS ${qos}: every publish arrives once`)
        t.equal(qosSeen, qos, `delivered at QoS ${qos}`)
        t.equal(badStamps, 0, 'every stamp reads as a send time of this machine')
        t.equal(acked, qos === 1 ? n : 0, `the publisher gets ${qos === 1 ? 'a PUBACK for each' : 'no PUBACK'}`)
      }
    })
  }
})

t.test('paced steps at QoS 1 and QoS 0 over the same load-generator connections are counted exactly', async (t) => {
  const broker = await startAedes(t)
  const pub = new LoadProcess('test-pub')
  const sub = new LoadProcess('test-sub')
  defer(t, () => Promise.all([pub.close(), sub.close()]))
  for (const p of [pub, sub]) p.send({ type: 'init', url: broker.url, subscribeQos: 1, keepalive: 30 })
  const subs = await sub.request({ type: 'connect', conns: [{ clientId: 'step-s0', subscribe: ['bench/step'] }, { clientId: 'step-s1', subscribe: ['bench/step'] }], concurrency: 2, localAddressPrefix: null, perAddress: 10 }, 'connected', 30_000)
  const pubs = await pub.request({ type: 'connect', conns: [{ clientId: 'step-p0', publish: 'bench/step' }], concurrency: 1, localAddressPrefix: null, perAddress: 10 }, 'connected', 30_000)
  t.same([subs.opened, subs.failed, pubs.opened, pubs.failed], [2, 0, 1, 0])
  for (const qos of [1, 0] as const) {
    const startAtUs = nowMicros() + 200_000
    for (const p of [pub, sub]) p.send({ type: 'step', qos, startAtUs, warmMs: 200, measureMs: 500, ratePerConn: 400 })
    const sent = await pub.expect('sent', 10_000)
    // 400/s for 0.7 s: 280 scheduled, give or take the last tick.
    t.ok(sent.sent >= 275 && sent.sent <= 281, `QoS ${qos}: about 280 sent (${sent.sent})`)
    t.equal(sent.heldBack, 0)
    const [counts, pubCounts] = await waitFor(`every QoS ${qos} delivery and acknowledgement`, async () => {
      const [s, p] = [await sub.request({ type: 'collect' }, 'counts', 5000), await pub.request({ type: 'collect' }, 'counts', 5000)]
      return s.received === 2 * sent.sent && p.unacked === 0 ? [s, p] : undefined
    })
    t.equal(counts.received, 2 * sent.sent, `QoS ${qos}: each publish reaches both subscribers`)
    t.ok(pubCounts.sentInWindow >= 190 && pubCounts.sentInWindow <= 210, `about 200 sent in the 0.5 s window, within 5 % on a loaded machine (${pubCounts.sentInWindow})`)
    t.equal(counts.ofWindowSends, 2 * pubCounts.sentInWindow, 'the messages sent in the window are told apart by their stamps')
    t.ok(counts.inWindow > 0 && counts.inWindow < counts.received, 'the warm-up is not in the measured window')
    const h = new LatencyHistogram()
    h.add(counts.histogram, counts.maxUs)
    t.equal(h.total, counts.inWindow, 'every message in the window has a latency')
    t.same(counts.errors, {})
  }
})
