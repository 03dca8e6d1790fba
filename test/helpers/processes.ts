// Chime processes started as a user would (`node --import tsx bin/chime.ts <mode>`), on
// free ports, with their addresses read from the start-up lines.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { defer } from './cleanup.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

// A test process that ends without running its teardown (the runner's timeout) must not
// leave Chime processes behind holding ports and connections.
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export interface ChimeProcess {
  child: ChildProcess
  httpPort: number
  mqttPort: number | null
  output: () => string
  kill(signal?: NodeJS.Signals): Promise<void>
}

// API sidecars keep the local object store under CHIME_DATA_DIR: those of one test share a
// temporary one (as the sidecars of a deployment share theirs), never the checkout's ./data.
const sidecarDataDirs = new WeakMap<Test, string>()
function sidecarDataDir(t: Test): string {
  let dir = sidecarDataDirs.get(t)
  if (dir === undefined) {
    const made = mkdtempSync(join(tmpdir(), 'chime-sidecars-'))
    sidecarDataDirs.set(t, made)
    defer(t, () => rmSync(made, { recursive: true, force: true }))
    dir = made
  }
  return dir
}

export function spawnChime(t: Test, mode: 'all' | 'broker' | 'api', env: Record<string, string>): Promise<ChimeProcess> {
  if (mode === 'api' && env['CHIME_DATA_DIR'] === undefined) env = { ...env, CHIME_DATA_DIR: sidecarDataDir(t) }
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/chime.ts', mode], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', CHIME_HTTP_PORT: '0', CHIME_MQTT_PORT: '0', CHIME_HOST: '127.0.0.1', CHIME_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
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
