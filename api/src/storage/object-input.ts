// Checks shared by both object stores, so that each refuses the same bad input with the same
// code before it touches anything, and both agree on what a range and a disposition mean.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { isValidObjectKey, type ByteRange, type PutOptions } from './object-store.ts'

/** S3 (and MinIO) refuse presigned links that live longer than 7 days; the local store keeps the same bound. */
export const MAX_LINK_SECONDS = 7 * 24 * 3600

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
