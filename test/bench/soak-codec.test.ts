// The packets the soak's devices send (bench/soak-worker.ts) that the other load generators
// do not: a CONNECT with a will and a retained PUBLISH, read back with mqtt-packet's parser.
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { encodeConnect, encodePublish } from '../../bench/mqtt-load/codec.ts'

function parse(bytes: Buffer): Record<string, unknown> {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const out: Record<string, unknown>[] = []
  parser.on('packet', (p) => out.push(p as unknown as Record<string, unknown>))
  parser.on('error', (err) => {
    throw err
  })
  parser.parse(bytes)
  if (out.length !== 1) throw new Error(`expected one packet, got ${out.length}`)
  return out[0]!
}

t.test('CONNECT with a will', async (t) => {
  const p = parse(encodeConnect({ clientId: 'dev-1', username: 'ada', password: 'tok', keepalive: 60, clean: false, will: { topic: 'chime/v1/users/U1/presence', payload: '{"status":"offline"}', qos: 1, retain: true } }))
  t.match(p, { cmd: 'connect', clientId: 'dev-1', username: 'ada', clean: false, keepalive: 60 })
  t.equal((p['password'] as Buffer).toString(), 'tok')
  const will = p['will'] as { topic: string; payload: Buffer; qos: number; retain: boolean }
  t.equal(will.topic, 'chime/v1/users/U1/presence')
  t.equal(will.payload.toString(), '{"status":"offline"}')
  t.equal(will.qos, 1)
  t.equal(will.retain, true)
})

t.test('CONNECT without a will has none', async (t) => {
  const p = parse(encodeConnect({ clientId: 'dev-2', keepalive: 30, clean: true }))
  t.match(p, { cmd: 'connect', clientId: 'dev-2', clean: true })
  t.notOk(p['will'])
})

t.test('retained PUBLISH at QoS 1 and QoS 0', async (t) => {
  const q1 = parse(encodePublish('chime/v1/users/U1/presence', '{"status":"online"}', 1, true, 7))
  t.match(q1, { cmd: 'publish', topic: 'chime/v1/users/U1/presence', qos: 1, retain: true, messageId: 7 })
  t.equal((q1['payload'] as Buffer).toString(), '{"status":"online"}')
  const q0 = parse(encodePublish('t', 'x', 0, false))
  t.match(q0, { cmd: 'publish', topic: 't', qos: 0, retain: false })
})
