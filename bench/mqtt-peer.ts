// The peer broker of the raw MQTT scenarios: any MQTT 3.1.1 broker by URL (`--peer`), a raw
// Aedes without Chime's hooks (`--peer aedes`), or by default a private Mosquitto started for
// the run with the configuration below, so the machine's own Mosquitto is left alone.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseMqttUrl } from './mqtt-load/connection.ts'
import { pidListeningOn } from './mqtt-proc.ts'

export interface PeerBroker {
  url: string
  /** Its process, for CPU and RSS; null when it cannot be found (a remote broker, another user's process). */
  pid: number | null
  label: string
  /** The configuration the bench started it with, when it did. */
  config: string | null
  stop(): Promise<void>
}

/**
 * Mosquitto's defaults except: no persistence and no log (nothing on disk), and no cap on
 * the QoS 1 queue of a subscriber (`max_queued_messages 0`; the default 1,000 drops QoS 1
 * messages for a subscriber that falls behind, which Aedes never does, so the two would not
 * deliver the same thing). The in-flight window stays at its default of 20 per subscriber.
 */
export function mosquittoConfig(port: number): string {
  return [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest none', 'max_queued_messages 0', ''].join('\n')
}

function findMosquitto(): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    const file = join(dir, 'mosquitto')
    if (dir !== '' && existsSync(file)) return file
  }
  return null
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port })
    c.once('connect', () => (c.destroy(), resolve(true)))
    c.once('error', () => resolve(false))
  })
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** A private Mosquitto on a free loopback port, or null when no mosquitto binary is installed. */
export async function startPrivateMosquitto(): Promise<PeerBroker | null> {
  const bin = findMosquitto()
  if (bin === null) return null
  let version = 'Mosquitto'
  try {
    execFileSync(bin, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    // `mosquitto -h` prints its version and exits with 3.
    const m = /mosquitto version (\S+)/.exec(String((err as { stdout?: unknown }).stdout ?? ''))
    if (m !== null) version = `Mosquitto ${m[1]}`
  }
  const dir = await mkdtemp(join(tmpdir(), 'chime-bench-mosquitto-'))
  const port = await freePort()
  const config = mosquittoConfig(port)
  const file = join(dir, 'mosquitto.conf')
  await writeFile(file, config, { mode: 0o644 })
  const child = spawn(bin, ['-c', file], { stdio: ['ignore', 'ignore', 'inherit'] })
  const deadline = Date.now() + 10_000
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopProcess(child)
      await rm(dir, { recursive: true, force: true })
      throw new Error(`the private mosquitto did not start on port ${port}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid ?? null,
    label: `${version} (private, bench config)`,
    config,
    async stop() {
      await stopProcess(child)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A broker given by URL; its process is looked up when it listens on this machine. */
export function peerAt(url: string): PeerBroker {
  const { host, port } = parseMqttUrl(url)
  const local = host === 'localhost' || host.startsWith('127.') || host === '::1'
  return { url, pid: local ? pidListeningOn(port) : null, label: `peer at ${url}`, config: null, stop: async () => {} }
}

/** A raw Aedes in a child process (mqtt-aedes-child.ts): the same broker as Chime's, without its hooks. */
export async function startRawAedes(): Promise<PeerBroker> {
  const child = fork(fileURLToPath(new URL('./mqtt-aedes-child.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the raw Aedes did not start within 30 s')), 30_000)
    child.once('message', (m: { port: number }) => (clearTimeout(timer), resolve(m.port)))
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the raw Aedes exited with ${code}`))))
  }).catch(async (err: unknown) => {
    await stopProcess(child)
    throw err
  })
  const version = (JSON.parse(await readFile(new URL('../node_modules/aedes/package.json', import.meta.url), 'utf8')) as { version: string }).version
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid ?? null,
    label: `raw Aedes ${version} (in memory, no hooks)`,
    config: null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.disconnect()
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}
