// Checks shared by both object stores, so that each refuses the same bad input with the same
// code before it touches anything, and both agree on what a range and a disposition mean.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { isValidObjectKey, type ByteRange, type CompletedPart, type PutOptions, type UploadedPart } from './object-store.ts'

/** S3 (and MinIO) refuse presigned links that live longer than 7 days; the local store keeps the same bound. */
export const MAX_LINK_SECONDS = 7 * 24 * 3600

/** S3's multipart rules, kept by both stores: part numbers 1 to 10000, every part but the last at least 5 MiB. */
export const MAX_PART_NUMBER = 10_000
export const MIN_PART_BYTES = 5 * 1024 * 1024

/** Upload ids (S3, MinIO and the local store's) are URL-safe; nothing else reaches a query string or a path. */
const UPLOAD_ID = /^[A-Za-z0-9._~-]{1,1024}$/

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const CONTENT_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:\\s*;\\s*${TOKEN}=(?:${TOKEN}|"[^"\\\\\\x00-\\x1f\\x7f]*"))*$`)
const SHA256 = /^[0-9a-fA-F]{64}$/

export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || !isValidObjectKey(key)) {
    throw new ChatError('INVALID_OBJECT_KEY', `object keys are paths of segments of letters, digits, _, - and . (not starting with .), at most 512 characters`, { key: typeof key === 'string' ? key.slice(0, 600) : null })
  }
  return key
}

export function checkKeys(keys: readonly unknown[]): string[] {
  if (!Array.isArray(keys)) throw new ChatError('INVALID_FIELD', 'keys must be a list', { field: 'keys' })
  return keys.map(checkKey)
}

export function isValidContentType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 255 && CONTENT_TYPE.test(value)
}

export function checkPutOptions(opts: PutOptions): { contentType: string; sha256: string | null } {
  if (!isValidContentType(opts?.contentType)) throw new ChatError('INVALID_FIELD', 'contentType must be a media type like text/plain', { field: 'contentType' })
  if (opts.sha256 !== undefined && (typeof opts.sha256 !== 'string' || !SHA256.test(opts.sha256))) {
    throw new ChatError('INVALID_FIELD', 'sha256 must be 64 hexadecimal digits', { field: 'sha256' })
  }
  return { contentType: opts.contentType, sha256: opts.sha256 === undefined ? null : opts.sha256.toLowerCase() }
}

export function checkLifetime(seconds: unknown): number {
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_LINK_SECONDS) {
    throw new ChatError('INVALID_FIELD', `expiresInSeconds must be a whole number from 1 to ${MAX_LINK_SECONDS}`, { field: 'expiresInSeconds' })
  }
  return seconds
}

/** A Content-Type a link is to serve, when given. */
export function checkLinkContentType(value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (!isValidContentType(value)) throw new ChatError('INVALID_FIELD', 'contentType must be a media type like text/plain', { field: 'contentType' })
  return value
}

export function checkFilename(name: unknown): string | undefined {
  if (name === undefined) return undefined
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || /[\x00-\x1f\x7f]/.test(name)) {
    throw new ChatError('INVALID_FIELD', 'filename must be 1 to 255 characters without control characters', { field: 'filename' })
  }
  return name
}

export function checkMaxBytes(value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ChatError('INVALID_FIELD', 'maxBytes must be a whole number of bytes', { field: 'maxBytes' })
  return value
}

/** Content-Disposition with an ASCII fallback name and the exact name in RFC 5987 form. */
export function contentDisposition(inline: boolean, filename: string | undefined): string {
  const type = inline ? 'inline' : 'attachment'
  if (filename === undefined) return type
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_')
  const exact = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `${type}; filename="${ascii}"; filename*=UTF-8''${exact}`
}

export function checkRange(range: ByteRange | undefined): ByteRange | undefined {
  if (range === undefined) return undefined
  const { start, end } = range
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new ChatError('INVALID_FIELD', 'a range is {start, end?} with 0 <= start <= end', { field: 'range' })
  }
  return range
}

/**
 * The inclusive byte span a range means for an object of `size` bytes (the end is clamped to
 * the last byte, as HTTP and S3 do); null for the whole object. A range from 0 with no end is
 * the whole object, even an empty one.
 */
export function resolveRange(range: ByteRange | undefined, size: number): { start: number; end: number } | null {
  if (range === undefined || (range.start === 0 && range.end === undefined)) return null
  if (range.start >= size) throw new ChatError('RANGE_NOT_SATISFIABLE', undefined, { size })
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) }
}

export function checkUploadId(id: unknown): string {
  if (typeof id !== 'string' || !UPLOAD_ID.test(id)) throw new ChatError('INVALID_FIELD', 'uploadId must be an upload id made by createMultipartUpload', { field: 'uploadId' })
  return id
}

export function checkPartNumber(n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER) {
    throw new ChatError('INVALID_FIELD', `partNumber must be a whole number from 1 to ${MAX_PART_NUMBER}`, { field: 'partNumber' })
  }
  return n
}

/** S3 ignores the double quotes around an ETag when it compares them; so do both stores. */
export function bareEtag(etag: string): string {
  return etag.replace(/"/g, '')
}

/** The parts to assemble: a non-empty list of {partNumber, etag}, numbers strictly ascending (as S3 requires). */
export function checkCompletedParts(parts: unknown): CompletedPart[] {
  const invalid = (why: string, partNumber?: unknown): ChatError =>
    new ChatError('INVALID_FIELD', `parts ${why}`, { field: 'parts', ...(typeof partNumber === 'number' ? { partNumber } : {}) })
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > MAX_PART_NUMBER) throw invalid(`must be a list of 1 to ${MAX_PART_NUMBER} {partNumber, etag}`)
  let previous = 0
  return parts.map((part: unknown) => {
    const p = (typeof part === 'object' && part !== null ? part : {}) as { partNumber?: unknown; etag?: unknown }
    const n = p.partNumber
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER) throw invalid(`must have part numbers from 1 to ${MAX_PART_NUMBER}`)
    if (n <= previous) throw invalid('must be in ascending order of part number, each once', n)
    previous = n
    if (typeof p.etag !== 'string' || p.etag.length > 1024 || /[\x00-\x1f\x7f]/.test(p.etag) || bareEtag(p.etag) === '') throw invalid('must each have the etag their PUT answered with', n)
    return { partNumber: n, etag: bareEtag(p.etag) }
  })
}

/**
 * The arrived parts that the parts named (checked by checkCompletedParts) stand for, in
 * order: UPLOAD_INCOMPLETE for one that has not arrived or whose ETag differs, INVALID_FIELD
 * for one under MIN_PART_BYTES that is not the last. Both stores check this before assembling
 * anything, so that they refuse alike whatever the S3 endpoint would have done.
 */
export function matchParts(named: readonly CompletedPart[], arrived: readonly UploadedPart[]): UploadedPart[] {
  const byNumber = new Map(arrived.map((p) => [p.partNumber, p]))
  return named.map((want, i) => {
    const got = byNumber.get(want.partNumber)
    if (got === undefined) throw new ChatError('UPLOAD_INCOMPLETE', `part ${want.partNumber} has not arrived`, { partNumber: want.partNumber })
    if (got.etag !== want.etag) throw new ChatError('UPLOAD_INCOMPLETE', `part ${want.partNumber} arrived with another etag`, { partNumber: want.partNumber, etag: got.etag })
    if (i < named.length - 1 && got.size < MIN_PART_BYTES) {
      throw new ChatError('INVALID_FIELD', `every part but the last must have at least ${MIN_PART_BYTES} bytes; part ${want.partNumber} has ${got.size}`, { field: 'parts', partNumber: want.partNumber })
    }
    return got
  })
}
