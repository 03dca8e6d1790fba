// Uploading a file as docs/protocol.md ("Files") describes: UPLOAD_FILE for links, the bytes
// PUT straight to object storage (in parts for large files, a few at once), COMPLETE_UPLOAD.
// A part that fails is sent again; after a dropped connection, `resumeFileId` asks which
// parts are still missing and sends only those. The SHA-256 the upload announces comes from
// crypto.subtle where there is one; browsers have it only in secure contexts (https or
// localhost), so a page opened over plain http from a LAN address hashes with a small JS
// SHA-256 instead, a chunk at a time (a Blob is read a chunk at a time too), loaded only
// then (a bundler makes it a chunk of its own, outside the first load).
import { ChatError } from './errors.ts'
import type { ChimeHttp } from './http.ts'
import type { CompleteUploadResponseData, FileJson, UploadFileResponseData, UploadPartJson } from './protocol.ts'

export interface UploadProgress {
  file_id: string
  sent: number
  total: number
}

export interface UploadOptions {
  mimeType?: string
  onProgress?: (p: UploadProgress) => void
  /** Parts sent at once (default 4). */
  concurrency?: number
  /** Tries per part before giving up (default 3). */
  attempts?: number
  /** Continue this pending upload instead of starting a new one. */
  resumeFileId?: string
}

/** Bytes hashed (and read from a Blob) at a time when crypto.subtle is missing. */
export const HASH_CHUNK_BYTES = 4 * 1024 * 1024

function hex(digest: Uint8Array): string {
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

function subtle(): SubtleCrypto | null {
  return (globalThis.crypto as Crypto | undefined)?.subtle ?? null
}

/**
 * The hex SHA-256 of the bytes with the JS implementation, fed `chunkBytes` at a time (a Blob
 * is read slice by slice, never whole); the event loop gets a turn between chunks.
 */
export async function sha256HexIncremental(source: Uint8Array | Blob, chunkBytes = HASH_CHUNK_BYTES): Promise<string> {
  const { sha256 } = await import('@noble/hashes/sha2')
  const h = sha256.create()
  const size = source instanceof Uint8Array ? source.length : source.size
  for (let at = 0; at < size; at += chunkBytes) {
    const end = Math.min(size, at + chunkBytes)
    h.update(source instanceof Uint8Array ? source.subarray(at, end) : new Uint8Array(await source.slice(at, end).arrayBuffer()))
    if (end < size) await new Promise<void>((resolve) => setTimeout(resolve, 0))
  }
  return hex(h.digest())
}

/** The hex SHA-256 of the bytes: crypto.subtle where there is one, the JS fallback otherwise. */
export async function sha256Hex(source: Uint8Array | Blob): Promise<string> {
  const s = subtle()
  if (s === null) return sha256HexIncremental(source)
  const bytes = source instanceof Uint8Array ? source : new Uint8Array(await source.arrayBuffer())
  return hex(new Uint8Array(await s.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)))
}

async function put(http: ChimeHttp, url: string, body: Uint8Array | Blob, attempts: number): Promise<void> {
  let last: unknown
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(http.resolve(url), { method: 'PUT', body: body as Uint8Array<ArrayBuffer> | Blob, headers: { 'content-type': 'application/octet-stream' } })
      if (res.ok) {
        await res.arrayBuffer()
        return
      }
      const text = await res.text()
      // A refusal of the bytes themselves will not change by sending them again.
      if (res.status >= 400 && res.status < 500) throw new ChatError(res.status === 413 ? 'PAYLOAD_TOO_LARGE' : res.status === 403 ? 'LINK_EXPIRED' : 'INVALID_FIELD', `the upload link answered ${res.status}: ${text.slice(0, 200)}`)
      last = new ChatError('UNAVAILABLE', `the upload link answered ${res.status}`)
    } catch (err) {
      if (err instanceof ChatError && err.code !== 'UNAVAILABLE') throw err
      last = err
    }
  }
  throw last instanceof ChatError ? last : new ChatError('UNAVAILABLE', `the upload did not go through: ${String(last)}`)
}

/**
 * Uploads bytes for a channel or chat and completes the upload; answers the ready file. A
 * Blob (a browser's File) is read a part at a time as it is sent.
 */
export async function uploadFile(http: ChimeHttp, channelId: string, bytes: Uint8Array | Blob, name: string, opts: UploadOptions = {}): Promise<FileJson> {
  const attempts = opts.attempts ?? 3
  const size = bytes instanceof Uint8Array ? bytes.length : bytes.size
  const links = opts.resumeFileId !== undefined
    ? await http.request<UploadFileResponseData>('UPLOAD_FILE', { file_id: opts.resumeFileId })
    : await http.request<UploadFileResponseData>('UPLOAD_FILE', { channel_id: channelId, name, size, sha256: await sha256Hex(bytes), mime_type: opts.mimeType ?? 'application/octet-stream' })
  const total = size
  let sent = 0
  const progress = (n: number): void => {
    sent += n
    opts.onProgress?.({ file_id: links.file_id, sent, total })
  }
  if (links.upload_url !== null) {
    await put(http, links.upload_url, bytes, attempts)
    progress(size)
  } else {
    const partSize = links.part_size!
    progress(total - (links.parts ?? []).reduce((n, p) => n + p.size, 0))
    const queue: UploadPartJson[] = [...(links.parts ?? [])]
    const worker = async (): Promise<void> => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const from = (p.part_number - 1) * partSize
        await put(http, p.upload_url, bytes instanceof Uint8Array ? bytes.subarray(from, from + p.size) : bytes.slice(from, from + p.size), attempts)
        progress(p.size)
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker))
  }
  const done = await http.request<CompleteUploadResponseData>('COMPLETE_UPLOAD', { file_id: links.file_id })
  return done.file
}
