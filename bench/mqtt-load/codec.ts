// MQTT 3.1.1 framing for the load generator: only what a benchmark client sends and reads
// (CONNECT, SUBSCRIBE, PUBLISH, PUBACK, PINGREQ, DISCONNECT out; CONNACK, SUBACK, PUBLISH,
// PUBACK, PINGRESP in). Hand-rolled instead of mqtt-packet so that reading a PUBLISH
// allocates nothing: the parser hands out offsets into the received chunk.

export const CONNACK = 2
export const PUBLISH = 3
export const PUBACK = 4
export const SUBACK = 9
export const PINGRESP = 13

/** The remaining-length field (1 to 4 bytes, 7 bits each) [MQTT-2.2.3]. */
export function remainingLengthBytes(n: number): number[] {
  if (n < 0 || n > 268_435_455) throw new Error(`remaining length ${n} out of range`)
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}

function frame(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte, ...remainingLengthBytes(body.length)]), body])
}

function utf8Field(s: string | Buffer): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  if (bytes.length > 65_535) throw new Error('an MQTT string is at most 65,535 bytes')
  const out = Buffer.allocUnsafe(2 + bytes.length)
  out.writeUInt16BE(bytes.length, 0)
  bytes.copy(out, 2)
  return out
}

export interface ConnectOptions {
  clientId: string
  username?: string
  password?: string
  /** Seconds; 0 turns keep-alive off. */
  keepalive: number
  clean: boolean
  /** Published by the broker when the connection drops without DISCONNECT. */
  will?: { topic: string; payload: string; qos: 0 | 1; retain: boolean }
}

export function encodeConnect(o: ConnectOptions): Buffer {
  let flags = o.clean ? 0x02 : 0
  const fields = [utf8Field(o.clientId)]
  if (o.will !== undefined) {
    flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0)
    fields.push(utf8Field(o.will.topic), utf8Field(Buffer.from(o.will.payload, 'utf8')))
  }
  if (o.username !== undefined) {
    flags |= 0x80
    fields.push(utf8Field(o.username))
  }
  if (o.password !== undefined) {
    flags |= 0x40
    fields.push(utf8Field(o.password))
  }
  const head = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, (o.keepalive >> 8) & 0xff, o.keepalive & 0xff])
  return frame(0x10, Buffer.concat([head, ...fields]))
}

export function encodeSubscribe(packetId: number, filters: readonly string[], qos: 0 | 1): Buffer {
  const id = Buffer.from([(packetId >> 8) & 0xff, packetId & 0xff])
  return frame(0x82, Buffer.concat([id, ...filters.flatMap((f) => [utf8Field(f), Buffer.from([qos])])]))
}

/** One PUBLISH (`packetId` at QoS 1 only). */
export function encodePublish(topic: string, payload: string, qos: 0 | 1, retain: boolean, packetId = 0): Buffer {
  const id = qos === 1 ? Buffer.from([(packetId >> 8) & 0xff, packetId & 0xff]) : Buffer.alloc(0)
  return frame(0x30 | (qos << 1) | (retain ? 1 : 0), Buffer.concat([utf8Field(topic), id, Buffer.from(payload, 'utf8')]))
}

export function encodePuback(packetId: number): Buffer {
  return Buffer.from([0x40, 2, (packetId >> 8) & 0xff, packetId & 0xff])
}

export const PINGREQ_PACKET = Buffer.from([0xc0, 0])
export const DISCONNECT_PACKET = Buffer.from([0xe0, 0])

/**
 * A PUBLISH packet that is copied per message: the packet id (QoS 1) and the send time are
 * written into the copy. The payload ends with STAMP_DIGITS decimal digits of the send time
 * followed by STAMP_TAIL, so a reader finds the stamp at a fixed distance from the end.
 */
export interface PublishTemplate {
  bytes: Buffer
  /** Offset of the 2-byte packet id, or -1 at QoS 0. */
  packetIdAt: number
  /** Offset of the first stamp digit. */
  stampAt: number
}

export const STAMP_DIGITS = 16
/**
 * The payload: a presence envelope (docs/protocol.md, "Presence"), valid for Chime's
 * broker and plain bytes for any other, 80 bytes with the stamp.
 */
const PAYLOAD_HEAD = '{"action":"PRESENCE","data":{"status":"online","text":"bench '
const STAMP_TAIL = '"}}'
export const STAMP_FROM_END = STAMP_DIGITS + STAMP_TAIL.length

export function publishTemplate(topic: string, qos: 0 | 1): PublishTemplate {
  const topicField = utf8Field(topic)
  const payload = Buffer.from(PAYLOAD_HEAD + '0'.repeat(STAMP_DIGITS) + STAMP_TAIL, 'utf8')
  const idLength = qos === 1 ? 2 : 0
  const remaining = topicField.length + idLength + payload.length
  const header = Buffer.from([0x30 | (qos << 1), ...remainingLengthBytes(remaining)])
  const bytes = Buffer.concat([header, topicField, Buffer.alloc(idLength), payload])
  return {
    bytes,
    packetIdAt: qos === 1 ? header.length + topicField.length : -1,
    stampAt: bytes.length - STAMP_FROM_END,
  }
}

/** Writes `value` (a whole number below 10^16) as STAMP_DIGITS zero-padded decimal digits. */
export function writeStamp(buf: Buffer, at: number, value: number): void {
  let v = value
  for (let i = at + STAMP_DIGITS - 1; i >= at; i--) {
    buf[i] = 48 + (v % 10)
    v = Math.floor(v / 10)
  }
}

export function readStamp(buf: Buffer, at: number): number {
  let v = 0
  for (let i = at; i < at + STAMP_DIGITS; i++) v = v * 10 + (buf[i]! - 48)
  return v
}

/**
 * Microseconds of CLOCK_MONOTONIC, which every process of a Linux machine shares, so a stamp
 * written by a publisher process is comparable with the clock of a subscriber process.
 */
export function nowMicros(): number {
  const [s, ns] = process.hrtime()
  return s * 1_000_000 + Math.floor(ns / 1000)
}

/** What a connection is told about each packet it reads; offsets point into `buf`. */
export interface PacketSink {
  connack(returnCode: number): void
  suback(packetId: number, returnCodes: number[]): void
  /** `payloadEnd` is exclusive; `packetId` is 0 at QoS 0. */
  publish(buf: Buffer, topicAt: number, topicLength: number, payloadAt: number, payloadEnd: number, qos: number, packetId: number): void
  puback(packetId: number): void
  pingresp(): void
  /** A packet this client never expects (or a malformed one). */
  unexpected(type: number): void
}

/**
 * A streaming reader of packets from a socket. Whole packets in a chunk are read in place;
 * only an incomplete tail is kept (and joined with the next chunk).
 */
export class PacketReader {
  private rest: Buffer | null = null

  constructor(private readonly sink: PacketSink) {}

  /** `transient`: the chunk's memory is reused after this call, so a partial tail is copied. */
  push(chunk: Buffer, transient = false): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk])
    this.rest = null
    let at = 0
    const end = buf.length
    while (at < end) {
      const start = at
      if (end - at < 2) break
      const first = buf[at]!
      let length = 0
      let multiplier = 1
      let i = at + 1
      let complete = false
      for (; i < end && i < at + 5; i++) {
        const b = buf[i]!
        length += (b & 0x7f) * multiplier
        multiplier *= 128
        if ((b & 0x80) === 0) {
          complete = true
          i++
          break
        }
      }
      if (!complete) {
        if (i - at >= 5) return this.sink.unexpected(first >> 4)
        break
      }
      const bodyAt = i
      const next = bodyAt + length
      if (next > end) {
        at = start
        break
      }
      this.dispatch(buf, first, bodyAt, next)
      at = next
    }
    if (at < end) this.rest = transient && buf === chunk ? Buffer.from(buf.subarray(at)) : buf.subarray(at)
  }

  private dispatch(buf: Buffer, first: number, at: number, end: number): void {
    const type = first >> 4
    switch (type) {
      case PUBLISH: {
        const qos = (first >> 1) & 3
        const topicLength = buf.readUInt16BE(at)
        const topicAt = at + 2
        let p = topicAt + topicLength
        let packetId = 0
        if (qos > 0) {
          packetId = buf.readUInt16BE(p)
          p += 2
        }
        return this.sink.publish(buf, topicAt, topicLength, p, end, qos, packetId)
      }
      case PUBACK:
        return this.sink.puback(buf.readUInt16BE(at))
      case CONNACK:
        return this.sink.connack(buf[at + 1]!)
      case SUBACK: {
        const codes: number[] = []
        for (let i = at + 2; i < end; i++) codes.push(buf[i]!)
        return this.sink.suback(buf.readUInt16BE(at), codes)
      }
      case PINGRESP:
        return this.sink.pingresp()
      default:
        return this.sink.unexpected(type)
    }
  }
}
