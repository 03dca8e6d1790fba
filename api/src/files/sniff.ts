// What an uploaded file really is, from its first bytes: the client's name and Content-Type
// are never trusted for this. Binary formats are recognised by file-type's signatures; anything
// else is UTF-8 text or opaque bytes. Markup (HTML, SVG without an XML prolog, scripts) is not
// told apart from other text on purpose: it comes out as text/plain, a type no browser runs.
import { fileTypeFromBuffer } from 'file-type'

/** How many leading bytes a sniff looks at (what file-type needs for every signature it knows). */
export const SNIFF_BYTES = 4100

export interface SniffedType {
  /** The media type without parameters, lower case: image/png, text/plain, ... */
  mime: string
  /** The usual file name extension for it, without the dot. */
  ext: string
  /** The Content-Type to store and serve: mime plus parameters (charset for text, codecs). */
  contentType: string
}

export interface SniffOptions {
  /**
   * The bytes are the whole file. When they are only its start, a multi-byte UTF-8 character
   * cut at the end does not make it binary. Default: fewer than SNIFF_BYTES bytes were given.
   */
  complete?: boolean
}

export const OCTET_STREAM: SniffedType = Object.freeze({ mime: 'application/octet-stream', ext: 'bin', contentType: 'application/octet-stream' })
const PLAIN_TEXT: SniffedType = Object.freeze({ mime: 'text/plain', ext: 'txt', contentType: 'text/plain; charset=utf-8' })

/**
 * The file's type from its first bytes (more than SNIFF_BYTES are ignored). Never fails: an
 * empty file, or bytes no signature matches and that are not UTF-8 text, are
 * application/octet-stream.
 */
export async function sniffType(head: Uint8Array, opts: SniffOptions = {}): Promise<SniffedType> {
  const complete = opts.complete ?? head.length < SNIFF_BYTES
  const bytes = head.subarray(0, SNIFF_BYTES)
  if (bytes.length === 0) return OCTET_STREAM
  const detected = await detectBinary(bytes)
  if (detected !== null) return detected
  return isUtf8Text(bytes, complete && head.length <= SNIFF_BYTES) ? PLAIN_TEXT : OCTET_STREAM
}

async function detectBinary(bytes: Uint8Array): Promise<SniffedType | null> {
  let found: { mime: string; ext: string } | undefined
  try {
    found = await fileTypeFromBuffer(bytes)
  } catch {
    // A parser tripping over a malformed container means no signature matched cleanly.
    return null
  }
  if (found === undefined) return null
  const contentType = found.mime.toLowerCase()
  return { mime: mediaTypeEssence(contentType), ext: found.ext, contentType }
}

/** "Audio/Ogg; codecs=opus" -> "audio/ogg". */
export function mediaTypeEssence(value: string): string {
  return (value.split(';', 1)[0] ?? '').trim().toLowerCase()
}

/**
 * Valid UTF-8 without the bytes the WHATWG sniffing rules call binary (NUL and the other C0
 * controls except tab, line feed, form feed, carriage return and escape).
 */
function isUtf8Text(bytes: Uint8Array, complete: boolean): boolean {
  for (const b of bytes) {
    if (b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) return false
  }
  try {
    // stream: true keeps back a character cut at the end instead of calling it invalid.
    new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes, { stream: !complete })
    return true
  } catch {
    return false
  }
}
