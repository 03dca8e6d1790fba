// Chime processes started as a user would (`node --import tsx bin/chime.ts <mode>`), on
// free ports, with their addresses read from the start-up lines.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { defer } from './cleanup.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface ChimeProcess {
  child: ChildProcess
  httpPort: number
  mqttPort: number | null
  output: () => string
  kill(signal?: NodeJS.Signals): Promise<void>
}

export function spawnChime(t: Test, mode: 'all' | 'broker' | 'api', env: Record<string, string>): Promise<ChimeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/chime.ts', mode], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', CHIME_HTTP_PORT: '0', CHIME_MQTT_PORT: '0', CHIME_HOST: '127.0.0.1', CHIME_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()))
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill(signal)
    await exited
  }
  defer(t, () => kill())
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chime ${mode} did not start in 60 s:\n${out}`)), 60_000)
    const onData = (): void => {
      const http = /(?:HTTP API|MQTT\/WS) +\S+:(\d+)\//.exec(out)
      const tcp = /MQTT\/TCP +mqtt:\/\/\S+:(\d+)/.exec(out)
      if (/broker state/.test(out) && http) {
        clearTimeout(timer)
        child.stdout!.off('data', onData)
        resolve({ child, httpPort: Number(http[1]), mqttPort: tcp ? Number(tcp[1]) : null, output: () => out, kill })
      }
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`chime ${mode} exited with ${code}:\n${out}`))
    })
  })
}
