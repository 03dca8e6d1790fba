// The load generator of the files scenario (bench/files.ts), in a process of its own so that
// hashing, copying and sending 100 MiB never share an event loop with the server. It holds
// one file of pseudo-random bytes in memory (its SHA-256 computed before any clock starts)
// and, `warmup + runs` times, uploads it as a client does and downloads it back:
//   upload:   UPLOAD_FILE, the PUTs of every part (`parallelism` at once) or the one PUT,
//             COMPLETE_UPLOAD; timed from the first request to COMPLETE_UPLOAD's answer;
//   download: DOWNLOAD_FILE and a GET of the whole file through its link, every byte read
//             into memory; the SHA-256 is checked after the clock stops.
// The bytes go over node:http with keep-alive (undici's web streams would add client cost).
import { createHash, randomFillSync } from 'node:crypto'
import { Agent, request, type IncomingMessage } from 'node:http'
import type { CompleteUploadResponseData, DownloadFileResponseData, Envelope, UploadFileResponseData } from '../clients/sdk/src/protocol.ts'

export interface FilesJob {
  /** http://127.0.0.1:<port> of the API. */
  baseUrl: string
  token: string
  channelId: string
  size: number
  parallelism: number
  warmup: number
  runs: number
  /** Milliseconds since the epoch after which no new round starts. */
  deadline: number
  /** Printed before each round's figures. */
  label: string
}

/** One measured round, milliseconds. */
export interface FilesRound {
  uploadMs: number
  /** UPLOAD_FILE's answer (the links). */
  linksMs: number
  /** From the first PUT sent to the last one answered. */
  putMs: number
  /** COMPLETE_UPLOAD's round trip: assembling, the SHA-256 read-back, the type sniff. */
  completeMs: number
  downloadMs: number
}

export interface FilesClientResult {
  partSize: number | null
  parts: number
  rounds: FilesRound[]
  /** Rounds not run because the deadline came first. */
  skipped: number
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** The links point at the API (local store, relative paths) or at the S3 endpoint. */
const linkUrl = (job: FilesJob, link: string): URL => new URL(link, job.baseUrl)

async function action<T>(job: FilesJob, path: string, name: string, data: object): Promise<T> {
  const res = await fetch(job.baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${job.token}` }, body: JSON.stringify({ action: name, data }) })
  const body = (await res.json()) as Envelope<string, T>
  if (!res.ok || body.action === 'ERROR') throw new Error(`${name} answered ${res.status} ${JSON.stringify(body)}`)
  return body.data
}

function send(url: URL, agent: Agent, method: 'PUT' | 'GET', body?: Uint8Array): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }
    const req = request(url, { method, agent, headers }, resolve)
    req.on('error', reject)
    req.end(body)
  })
}

async function put(url: URL, agent: Agent, body: Uint8Array): Promise<void> {
  const res = await send(url, agent, 'PUT', body)
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  if (res.statusCode !== 200) throw new Error(`PUT ${url.pathname} answered ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 500)}`)
}

/** GETs the link into `into` (the file's size); answers the bytes read. */
async function getInto(url: URL, agent: Agent, into: Buffer): Promise<number> {
  const res = await send(url, agent, 'GET')
  if (res.statusCode !== 200) {
    res.resume()
    throw new Error(`GET ${url.pathname} answered ${res.statusCode}`)
  }
  let at = 0
  for await (const chunk of res) {
    const bytes = chunk as Buffer
    if (at + bytes.length > into.length) throw new Error('the download is longer than the file')
    bytes.copy(into, at)
    at += bytes.length
  }
  return at
}

async function upload(job: FilesJob, agent: Agent, bytes: Buffer, digest: string, round: number): Promise<{ fileId: string; partSize: number | null; parts: number; times: Omit<FilesRound, 'downloadMs'> }> {
  const t0 = performance.now()
  const links = await action<UploadFileResponseData>(job, '/api/files/upload/', 'UPLOAD_FILE', { channel_id: job.channelId, name: `bench-${round}.bin`, size: bytes.length, sha256: digest, mime_type: 'application/octet-stream' })
  const t1 = performance.now()
  const parts = links.upload_url !== null
    ? [{ url: linkUrl(job, links.upload_url), body: bytes }]
    : (links.parts ?? []).map((p) => {
        const from = (p.part_number - 1) * links.part_size!
        return { url: linkUrl(job, p.upload_url), body: bytes.subarray(from, from + p.size) }
      })
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < parts.length) {
      const part = parts[next++]!
      await put(part.url, agent, part.body)
    }
  }
  await Promise.all(Array.from({ length: Math.min(job.parallelism, parts.length) }, worker))
  const t2 = performance.now()
  const done = await action<CompleteUploadResponseData>(job, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: links.file_id })
  const t3 = performance.now()
  if (done.file.status !== 'ready' || done.file.size !== bytes.length) throw new Error(`COMPLETE_UPLOAD answered ${JSON.stringify(done.file)}`)
  return { fileId: links.file_id, partSize: links.part_size ?? null, parts: parts.length, times: { uploadMs: t3 - t0, linksMs: t1 - t0, putMs: t2 - t1, completeMs: t3 - t2 } }
}

async function download(job: FilesJob, agent: Agent, fileId: string, into: Buffer): Promise<number> {
  const t0 = performance.now()
  const link = await action<DownloadFileResponseData>(job, '/api/files/download/', 'DOWNLOAD_FILE', { file_id: fileId })
  const read = await getInto(linkUrl(job, link.download_url), agent, into)
  const ms = performance.now() - t0
  if (read !== into.length) throw new Error(`the download was ${read} bytes, not ${into.length}`)
  return ms
}

async function run(job: FilesJob): Promise<FilesClientResult> {
  const bytes = randomFillSync(Buffer.allocUnsafe(job.size))
  const digest = sha256(bytes)
  const into = Buffer.alloc(job.size)
  const agent = new Agent({ keepAlive: true, maxSockets: job.parallelism })
  const rounds: FilesRound[] = []
  let partSize: number | null = null
  let parts = 0
  const total = job.warmup + job.runs
  let round = 0
  try {
    for (; round < total && Date.now() < job.deadline; round++) {
      const up = await upload(job, agent, bytes, digest, round)
      into.fill(0)
      const downloadMs = await download(job, agent, up.fileId, into)
      if (sha256(into) !== digest) throw new Error(`round ${round}: the downloaded bytes do not match the upload`)
      partSize = up.partSize
      parts = up.parts
      const r = { ...up.times, downloadMs }
      const s = (ms: number): string => (ms / 1000).toFixed(2)
      console.log(`${job.label}: ${round < job.warmup ? 'warm-up' : `run ${round - job.warmup + 1}`}: upload ${s(r.uploadMs)} s (links ${s(r.linksMs)}, PUT ${s(r.putMs)}, COMPLETE ${s(r.completeMs)}), download ${s(r.downloadMs)} s`)
      if (round >= job.warmup) rounds.push(r)
    }
  } finally {
    agent.destroy()
  }
  return { partSize, parts, rounds, skipped: total - round }
}

process.once('message', (job: FilesJob) => {
  run(job).then(
    (result) => process.send!(result, () => process.exit(0)),
    (err: unknown) => {
      console.error(err)
      process.exit(1)
    },
  )
})
