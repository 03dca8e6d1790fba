// Uploading a file as a client does: UPLOAD_FILE for links, a PUT of the bytes (or of each
// part), COMPLETE_UPLOAD. Over HTTP, against a running Chime; the links point at the API
// itself (local store) or at the S3 endpoint.
import { createHash } from 'node:crypto'
import type { CompleteUploadResponseData, Envelope, FileJson, UploadFileResponseData } from '../../clients/sdk/src/protocol.ts'
import type { TestChime, TestUser } from './chime.ts'

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')

type Reply<T> = { status: number; body: Envelope<string, T & { code?: string; details?: Record<string, unknown> }> }

/** One envelope to the API over HTTP; answers status and body. */
export function fileAction<T>(chime: TestChime, user: TestUser, path: string, action: string, data: object): Promise<Reply<T>> {
  return chime.http('POST', path, { token: user.token, body: { action, data } }) as Promise<Reply<T>>
}

/**
 * Where a link is reached from this test: the API's own links (/api/objects/..., relative, or
 * absolute under a CHIME_PUBLIC_URL that names no real host here) go to the test's API.
 */
export function reachable(chime: TestChime, url: string): string {
  const u = new URL(url, chime.baseUrl)
  return u.pathname.startsWith('/api/objects/') ? `${chime.baseUrl}${u.pathname}${u.search}` : u.toString()
}

/** PUTs bytes to an upload link. */
export async function putBytes(chime: TestChime, url: string, bytes: Buffer): Promise<Response> {
  return fetch(reachable(chime, url), { method: 'PUT', body: new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length), headers: { 'content-type': 'application/octet-stream' } })
}

/** Reads a download link. */
export async function getLink(chime: TestChime, url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(reachable(chime, url), { headers })
}

/** Uploads `bytes` for a channel and completes the upload; answers the file. Throws on any refusal. */
export async function uploadFile(chime: TestChime, user: TestUser, channelId: string, bytes: Buffer, name = 'file.bin', mimeType = 'application/octet-stream'): Promise<FileJson> {
  const start = await fileAction<UploadFileResponseData>(chime, user, '/api/files/upload/', 'UPLOAD_FILE', { channel_id: channelId, name, size: bytes.length, sha256: sha256(bytes), mime_type: mimeType })
  if (start.status !== 200) throw new Error(`UPLOAD_FILE answered ${start.status} ${JSON.stringify(start.body)}`)
  const links = start.body.data
  if (links.upload_url !== null) {
    const res = await putBytes(chime, links.upload_url, bytes)
    if (!res.ok) throw new Error(`the upload PUT answered ${res.status} ${await res.text()}`)
  } else {
    for (const part of links.parts ?? []) {
      const from = (part.part_number - 1) * links.part_size!
      const res = await putBytes(chime, part.upload_url, bytes.subarray(from, from + part.size))
      if (!res.ok) throw new Error(`the PUT of part ${part.part_number} answered ${res.status} ${await res.text()}`)
    }
  }
  const done = await fileAction<CompleteUploadResponseData>(chime, user, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: links.file_id })
  if (done.status !== 200) throw new Error(`COMPLETE_UPLOAD answered ${done.status} ${JSON.stringify(done.body)}`)
  return done.body.data.file
}
