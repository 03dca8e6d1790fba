// Bounded reads from an object-store stream: the first bytes a type sniff needs, or a whole
// file with a ceiling on its size, so that a file bigger than it claims never fills memory.
import type { Readable } from 'node:stream'

/** Raised by readAllBytes when the stream holds more than maxBytes. */
export class ByteLimitExceededError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the stream holds more than ${maxBytes} bytes`)
    this.name = 'ByteLimitExceededError'
  }
}

/**
 * At most `limit` bytes from the start of the stream (fewer when it ends first). The stream is
 * destroyed as soon as enough has arrived, so the rest is never transferred.
 */
export async function readFirstBytes(stream: Readable, limit: number): Promise<Buffer> {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError('limit must be a whole number of bytes')
  const chunks: Buffer[] = []
  let total = 0
  if (limit > 0) {
    // Leaving a for-await loop early destroys the stream.
    for await (const chunk of stream) {
      const bytes = toBuffer(chunk)
      const wanted = Math.min(bytes.length, limit - total)
      chunks.push(bytes.subarray(0, wanted))
      total += wanted
      if (total >= limit) break
    }
  }
  if (!stream.destroyed) stream.destroy()
  return Buffer.concat(chunks, total)
}

export interface ReadAllOptions {
  maxBytes: number
  /** The size the store reports: the buffer is allocated once instead of gathered and copied. */
  expectedSize?: number
}

/**
 * The stream's whole content. More than maxBytes: the stream is destroyed and
 * ByteLimitExceededError thrown; an error of the stream itself is thrown as it is.
 */
export async function readAllBytes(stream: Readable, opts: ReadAllOptions): Promise<Buffer> {
  const { maxBytes, expectedSize } = opts
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError('maxBytes must be a whole number of bytes')
  const preallocated = expectedSize !== undefined && Number.isSafeInteger(expectedSize) && expectedSize >= 0 && expectedSize <= maxBytes
    ? Buffer.allocUnsafe(expectedSize)
    : null
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream) {
    const bytes = toBuffer(chunk)
    if (total + bytes.length > maxBytes) {
      stream.destroy()
      throw new ByteLimitExceededError(maxBytes)
    }
    if (preallocated !== null && total + bytes.length <= preallocated.length) bytes.copy(preallocated, total)
    else chunks.push(bytes)
    total += bytes.length
  }
  if (preallocated === null) return Buffer.concat(chunks, total)
  // The size was right: one buffer, no copy. It was wrong: fall back to gathering.
  if (chunks.length === 0) return preallocated.subarray(0, total)
  const copied = total - chunks.reduce((n, c) => n + c.length, 0)
  return Buffer.concat([preallocated.subarray(0, copied), ...chunks], total)
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (typeof chunk === 'string') return Buffer.from(chunk)
  throw new TypeError('expected a byte stream')
}
