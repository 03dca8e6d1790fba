// One lean MQTT 3.1.1 connection over net.Socket (codec.ts): CONNECT, SUBSCRIBE, batched
// PUBLISH writes by its owner, PUBACKs for received QoS 1 publishes sent once per chunk.
// A load-generator process holds thousands of these; nothing here allocates per message.
import { connect as tcpConnect, type Socket } from 'node:net'
import { encodeConnect, encodeSubscribe, nowMicros, DISCONNECT_PACKET, PacketReader, PINGREQ_PACKET, type ConnectOptions, type PacketSink } from './codec.ts'

export interface Target {
  host: string
  port: number
}

/** mqtt://host:port (the default port 1883) as a TCP target. */
export function parseMqttUrl(url: string): Target {
  const u = new URL(url)
  if (u.protocol !== 'mqtt:' && u.protocol !== 'tcp:') throw new Error(`only mqtt://host:port is supported, not ${url}`)
  return { host: u.hostname, port: u.port === '' ? 1883 : Number(u.port) }
}

export type PublishHandler = (buf: Buffer, topicAt: number, topicLength: number, payloadAt: number, payloadEnd: number, qos: number, packetId: number, nowUs: number) => void

/** The buffer every connection of this process reads into; each read is parsed before the next. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

const CONNACK_REFUSALS: Record<number, string> = { 1: 'protocol version', 2: 'identifier rejected', 3: 'server unavailable', 4: 'bad username or password', 5: 'not authorized' }

export class LeanConnection implements PacketSink {
  readonly socket: Socket
  private readonly reader = new PacketReader(this)
  private connected: { resolve: () => void; reject: (err: Error) => void } | null = null
  private subscribed = new Map<number, { resolve: (codes: number[]) => void; reject: (err: Error) => void }>()
  private nextSubscribeId = 1
  /** Packet ids of received QoS 1 publishes, acknowledged after the chunk they came in. */
  private acks: number[] = []
  /** The time the current chunk was read, µs (codec.ts nowMicros). */
  private chunkAt = 0
  onPublish: PublishHandler | null = null
  onPuback: ((packetId: number) => void) | null = null
  /** Told once when the connection ends for any reason after it was established. */
  onClose: ((why: string) => void) | null = null
  private closing = false
  private ended = false
  private lastError = ''

  constructor(target: Target, localAddress?: string) {
    // Reads land in one buffer the process shares (onread): no stream machinery and no
    // allocation per read; the reader copies what it must keep.
    this.socket = tcpConnect({
      host: target.host, port: target.port, ...(localAddress !== undefined ? { localAddress } : {}),
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array): boolean => {
          this.chunkAt = nowMicros()
          this.reader.push(READ_BUFFER === buf ? READ_BUFFER.subarray(0, n) : Buffer.from(buf.buffer, buf.byteOffset, n), true)
          if (this.acks.length > 0) this.flushAcks()
          return true
        },
      },
    })
    this.socket.setNoDelay(true)
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.lastError = err.code ?? err.message
    })
    this.socket.on('close', () => {
      this.ended = true
      const why = this.lastError === '' ? 'closed by the broker' : this.lastError
      this.connected?.reject(new Error(why))
      this.connected = null
      for (const s of this.subscribed.values()) s.reject(new Error(why))
      this.subscribed.clear()
      if (!this.closing) this.onClose?.(why)
    })
  }

  /** Sends CONNECT and waits for a CONNACK that accepts it. */
  connect(options: ConnectOptions, timeoutMs = 30_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no CONNACK in time')), timeoutMs)
      this.connected = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      }
      this.socket.write(encodeConnect(options))
    })
  }

  /** One SUBSCRIBE with every filter; answers the SUBACK's return codes (0x80 = refused). */
  subscribe(filters: readonly string[], qos: 0 | 1, timeoutMs = 30_000): Promise<number[]> {
    const id = this.nextSubscribeId
    this.nextSubscribeId = (this.nextSubscribeId % 65_535) + 1
    return new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SUBACK in time')), timeoutMs)
      this.subscribed.set(id, { resolve: (c) => (clearTimeout(timer), resolve(c)), reject: (e) => (clearTimeout(timer), reject(e)) })
      this.socket.write(encodeSubscribe(id, filters, qos))
    })
  }

  write(bytes: Buffer): void {
    if (!this.ended) this.socket.write(bytes)
  }

  /** Bytes queued in this process for the socket: the publisher's back-pressure signal. */
  get backlog(): number {
    return this.socket.writableLength
  }

  get isOpen(): boolean {
    return !this.ended
  }

  ping(): void {
    this.write(PINGREQ_PACKET)
  }

  /** DISCONNECT, then waits for the socket to close (destroys it after `timeoutMs`). */
  close(timeoutMs = 2000): Promise<void> {
    this.closing = true
    if (this.ended) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs)
      this.socket.once('close', () => (clearTimeout(timer), resolve()))
      this.socket.end(DISCONNECT_PACKET)
    })
  }

  private flushAcks(): void {
    const out = Buffer.allocUnsafe(this.acks.length * 4)
    for (let i = 0; i < this.acks.length; i++) {
      const id = this.acks[i]!
      out[i * 4] = 0x40
      out[i * 4 + 1] = 2
      out[i * 4 + 2] = id >> 8
      out[i * 4 + 3] = id & 0xff
    }
    this.acks.length = 0
    this.write(out)
  }

  // ---- PacketSink

  connack(returnCode: number): void {
    const waiting = this.connected
    this.connected = null
    if (returnCode === 0) waiting?.resolve()
    else waiting?.reject(new Error(`CONNACK refused: ${CONNACK_REFUSALS[returnCode] ?? returnCode}`))
  }

  suback(packetId: number, returnCodes: number[]): void {
    const waiting = this.subscribed.get(packetId)
    this.subscribed.delete(packetId)
    waiting?.resolve(returnCodes)
  }

  publish(buf: Buffer, topicAt: number, topicLength: number, payloadAt: number, payloadEnd: number, qos: number, packetId: number): void {
    if (qos === 1) this.acks.push(packetId)
    this.onPublish?.(buf, topicAt, topicLength, payloadAt, payloadEnd, qos, packetId, this.chunkAt)
  }

  puback(packetId: number): void {
    this.onPuback?.(packetId)
  }

  pingresp(): void {}

  unexpected(type: number): void {
    this.lastError = `unexpected packet type ${type}`
    this.socket.destroy()
  }
}
