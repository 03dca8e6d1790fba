// The S3 object store (MinIO in production, any S3 endpoint) through the minio client. Links
// are presigned by the client; the endpoint serves them (ranges included) without Chime.
//
// Uploads: a body that fits in one part is one PutObject; a larger one is a multipart upload
// of fixed-size parts driven here rather than by minio's putObject, which would buffer a
// stream of unknown length into a single huge part and resume any other writer's unfinished
// upload of the same key. The SHA-256, when given, is checked before the last byte is
// committed: a mismatch aborts the upload and leaves the key as it was.
//
// Multipart uploads by link: the client PUTs each part to a presigned UploadPart URL; the
// parts named at completion are first checked against ListParts (matchParts in
// object-input.ts), so that both stores refuse the same lists with the same codes, and the
// endpoint's own refusals are translated to the same codes.
import { createHash } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { Readable } from 'node:stream'
import { Client } from 'minio'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { ByteRange, CompletedPart, DownloadLinkOptions, MultipartUploadOptions, ObjectInfo, ObjectStore, PartLinkOptions, PutOptions, UploadedPart, UploadLinkOptions } from './object-store.ts'
import {
  checkCompletedParts,
  checkFilename,
  checkLinkContentType,
  checkKey,
  checkKeys,
  checkLifetime,
  checkMaxBytes,
  checkPartNumber,
  checkPutOptions,
  checkRange,
  checkUploadId,
  contentDisposition,
  isValidContentType,
  matchParts,
} from './object-input.ts'

export interface S3StoreOptions {
  /** http(s)://host:port of the S3 endpoint; links point at it, so clients must reach it too. */
  endpoint: string
  accessKey: string
  secretKey: string
  bucket: string
  region: string
  /** Bytes per part of a multipart upload (5 to 64 MiB; default 16 MiB). Memory per upload is about one part. */
  partSize?: number
}

const MIB = 1024 * 1024
const DEFAULT_CONTENT_TYPE = 'application/octet-stream'
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined
}

function isMissing(err: unknown): boolean {
  const code = codeOf(err)
  return code === 'NoSuchKey' || code === 'NotFound'
}

/** Network failures are UNAVAILABLE (retry later); anything else passes through as it is. */
function translate(err: unknown): unknown {
  if (err instanceof ChatError) return err
  const code = codeOf(err)
  if (code === 'InvalidRange') return new ChatError('RANGE_NOT_SATISFIABLE')
  if (code !== undefined && NETWORK_ERRORS.has(code)) return new ChatError('UNAVAILABLE', `object storage did not answer (${code})`)
  return err
}

/** An upload's refusals in the codes the local store uses; anything else as translate() does. */
function translateUpload(err: unknown, uploadId: string): unknown {
  switch (codeOf(err)) {
    case 'NoSuchUpload':
      return new ChatError('NOT_FOUND', 'No such upload: it was completed or aborted, or never made.', { uploadId })
    case 'InvalidPart':
      return new ChatError('UPLOAD_INCOMPLETE', 'a part named has not arrived or has another etag')
    case 'InvalidPartOrder':
    case 'EntityTooSmall':
      return new ChatError('INVALID_FIELD', `the parts were refused (${codeOf(err)})`, { field: 'parts' })
    default:
      return translate(err)
  }
}

/** minio keeps ListParts, which resuming needs, protected. */
class MinioClient extends Client {
  uploadedParts(bucket: string, key: string, uploadId: string): Promise<{ part: number; etag: string; size: number }[]> {
    return this.listParts(bucket, key, uploadId)
  }
}

/** The body in parts of exactly `size` bytes (the last one shorter). */
async function* partsOf(body: Buffer | Readable, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let at = 0; at < body.length; at += size) yield body.subarray(at, at + size)
    return
  }
  let pending: Buffer[] = []
  let length = 0
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    pending.push(bytes)
    length += bytes.length
    while (length >= size) {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, length)
      yield all.subarray(0, size)
      const rest = all.subarray(size)
      pending = rest.length > 0 ? [rest] : []
      length = rest.length
    }
  }
  if (length > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, length)
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const
  readonly bucket: string
  readonly #client: MinioClient
  readonly #agent: http.Agent
  readonly #partSize: number

  private constructor(opts: S3StoreOptions) {
    let url: URL
    try {
      url = new URL(opts.endpoint)
    } catch {
      throw new Error(`the S3 endpoint ${JSON.stringify(opts.endpoint)} is not a URL`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('the S3 endpoint must be an http:// or https:// URL')
    if (url.pathname !== '/' || url.search !== '' || url.username !== '') throw new Error('the S3 endpoint is scheme://host:port only (no path, query or credentials)')
    const secure = url.protocol === 'https:'
    this.#agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true })
    this.#partSize = Math.min(64 * MIB, Math.max(5 * MIB, opts.partSize ?? 16 * MIB))
    this.bucket = opts.bucket
    this.#client = new MinioClient({
      endPoint: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      useSSL: secure,
      accessKey: opts.accessKey,
      secretKey: opts.secretKey,
      region: opts.region,
      // Bucket in the path: MinIO and most self-hosted endpoints have no per-bucket host names.
      pathStyle: true,
      transportAgent: this.#agent,
    })
  }

  /** Connects and creates the bucket when it is missing. */
  static async open(opts: S3StoreOptions): Promise<S3ObjectStore> {
    const store = new S3ObjectStore(opts)
    try {
      if (!(await store.#client.bucketExists(opts.bucket))) {
        try {
          await store.#client.makeBucket(opts.bucket, opts.region)
        } catch (err) {
          // Another process created it meanwhile.
          const code = codeOf(err)
          if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err
        }
      }
    } catch (err) {
      store.#agent.destroy()
      throw translate(err)
    }
    return store
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions): Promise<void> {
    checkKey(key)
    const { contentType, sha256 } = checkPutOptions(opts)
    const headers: Record<string, string> = { 'Content-Type': contentType }
    if (sha256 !== null) headers['X-Amz-Meta-Sha256'] = sha256
    const hash = createHash('sha256')
    const check = (): void => {
      if (sha256 === null) return
      const actual = hash.digest('hex')
      if (actual !== sha256) throw new ChatError('CHECKSUM_MISMATCH', undefined, { expected: sha256, actual })
    }
    const parts = partsOf(body, this.#partSize)
    try {
      const first = await parts.next()
      const second = first.done === true ? first : await parts.next()
      if (second.done === true) {
        const bytes = first.done === true ? Buffer.alloc(0) : first.value
        hash.update(bytes)
        check()
        await this.#client.putObject(this.bucket, key, bytes, bytes.length, headers)
        return
      }
      const uploadId = await this.#client.initiateNewMultipartUpload(this.bucket, key, headers)
      try {
        const etags: { part: number; etag: string }[] = []
        let part = 0
        const send = async (bytes: Buffer): Promise<void> => {
          part++
          hash.update(bytes)
          const md5 = createHash('md5').update(bytes).digest('base64')
          const done = await this.#client.uploadPart({ bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: { 'Content-Length': String(bytes.length), 'Content-MD5': md5 } }, bytes)
          etags.push({ part, etag: done.etag })
        }
        await send(first.value!)
        await send(second.value)
        for await (const bytes of parts) await send(bytes)
        check()
        await this.#client.completeMultipartUpload(this.bucket, key, uploadId, etags)
      } catch (err) {
        await this.#client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined)
        throw err
      }
    } catch (err) {
      await parts.return(undefined)
      if (!Buffer.isBuffer(body) && !body.destroyed) body.destroy()
      throw translate(err)
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    checkKey(key)
    checkRange(range)
    try {
      if (range === undefined || (range.start === 0 && range.end === undefined)) return await this.#client.getObject(this.bucket, key)
      return await this.#client.getPartialObject(this.bucket, key, range.start, range.end === undefined ? undefined : range.end - range.start + 1)
    } catch (err) {
      if (isMissing(err)) return null
      if (codeOf(err) === 'InvalidRange') {
        const info = await this.head(key)
        if (info === null) return null
        throw new ChatError('RANGE_NOT_SATISFIABLE', undefined, { size: info.size })
      }
      throw translate(err)
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    checkKey(key)
    try {
      const stat = await this.#client.statObject(this.bucket, key)
      const meta = stat.metaData as Record<string, unknown>
      const contentType = meta['content-type']
      const sha256 = meta['sha256']
      return {
        key,
        size: stat.size,
        contentType: isValidContentType(contentType) ? contentType : DEFAULT_CONTENT_TYPE,
        sha256: typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : null,
        lastModified: stat.lastModified,
      }
    } catch (err) {
      if (isMissing(err)) return null
      throw translate(err)
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const valid = [...new Set(checkKeys(keys))]
    if (valid.length === 0) return
    let results
    try {
      results = await this.#client.removeObjects(this.bucket, valid)
    } catch (err) {
      throw translate(err)
    }
    const failed = results.filter((r) => r?.Error !== undefined && r.Error.Code !== 'NoSuchKey')
    if (failed.length > 0) throw new Error(`object storage refused to delete ${failed.map((r) => `${r?.Error?.Key ?? '?'} (${r?.Error?.Code ?? '?'})`).join(', ')}`)
  }

  async downloadUrl(key: string, opts: DownloadLinkOptions): Promise<string> {
    checkKey(key)
    const expires = checkLifetime(opts.expiresInSeconds)
    const filename = checkFilename(opts.filename)
    const contentType = checkLinkContentType(opts.contentType)
    const params: Record<string, string> = { 'response-content-disposition': contentDisposition(opts.inline === true, filename) }
    if (contentType !== undefined) params['response-content-type'] = contentType
    try {
      return await this.#client.presignedGetObject(this.bucket, key, expires, params)
    } catch (err) {
      throw translate(err)
    }
  }

  /** contentType and maxBytes cannot be bound into a presigned PUT: the uploader's Content-Type is kept, and callers check the size with head(). */
  async uploadUrl(key: string, opts: UploadLinkOptions): Promise<string> {
    checkKey(key)
    const expires = checkLifetime(opts.expiresInSeconds)
    if (opts.contentType !== undefined && !isValidContentType(opts.contentType)) throw new ChatError('INVALID_FIELD', 'contentType must be a media type like text/plain', { field: 'contentType' })
    checkMaxBytes(opts.maxBytes)
    try {
      return await this.#client.presignedPutObject(this.bucket, key, expires)
    } catch (err) {
      throw translate(err)
    }
  }

  async createMultipartUpload(key: string, opts: MultipartUploadOptions): Promise<string> {
    checkKey(key)
    if (!isValidContentType(opts?.contentType)) throw new ChatError('INVALID_FIELD', 'contentType must be a media type like text/plain', { field: 'contentType' })
    try {
      return await this.#client.initiateNewMultipartUpload(this.bucket, key, { 'Content-Type': opts.contentType })
    } catch (err) {
      throw translate(err)
    }
  }

  /** maxBytes cannot be bound into a presigned PUT: check the sizes listParts() reports before completing. */
  async partUploadUrl(key: string, uploadId: string, partNumber: number, opts: PartLinkOptions): Promise<string> {
    checkKey(key)
    checkUploadId(uploadId)
    checkPartNumber(partNumber)
    const expires = checkLifetime(opts.expiresInSeconds)
    checkMaxBytes(opts.maxBytes)
    try {
      return await this.#client.presignedUrl('PUT', this.bucket, key, expires, { partNumber: String(partNumber), uploadId })
    } catch (err) {
      throw translate(err)
    }
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    checkKey(key)
    checkUploadId(uploadId)
    try {
      const parts = await this.#client.uploadedParts(this.bucket, key, uploadId)
      return parts.map((p) => ({ partNumber: p.part, etag: p.etag.replace(/"/g, ''), size: p.size })).sort((a, b) => a.partNumber - b.partNumber)
    } catch (err) {
      throw translateUpload(err, uploadId)
    }
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    checkKey(key)
    checkUploadId(uploadId)
    const named = checkCompletedParts(parts)
    const chosen = matchParts(named, await this.listParts(key, uploadId))
    try {
      await this.#client.completeMultipartUpload(this.bucket, key, uploadId, chosen.map((p) => ({ part: p.partNumber, etag: p.etag })))
    } catch (err) {
      throw translateUpload(err, uploadId)
    }
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    checkKey(key)
    checkUploadId(uploadId)
    try {
      await this.#client.abortMultipartUpload(this.bucket, key, uploadId)
    } catch (err) {
      if (codeOf(err) === 'NoSuchUpload') return
      throw translate(err)
    }
  }

  async close(): Promise<void> {
    this.#agent.destroy()
  }
}
