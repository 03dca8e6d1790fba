// Dimensions and a thumbnail for the raster formats browsers show, decoded with sharp under a
// pixel ceiling (decompression bombs) and a time limit. sharp never sees bytes that the sniff
// did not call one of these formats: SVG, PDF and the rest of libvips' loaders stay unused.
import sharp, { type Metadata } from 'sharp'

/** Sniffed type -> the format sharp must report for the same bytes. */
const DECODABLE = new Map<string, { format: string; compression?: string }>([
  ['image/png', { format: 'png' }],
  ['image/apng', { format: 'png' }],
  ['image/jpeg', { format: 'jpeg' }],
  ['image/gif', { format: 'gif' }],
  ['image/webp', { format: 'webp' }],
  ['image/avif', { format: 'heif', compression: 'av1' }],
])

export function isDecodableImage(mime: string): boolean {
  return DECODABLE.has(mime)
}

export type ThumbnailMime = 'image/webp' | 'image/jpeg'

export interface Thumbnail {
  bytes: Buffer
  mime: ThumbnailMime
  width: number
  height: number
}

export interface ImageLimits {
  /** Largest width x height x frames decoded; above it the image gets no dimensions or thumbnail. */
  maxInputPixels: number
  /** The thumbnail fits in a square of this side. */
  thumbnailSize: number
  thumbnailMime: ThumbnailMime
  /** A decode that takes longer is abandoned. */
  timeoutSeconds: number
}

export type ImageVerdict =
  | { ok: true; width: number; height: number; thumbnail: Thumbnail }
  | { ok: false; issue: 'too-many-pixels' | 'undecodable' }

/**
 * Reads only the header of a file's first bytes: too many pixels is known before the whole
 * file is fetched. null when the header does not fit in them (a JPEG with a large EXIF block)
 * or cannot be read: the full decode decides then.
 */
export async function headerSaysTooManyPixels(mime: string, head: Buffer, maxInputPixels: number): Promise<boolean | null> {
  const expected = DECODABLE.get(mime)
  if (expected === undefined) return null
  try {
    const meta = await sharp(head, { failOn: 'none' }).metadata()
    if (meta.format !== expected.format) return null
    return pixelCount(meta) > maxInputPixels
  } catch {
    return null
  }
}

/**
 * Decodes `bytes` (sniffed as `mime`) and makes the thumbnail: auto-oriented by EXIF, fitted
 * inside thumbnailSize x thumbnailSize without enlargement, metadata stripped (sharp's default).
 * Width and height are as displayed, after the EXIF orientation. Never throws for bad bytes.
 */
export async function decodeImage(mime: string, bytes: Buffer, limits: ImageLimits): Promise<ImageVerdict> {
  const expected = DECODABLE.get(mime)
  if (expected === undefined) return { ok: false, issue: 'undecodable' }
  try {
    // failOn 'error': a photo with a harmless warning (bytes after the end marker) still gets
    // its thumbnail; data that cannot be decoded does not.
    const image = sharp(bytes, { limitInputPixels: limits.maxInputPixels, failOn: 'error', animated: false, sequentialRead: true })
    const meta = await image.metadata()
    if (meta.format !== expected.format || (expected.compression !== undefined && meta.compression !== expected.compression)) {
      return { ok: false, issue: 'undecodable' }
    }
    if (pixelCount(meta) > limits.maxInputPixels) return { ok: false, issue: 'too-many-pixels' }
    const side = limits.thumbnailSize
    let pipeline = image.autoOrient().resize(side, side, { fit: 'inside', withoutEnlargement: true })
    pipeline = limits.thumbnailMime === 'image/webp'
      ? pipeline.webp({ quality: 80 })
      : pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: 80, mozjpeg: true })
    const { data, info } = await pipeline.timeout({ seconds: limits.timeoutSeconds }).toBuffer({ resolveWithObject: true })
    return {
      ok: true,
      width: meta.autoOrient.width,
      height: meta.autoOrient.height,
      thumbnail: { bytes: data, mime: limits.thumbnailMime, width: info.width, height: info.height },
    }
  } catch (err) {
    if (err instanceof Error && /pixel limit/i.test(err.message)) return { ok: false, issue: 'too-many-pixels' }
    return { ok: false, issue: 'undecodable' }
  }
}

/** Every frame counts: a browser showing an animated image inline decodes them all. */
function pixelCount(meta: Metadata): number {
  return (meta.width ?? 0) * (meta.height ?? 0) * Math.max(1, meta.pages ?? 1)
}
