// setToken on a client that is waiting to connect again: it tries at once with the new token
// instead of after its backoff, and what it had not sent yet is still sent. (Tokens that
// expire while connected are covered end to end by test/browser/token.test.ts and
// test/cli/renewal.test.ts.)
import t from 'tap'
import { ChimeClient, ChimeHttp, MemoryStorage, type DeltaJson } from '../../clients/sdk/src/index.ts'
import { startTestChime } from '../helpers/chime.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { waitFor } from '../helpers/wait.ts'
import { defer } from '../helpers/cleanup.ts'

t.test('a renewed token makes a waiting client connect at once', async (t) => {
  const chime = await startTestChime(t)
  const http = new ChimeHttp({ baseUrl: chime.baseUrl })
  const session = await http.register(`tok${process.pid}`, 'correct horse battery')
  const server = await http.post<{ server_id: string; channel_id: string }>('/api/servers', { name: 'tokens' })
  const proxy = await startTcpProxy(t, chime.running.mqttPort!)
  // A long backoff: without setToken the next attempt would come a minute later.
  const c = new ChimeClient({
    baseUrl: chime.baseUrl, session: { ...session }, storage: new MemoryStorage(), mqttUrl: `mqtt://127.0.0.1:${proxy.port}`,
    reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 },
  })
  defer(t, () => c.close())
  await c.connect()
  proxy.cut()
  await waitFor('the client offline', () => (c.status === 'offline' ? true : undefined))
  const item = await c.send(server.channel_id, 'written while away')
  const renewed = await http.login(session.username, 'correct horse battery')
  const before = proxy.connections
  c.setToken(renewed.token)
  await waitFor('the client back online', () => (c.status === 'online' ? true : undefined), 10_000)
  t.equal(proxy.connections, before + 1, 'one new connection, at once')
  t.equal(c.session.token, renewed.token, 'with the new token')
  await waitFor('the post sent', () => (c.pendingPosts().length === 0 ? true : undefined))
  const log = await http.request<{ deltas: DeltaJson[] }>('RESTORE_HISTORY', { channel_id: server.channel_id, after_seq: '0', limit: 100 })
  t.equal(log.deltas.filter((d) => d.client_msg_id === item.client_msg_id).length, 1, 'the post written while away is sent once')
})
