import type { FastifyInstance } from 'fastify'
import type { ChimeBroker } from './create-broker.ts'
import { ingressMetrics } from './ingress.ts'

/** GET /metrics on the HTTP server of a process that runs a broker: its load and levelling, in Prometheus's text format. */
export function registerBrokerMetrics(app: FastifyInstance, broker: ChimeBroker): void {
  app.get('/metrics', async (_request, reply) => {
    const connections = (broker.aedes as unknown as { connectedClients: number }).connectedClients
    return reply.type('text/plain; version=0.0.4').send(ingressMetrics(broker.ingress.stats, connections))
  })
}
