// Inspects a file already in object storage (inspect.ts) and stores its thumbnail beside it.
// At most MAX_CONCURRENT inspections run at once in a process: an image is decoded in memory
// (the file plus its pixels), so a burst of completed uploads must not multiply that.
import type { ObjectStore } from '../storage/object-store.ts'
import { inspectFile, readFirstBytes, SNIFF_BYTES } from './inspect.ts'

const MAX_CONCURRENT = 2

export interface StoredFileFacts {
  mime: string
  inline: boolean
  width?: number
  height?: number
  /** Set when a thumbnail was stored at the given key. */
  thumbnail?: { width: number; height: number }
}

let running = 0
const waiting: (() => void)[] = []

async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve))
  running++
  try {
    return await fn()
  } finally {
    running--
    waiting.shift()?.()
  }
}

export function inspectStoredFile(objects: ObjectStore, key: string, thumbKey: string, declared: { name?: string; mime?: string } = {}): Promise<StoredFileFacts> {
  return withSlot(async () => {
    const info = await objects.head(key)
    const first = await objects.get(key, { start: 0, end: SNIFF_BYTES - 1 })
    const head = first === null ? Buffer.alloc(0) : await readFirstBytes(first, SNIFF_BYTES)
    const seen = await inspectFile(
      { head, ...(info === null ? {} : { size: info.size }), open: () => objects.get(key) },
      { ...(declared.name === undefined ? {} : { declaredName: declared.name }), ...(declared.mime === undefined ? {} : { declaredMime: declared.mime }) },
    )
    const facts: StoredFileFacts = { mime: seen.mime, inline: seen.inline }
    if (seen.width !== undefined) facts.width = seen.width
    if (seen.height !== undefined) facts.height = seen.height
    if (seen.thumbnail !== undefined) {
      await objects.put(thumbKey, seen.thumbnail.bytes, { contentType: seen.thumbnail.mime })
      facts.thumbnail = { width: seen.thumbnail.width, height: seen.thumbnail.height }
    }
    return facts
  })
}
