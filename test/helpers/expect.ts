// Assertions shared by the end-to-end suites.
import type { Test } from 'tap'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { waitFor } from './wait.ts'

/** An HTTP answer is the ERROR envelope with this status and code. */
export function expectError(t: Test, res: { status: number; body: unknown }, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: HTTP ${status}`)
  t.equal((res.body as { data?: { code?: string } } | null)?.data?.code, code, `${what}: ${code}`)
}

/** The CONNACK return code a CONNECT gets (0: accepted). */
export async function connackCode(url: string, opts: IClientOptions): Promise<number> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    await c.endAsync(true)
    return 0
  } catch (err) {
    return (err as { code?: number }).code ?? -1
  }
}

/** Waits until the broker has closed the client's connection. */
export async function disconnected(client: MqttClient, what: string): Promise<void> {
  await waitFor(what, () => (client.connected ? undefined : true))
}
