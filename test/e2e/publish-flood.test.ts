// A connection that sends a long run of publishes nobody subscribes to, in one burst: the
// broker handles them all and stays up (aedes reads the next part of a socket from the
// callback of the last publish it handled, which runs at once when nobody receives it).
import t from 'tap'
import { connect } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { topics } from '../../clients/sdk/src/topics.ts'
import { startTestChime } from '../helpers/chime.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('a burst of 100,000 publishes to a topic without subscribers is handled, and the broker stays up', async (t) => {
  const chime = await startTestChime(t, { ingressClientRate: 10_000_000, ingressClientBurst: 10_000_000 })
  const ann = await chime.register()
  const socket = connect(Number(new URL(chime.mqttUrl).port), '127.0.0.1')
  t.teardown(() => socket.destroy())
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const parser = mqttPacket.parser()
  const seen: string[] = []
  socket.on('data', (b) => parser.parse(b))
  parser.on('packet', (p) => seen.push(p.cmd))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `flood-${process.pid}`, keepalive: 60, username: ann.username, password: Buffer.from(ann.token) }))
  await waitFor('the CONNACK', () => (seen.includes('connack') ? true : undefined))
  const one = mqttPacket.generate({ cmd: 'publish', topic: topics.presence(ann.user_id), payload: Buffer.from('{"status":"online"}'), qos: 0, retain: false, dup: false })
  const N = 100_000
  socket.write(Buffer.concat(Array.from({ length: N }, () => one)))
  socket.write(mqttPacket.generate({ cmd: 'pingreq' }))
  await waitFor('the PINGRESP after the burst', () => (seen.includes('pingresp') ? true : undefined), 60_000)
  t.pass(`${N} publishes handled, then the ping answered on the same connection`)
  const other = await chime.connect(await chime.register())
  t.ok(other.connected, 'a new connection is accepted')
})
