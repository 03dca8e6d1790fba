import type { FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { createWebSocketStream } from 'ws'
import type { Aedes } from 'aedes'

/** MQTT over WebSocket at /mqtt on a Fastify server (the API's, or a broker node's own). */
export async function registerMqttWebSocket(app: FastifyInstance, aedes: Aedes): Promise<void> {
  await app.register(websocket, { options: { maxPayload: 4 * 1024 * 1024 } })
  app.get('/mqtt', { websocket: true }, (socket, request) => {
    const stream = createWebSocketStream(socket)
    stream.on('error', () => stream.destroy())
    aedes.handle(stream, request.raw)
  })
}
