// Uploading and downloading a 100 MiB file end to end through the links (seed targets on
// loopback: upload < 5 s, download < 2 s), on each profile:
//   embedded:   SQLite, files in the local store under CHIME_DATA_DIR, links the API serves;
//   production: MariaDB + Redis, files in an S3-compatible server the presigned links point
//               at: s3rver (test/helpers/s3.ts), a test-grade server, so these figures
//               measure it as much as Chime.
// Three processes: Chime here, s3rver in a child (production only), and the client in a
// child (bench/files-client.ts), which uploads in parts PUT `PARALLELISM` at once and
// downloads the whole file, WARMUP + RUNS rounds within DEADLINE_MS.
//   npm run bench -- files [--profile embedded|production|both]
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startBenchChime, type BenchProfile } from './bench-chime.ts'
import type { FilesClientResult, FilesJob, FilesRound } from './files-client.ts'

const SIZE = 100 * 2 ** 20
const PARALLELISM = 4
const WARMUP = 1
const RUNS = 5
/** No new round starts this long after a profile's first. */
const DEADLINE_MS = 10 * 60_000
const TARGET_UPLOAD_S = 5
const TARGET_DOWNLOAD_S = 2

export interface FilesResult {
  profile: string
  bytes: number
  partSize: number | null
  parts: number
  parallelism: number
  runs: number
  skipped: number
  uploadP50: number
  uploadMax: number
  uploadMBps: number
  linksP50: number
  putP50: number
  completeP50: number
  downloadP50: number
  downloadMax: number
  downloadMBps: number
  /** Every measured round, milliseconds. */
  rounds: FilesRound[]
}

interface S3Child {
  endpoint: string
  accessKey: string
  secretKey: string
  stop(): Promise<void>
}

/** Waits for a child's first message; fails if it exits or errs first, or after `ms`. */
function firstMessage<T>(child: ChildProcess, what: string, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} sent nothing within ${ms / 1000} s`)), ms)
    const done = (): void => clearTimeout(timer)
    child.once('message', (m) => (done(), resolve(m as T)))
    child.once('error', (err) => (done(), reject(err)))
    child.once('exit', (code) => (done(), reject(new Error(`${what} exited with ${code}`))))
  })
}

/** Disconnects the child (which then closes what it runs) and waits for it to exit; kills it after 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  if (child.connected) child.disconnect()
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/** s3rver with the test helper's multipart additions, in a process of its own; stop() removes its directory. */
async function startS3Child(): Promise<S3Child> {
  const helper = fileURLToPath(new URL('../test/helpers/s3.ts', import.meta.url))
  const main = [
    'const { startS3Server } = await import(process.argv[1])',
    'const s3 = await startS3Server()',
    'process.send({ endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey })',
    "process.once('disconnect', () => void s3.close().finally(() => process.exit(0)))",
  ].join('\n')
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', main, helper], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const s3 = await firstMessage<Omit<S3Child, 'stop'>>(child, 's3rver', 30_000).catch(async (err: unknown) => {
    await stopChild(child)
    throw err
  })
  return { ...s3, stop: () => stopChild(child) }
}

const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(xs.length / 2) - 1)] ?? NaN
const seconds = (ms: number): number => Math.round(ms / 10) / 100
const mbPerSecond = (bytes: number, ms: number): number => Math.round(bytes / 1e6 / (ms / 1000))

async function files(profile: BenchProfile): Promise<FilesResult> {
  const s3 = profile === 'production' ? await startS3Child() : null
  try {
    const chime = await startBenchChime(profile, 'files', s3 === null ? {} : { s3Endpoint: s3.endpoint, s3AccessKey: s3.accessKey, s3SecretKey: s3.secretKey, s3Bucket: 'chime-files' })
    try {
      const tag = Date.now().toString(36)
      const owner = await chime.call<{ user_id: string; token: string }>('POST', '/api/auth/register', { username: `files${tag}`, password: 'correct horse battery' })
      const server = await chime.call<{ server_id: string; channel_id: string }>('POST', '/api/servers', { name: 'Files' }, owner.token)
      const job: FilesJob = {
        baseUrl: `http://127.0.0.1:${chime.running.httpPort}`, token: owner.token, channelId: server.channel_id,
        size: SIZE, parallelism: PARALLELISM, warmup: WARMUP, runs: RUNS, deadline: Date.now() + DEADLINE_MS, label: profile,
      }
      const client = fork(fileURLToPath(new URL('./files-client.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] })
      try {
        const answer = firstMessage<FilesClientResult>(client, 'the files client', DEADLINE_MS + 120_000)
        client.send(job)
        const out = await answer
        if (out.rounds.length === 0) throw new Error(`${profile}: no round finished before the deadline`)
        const upload = out.rounds.map((r) => r.uploadMs)
        const download = out.rounds.map((r) => r.downloadMs)
        return {
          profile: profile === 'embedded' ? 'embedded (SQLite, local store)' : 'production (MariaDB + Redis, s3rver)',
          bytes: SIZE, partSize: out.partSize, parts: out.parts, parallelism: PARALLELISM, runs: out.rounds.length, skipped: out.skipped,
          uploadP50: seconds(p50(upload)), uploadMax: seconds(Math.max(...upload)), uploadMBps: mbPerSecond(SIZE, p50(upload)),
          linksP50: seconds(p50(out.rounds.map((r) => r.linksMs))), putP50: seconds(p50(out.rounds.map((r) => r.putMs))), completeP50: seconds(p50(out.rounds.map((r) => r.completeMs))),
          downloadP50: seconds(p50(download)), downloadMax: seconds(Math.max(...download)), downloadMBps: mbPerSecond(SIZE, p50(download)),
          rounds: out.rounds.map((r) => ({ uploadMs: Math.round(r.uploadMs), linksMs: Math.round(r.linksMs), putMs: Math.round(r.putMs), completeMs: Math.round(r.completeMs), downloadMs: Math.round(r.downloadMs) })),
        }
      } finally {
        await stopChild(client)
      }
    } finally {
      await chime.close()
    }
  } finally {
    await s3?.stop()
  }
}

/** The scenario for bench/run.ts: each profile in turn, a table, bench/results/files.json. */
export async function runFiles(profiles: readonly BenchProfile[]): Promise<void> {
  const load = loadavg().map((l) => Math.round(l * 100) / 100)
  console.log(`load average at start: ${load.join(', ')}`)
  const results: FilesResult[] = []
  for (const profile of profiles) results.push(await files(profile))
  const mark = (value: number, target: number): string => (value < target ? `${value}` : `**${value}**`)
  console.log(`| profile | file | parts (PUTs at once) | runs | upload p50 / max s | upload MB/s (p50) | PUT / COMPLETE p50 s | download p50 / max s | download MB/s (p50) |`)
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const r of results) {
    const parts = r.partSize === null ? '1 PUT' : `${r.parts} × ${r.partSize / 2 ** 20} MiB (${r.parallelism})`
    console.log(`| ${r.profile} | ${r.bytes / 2 ** 20} MiB | ${parts} | ${r.runs} | ${mark(r.uploadP50, TARGET_UPLOAD_S)} / ${mark(r.uploadMax, TARGET_UPLOAD_S)} | ${r.uploadMBps} | ${r.putP50} / ${r.completeP50} | ${mark(r.downloadP50, TARGET_DOWNLOAD_S)} / ${mark(r.downloadMax, TARGET_DOWNLOAD_S)} | ${r.downloadMBps} |`)
  }
  console.log(`targets: upload < ${TARGET_UPLOAD_S} s, download < ${TARGET_DOWNLOAD_S} s (bold: missed); MB = 10^6 bytes`)
  await mkdir(new URL('./results/', import.meta.url), { recursive: true })
  await writeFile(new URL('./results/files.json', import.meta.url), JSON.stringify({
    at: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverage: load, results,
  }, null, 2))
}
