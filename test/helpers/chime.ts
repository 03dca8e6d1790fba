// A running Chime for tests: embedded profile on ephemeral ports, with helpers to register
// users, call the HTTP API and connect MQTT clients. Everything is closed in teardown.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { defer } from './cleanup.ts'
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt'
import pino from 'pino'
import { loadConfig } from '../../config/load-config.ts'
import type { Config } from '../../config/schema.ts'
import { startEmbedded, type Running } from '../../bin/processes.ts'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { Envelope } from '../../clients/sdk/src/protocol.ts'

export interface TestUser {
  user_id: string
  token: string
  username: string
}

export interface TestChime {
  running: Running
  baseUrl: string
  mqttUrl: string
  wsUrl: string
  http<T = unknown>(method: string, path: string, opts?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<{ status: number; body: T }>
  register(username?: string): Promise<TestUser>
  connect(user: TestUser, opts?: IClientOptions & { transport?: 'tcp' | 'ws' }): Promise<MqttClient>
}

let userCounter = 0

export async function startTestChime(t: Test, overrides: Partial<Config> = {}): Promise<TestChime> {
  const dataDir = await mkdtemp(join(tmpdir(), 'chime-test-'))
  const config = loadConfig({}, { httpPort: 0, mqttPort: 0, host: '127.0.0.1', dataDir, logLevel: 'silent', ...overrides })
  const running = await startEmbedded(config, pino({ level: 'silent' }))
  const clients: MqttClient[] = []
  defer(t, async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)))
    await running.close()
    await rm(dataDir, { recursive: true, force: true })
  })
  const baseUrl = `http://127.0.0.1:${running.httpPort}`
  const chime: TestChime = {
    running,
    baseUrl,
    mqttUrl: `mqtt://127.0.0.1:${running.mqttPort}`,
    wsUrl: `ws://127.0.0.1:${running.httpPort}/mqtt`,
    async http(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) }
      if (opts.token !== undefined) headers['authorization'] = `Bearer ${opts.token}`
      let body: string | undefined
      if (opts.raw !== undefined) body = opts.raw
      else if (opts.body !== undefined) body = JSON.stringify(opts.body)
      if (body !== undefined) headers['content-type'] ??= 'application/json'
      const res = await fetch(baseUrl + path, { method, headers, ...(body !== undefined ? { body } : {}) })
      const text = await res.text()
      return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as never }
    },
    async register(username) {
      const name = username ?? `user${process.pid}x${++userCounter}`
      const res = await chime.http<{ user_id: string; token: string }>('POST', '/api/auth/register', { body: { username: name, password: 'correct horse battery' } })
      if (res.status !== 200) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`)
      return { ...res.body, username: name }
    },
    async connect(user, opts = {}) {
      const { transport = 'tcp', ...rest } = opts
      const client = await mqtt.connectAsync(transport === 'ws' ? chime.wsUrl : chime.mqttUrl, {
        username: user.username,
        password: user.token,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...rest,
      })
      clients.push(client)
      return client
    },
  }
  return chime
}

/** Collects the envelopes arriving on a topic. */
export function collect(client: MqttClient, topic: string): Envelope[] {
  const out: Envelope[] = []
  client.on('message', (t, payload) => {
    if (t === topic) out.push(JSON.parse(payload.toString()) as Envelope)
  })
  return out
}

const inboxSubscribed = new WeakSet<MqttClient>()

/** Subscribes and returns the granted QoS per filter (128 = refused) instead of throwing. */
export function trySubscribe(client: MqttClient, filter: string | string[], qos: 0 | 1 = 1): Promise<number[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (err, granted) => {
      const fromError = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted
      if (fromError !== undefined) resolve(fromError)
      else if (err) reject(err)
      else resolve((granted ?? []).map((g) => g.qos))
    })
  })
}

/** Sends a request over MQTT and resolves with the reply carrying the same request_id. */
export async function request(client: MqttClient, userId: string, action: string, data: object, qos: 0 | 1 = 1): Promise<Envelope> {
  const inbox = topics.inbox(userId)
  if (!inboxSubscribed.has(client)) {
    await client.subscribeAsync(inbox, { qos: 1 })
    inboxSubscribed.add(client)
  }
  const requestId = `r${Math.random().toString(36).slice(2)}`
  const reply = new Promise<Envelope>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to ${action}`)), 10_000)
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== inbox) return
      const env = JSON.parse(payload.toString()) as Envelope & { data: { request_id?: string } }
      if (env.request_id === requestId || env.data.request_id === requestId) {
        clearTimeout(timer)
        client.off('message', onMessage)
        resolve(env)
      }
    }
    client.on('message', onMessage)
  })
  await client.publishAsync(topics.requests(client.options.clientId!), JSON.stringify({ action, request_id: requestId, data }), { qos })
  return reply
}
