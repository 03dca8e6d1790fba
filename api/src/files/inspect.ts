// What the file service learns from an uploaded file's bytes: its real type, whether it may be
// shown inline, and for images their dimensions and a thumbnail. The uploader's name and
// Content-Type never widen any of this; they only name a text file's flavour (CSV, Markdown).
//
// Typical use with the object store:
//   const head = await readFirstBytes((await store.get(key, { start: 0, end: SNIFF_BYTES - 1 }))!, SNIFF_BYTES)
//   const info = await inspectFile({ head, size: (await store.head(key))!.size, open: () => store.get(key) },
//                                  { declaredName, declaredMime })
//
// Images are fetched whole into one buffer rather than piped into sharp: sharp gathers stream
// input into memory before it decodes anyway (its writable side only collects chunks), and
// reading it here bounds the bytes (maxImageBytes), lets the bytes sharp gets be sniffed again,
// and keeps a failing store apart from a bad image. Peak memory per inspection is about the
// file plus the decoded pixels (below maxInputPixels x 4 bytes), so callers bound how many run
// at once. Video and audio are sniffed only: without a video decoder here they get no poster
// frame or duration.
import type { Readable } from 'node:stream'
import { decodeImage, headerSaysTooManyPixels, isDecodableImage, type Thumbnail, type ThumbnailMime } from './image.ts'
import { ByteLimitExceededError, readAllBytes } from './read-bytes.ts'
import { mediaTypeEssence, SNIFF_BYTES, sniffType, type SniffedType } from './sniff.ts'

export { readFirstBytes, readAllBytes, ByteLimitExceededError } from './read-bytes.ts'
export { SNIFF_BYTES, sniffType, type SniffedType } from './sniff.ts'
export type { Thumbnail, ThumbnailMime } from './image.ts'

/**
 * Types a download link may serve with Content-Disposition: inline. Raster images (only once
 * they decoded within the limits) and audio/video that every current browser plays; all of
 * them render in an <img>, <video> or <audio> element or the browser's own viewer, where
 * nothing in the file can run script.
 *
 * Left out on purpose:
 * - SVG, HTML, XML, PDF, JavaScript: they can run script or carry links and forms.
 * - text/plain: the local store serves downloads with X-Content-Type-Options: nosniff and a
 *   sandbox CSP, but an S3 presigned link can set neither, and an HTML page uploaded as text
 *   would then rest on every browser honouring text/plain. Clients that want a text preview
 *   fetch the bytes and render them as text themselves.
 * - TIFF, BMP, HEIC, QuickTime, Matroska, AVI: not shown by every browser.
 */
export const INLINE_TYPES: ReadonlySet<string> = new Set([
  'image/png',
  'image/apng',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'video/mp4',
  'video/webm',
  'audio/mpeg',
  'audio/ogg',
  'audio/wav',
  'audio/flac',
  'audio/mp4',
  'audio/x-m4a',
])

export const DEFAULT_MAX_INPUT_PIXELS = 50_000_000
export const DEFAULT_MAX_IMAGE_BYTES = 100 * 1024 * 1024
export const DEFAULT_THUMBNAIL_SIZE = 320
export const DEFAULT_DECODE_TIMEOUT_SECONDS = 30

export interface FileSource {
  /** The file's first bytes: at least SNIFF_BYTES of them, or the whole file when it is shorter. */
  head: Buffer
  /** The file's size in bytes, when the store told it. */
  size?: number
  /**
   * The whole file from its first byte. Called at most once, and only for an image that is to
   * be decoded and is not already whole in `head`. null: the object is gone (no thumbnail).
   * A store failure (a throw, or an error on the stream) is thrown on to the caller.
   */
  open: () => Promise<Readable | null> | Readable | null
}

export interface InspectOptions {
  /** The uploader's file name; only picks a text flavour (.csv, .tsv, .md). */
  declaredName?: string
  /** The uploader's Content-Type; only picks a text flavour (text/csv, text/tab-separated-values, text/markdown). */
  declaredMime?: string
  /** Images with more pixels (width x height x frames) are not decoded. Default 50 megapixels. */
  maxInputPixels?: number
  /** Images with more bytes are not decoded. Default 100 MiB. */
  maxImageBytes?: number
  /** The thumbnail fits in a square of this side. Default 320. */
  thumbnailSize?: number
  /** Default image/webp (small, keeps transparency); image/jpeg puts transparency on white. */
  thumbnailMime?: ThumbnailMime
  /** A decode that takes longer is abandoned (no thumbnail). Default 30. */
  decodeTimeoutSeconds?: number
}

/** Why an image got no dimensions or thumbnail. */
export type ImageIssue = 'too-many-pixels' | 'too-many-bytes' | 'undecodable' | 'missing'

export interface FileInspection {
  /** The sniffed media type without parameters. */
  mime: string
  /** The usual extension for it, without the dot. */
  ext: string
  /** The Content-Type to store and serve the file with. */
  contentType: string
  /** May be served with Content-Disposition: inline (see INLINE_TYPES). */
  inline: boolean
  /** Images that decoded: the size as displayed, after EXIF orientation. */
  width?: number
  height?: number
  thumbnail?: Thumbnail
  /** Set for a decodable image type that got no thumbnail, saying why. */
  imageIssue?: ImageIssue
}

/**
 * Inspects a file. Bad bytes never throw: a corrupt or oversized image is still a valid
 * download, just without dimensions or thumbnail and not inline.
 */
export async function inspectFile(source: FileSource, options: InspectOptions = {}): Promise<FileInspection> {
  const limits = resolveLimits(options)
  const complete = source.size !== undefined ? source.head.length >= source.size : source.head.length < SNIFF_BYTES
  const sniffed = refineText(await sniffType(source.head, { complete }), options)
  const base = { mime: sniffed.mime, ext: sniffed.ext, contentType: sniffed.contentType }

  if (!isDecodableImage(sniffed.mime)) return { ...base, inline: INLINE_TYPES.has(sniffed.mime) }

  const refused = (imageIssue: ImageIssue): FileInspection => ({ ...base, inline: false, imageIssue })
  if (source.size !== undefined && source.size > limits.maxImageBytes) return refused('too-many-bytes')
  if ((await headerSaysTooManyPixels(sniffed.mime, source.head, limits.maxInputPixels)) === true) return refused('too-many-pixels')

  let bytes: Buffer
  if (complete) {
    bytes = source.head
  } else {
    const stream = await source.open()
    if (stream === null) return refused('missing')
    try {
      bytes = await readAllBytes(stream, { maxBytes: limits.maxImageBytes, ...(source.size !== undefined ? { expectedSize: source.size } : {}) })
    } catch (err) {
      if (err instanceof ByteLimitExceededError) return refused('too-many-bytes')
      throw err
    }
    // The bytes sharp gets must be what was sniffed (the object may have been replaced since).
    const again = await sniffType(bytes.subarray(0, SNIFF_BYTES), { complete: bytes.length <= SNIFF_BYTES })
    if (again.mime !== sniffed.mime) return refused('undecodable')
  }

  const verdict = await decodeImage(sniffed.mime, bytes, limits)
  if (!verdict.ok) return refused(verdict.issue)
  return { ...base, inline: INLINE_TYPES.has(sniffed.mime), width: verdict.width, height: verdict.height, thumbnail: verdict.thumbnail }
}

function resolveLimits(options: InspectOptions) {
  const limits = {
    maxInputPixels: options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS,
    maxImageBytes: options.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES,
    thumbnailSize: options.thumbnailSize ?? DEFAULT_THUMBNAIL_SIZE,
    thumbnailMime: options.thumbnailMime ?? 'image/webp',
    timeoutSeconds: options.decodeTimeoutSeconds ?? DEFAULT_DECODE_TIMEOUT_SECONDS,
  }
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 1)) throw new RangeError(`${name} must be a whole number of at least 1`)
  }
  if (limits.thumbnailMime !== 'image/webp' && limits.thumbnailMime !== 'image/jpeg') throw new RangeError('thumbnailMime must be image/webp or image/jpeg')
  return limits
}

/** Text flavours the uploader may name: none of them is rendered as anything but text. */
const TEXT_FLAVOURS: ReadonlyArray<{ mime: string; exts: readonly string[] }> = [
  { mime: 'text/csv', exts: ['csv'] },
  { mime: 'text/tab-separated-values', exts: ['tsv'] },
  { mime: 'text/markdown', exts: ['md', 'markdown'] },
]

function refineText(sniffed: SniffedType, options: InspectOptions): SniffedType {
  if (sniffed.mime !== 'text/plain') return sniffed
  const declaredMime = options.declaredMime === undefined ? undefined : mediaTypeEssence(options.declaredMime)
  const declaredExt = options.declaredName?.match(/\.([A-Za-z0-9]+)$/)?.[1]?.toLowerCase()
  const flavour = TEXT_FLAVOURS.find((f) => f.mime === declaredMime) ?? TEXT_FLAVOURS.find((f) => declaredExt !== undefined && f.exts.includes(declaredExt))
  if (flavour === undefined) return sniffed
  return { mime: flavour.mime, ext: flavour.exts[0] ?? sniffed.ext, contentType: `${flavour.mime}; charset=utf-8` }
}
