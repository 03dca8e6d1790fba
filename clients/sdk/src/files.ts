// Uploading a file as docs/protocol.md ("Files") describes: UPLOAD_FILE for links, the bytes
// PUT straight to object storage (in parts for large files, a few at once), COMPLETE_UPLOAD.
// A part that fails is sent again; after a dropped connection, `resumeFileId` asks which
// parts are still missing and sends only those.
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

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')
}

async function put(http: ChimeHttp, url: string, body: Uint8Array, attempts: number): Promise<void> {
  let last: unknown
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await fetch(http.resolve(url), { method: 'PUT', body: body as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'application/octet-stream' } })
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

/** Uploads bytes for a channel or chat and completes the upload; answers the ready file. */
export async function uploadFile(http: ChimeHttp, channelId: string, bytes: Uint8Array, name: string, opts: UploadOptions = {}): Promise<FileJson> {
  const attempts = opts.attempts ?? 3
  const links = opts.resumeFileId !== undefined
    ? await http.request<UploadFileResponseData>('UPLOAD_FILE', { file_id: opts.resumeFileId })
    : await http.request<UploadFileResponseData>('UPLOAD_FILE', { channel_id: channelId, name, size: bytes.length, sha256: await sha256Hex(bytes), mime_type: opts.mimeType ?? 'application/octet-stream' })
  const total = bytes.length
  let sent = 0
  const progress = (n: number): void => {
    sent += n
    opts.onProgress?.({ file_id: links.file_id, sent, total })
  }
  if (links.upload_url !== null) {
    await put(http, links.upload_url, bytes, attempts)
    progress(bytes.length)
  } else {
    const partSize = links.part_size!
    progress(total - (links.parts ?? []).reduce((n, p) => n + p.size, 0))
    const queue: UploadPartJson[] = [...(links.parts ?? [])]
    const worker = async (): Promise<void> => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const from = (p.part_number - 1) * partSize
        await put(http, p.upload_url, bytes.subarray(from, from + p.size), attempts)
        progress(p.size)
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker))
  }
  const done = await http.request<CompleteUploadResponseData>('COMPLETE_UPLOAD', { file_id: links.file_id })
  return done.file
}
