// A TCP proxy in front of a server, for cutting a client's network without touching the
// server: cut() drops every connection through it (as a lost Wi-Fi does), hold() makes new
// connections wait unanswered until release().
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net'
import type { Test } from 'tap'
import { defer } from './cleanup.ts'

export interface TcpProxy {
  port: number
  /** Connections made through it so far. */
  connections: number
  cut(): void
  hold(): void
  release(): void
}

export async function startTcpProxy(t: Test, targetPort: number): Promise<TcpProxy> {
  const live = new Set<Socket>()
  let held: Socket[] | null = null
  const link = (client: Socket): void => {
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1' })
    live.add(client)
    live.add(upstream)
    const drop = (): void => {
      client.destroy()
      upstream.destroy()
      live.delete(client)
      live.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  }
  const proxy: TcpProxy = {
    port: 0,
    connections: 0,
    cut() {
      for (const s of live) s.destroy()
      live.clear()
    },
    hold() {
      held ??= []
    },
    release() {
      const waiting = held ?? []
      held = null
      for (const c of waiting) if (!c.destroyed) link(c)
    },
  }
  const server = createServer((client) => {
    proxy.connections++
    client.on('error', () => client.destroy())
    if (held !== null) held.push(client)
    else link(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  proxy.port = (server.address() as AddressInfo).port
  defer(t, async () => {
    proxy.cut()
    for (const c of held ?? []) c.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return proxy
}
