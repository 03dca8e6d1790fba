import { createServer, type Server } from 'node:net'
import type { Aedes } from 'aedes'
import { coalesceWrites } from './write-coalescing.ts'

/** A listener that could not start, with a one-line reason for people. */
export class ListenError extends Error {
  readonly code = 'PORT_IN_USE'
  constructor(message: string) {
    super(message)
    this.name = 'ListenError'
  }
}

export function describeListenError(err: unknown, what: string, envName: string, port: number): Error {
  const code = (err as { code?: unknown }).code
  if (code === 'EADDRINUSE') return new ListenError(`${what} port ${port} is already in use: stop what holds it or set ${envName}`)
  if (code === 'EACCES') return new ListenError(`${what} port ${port} needs privileges: choose another with ${envName}`)
  return err instanceof Error ? err : new Error(String(err))
}

/** MQTT over TCP. Resolves with the bound port (0 picks a free one). */
export function listenMqtt(aedes: Aedes, port: number, host: string): Promise<{ server: Server; port: number }> {
  // No Nagle: a reply published right after a PUBACK would otherwise wait for the client's
  // delayed ACK (about 40 ms on Linux) before it leaves. The writes of one turn of the event
  // loop go out together (write-coalescing.ts).
  const server = createServer({ noDelay: true }, (socket) => aedes.handle(coalesceWrites(socket)))
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(describeListenError(err, 'MQTT', 'CHIME_MQTT_PORT', port)))
    server.listen(port, host, () => {
      const address = server.address()
      resolve({ server, port: typeof address === 'object' && address !== null ? address.port : port })
    })
  })
}
