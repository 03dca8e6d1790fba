// Object storage: sealed history partitions (and, with the file service, uploads) live here,
// never in the database. Two implementations behind one interface: a directory under
// CHIME_DATA_DIR whose links the API itself signs and serves (embedded profile), and any S3
// endpoint (MinIO in production) through the minio client, whose links are presigned.
// One conformance suite (test/storage/object-store.test.ts) runs against both.
import type { Readable } from 'node:stream'

export interface ObjectInfo {
  key: string
  size: number
  contentType: string
  /** Hex SHA-256 of the bytes, when it was given at put. */
  sha256: string | null
  lastModified: Date
}

export interface PutOptions {
  contentType: string
  /** Hex SHA-256 of the bytes; stored with the object and checked (a mismatch is CHECKSUM_MISMATCH and stores nothing). */
  sha256?: string
}

export interface ByteRange {
  start: number
  /** Inclusive; omitted: to the end. */
  end?: number
}

export interface DownloadLinkOptions {
  expiresInSeconds: number
  /** Offered as the file name (Content-Disposition). */
  filename?: string
  /** false (the default): served as an attachment, never rendered inline. */
  inline?: boolean
}

export interface UploadLinkOptions {
  expiresInSeconds: number
  contentType?: string
  /** Largest body the link takes (local store; S3 presigned PUTs cannot carry a limit, so check head() after). */
  maxBytes?: number
}

export interface ObjectStore {
  readonly kind: 'local' | 's3'
  /** Stores an object (replacing any with that key). */
  put(key: string, body: Buffer | Readable, opts: PutOptions): Promise<void>
  /** The object's bytes, or one range of them; null when there is no such object. */
  get(key: string, range?: ByteRange): Promise<Readable | null>
  head(key: string): Promise<ObjectInfo | null>
  /** Removes the objects; keys that do not exist are not an error. */
  delete(keys: readonly string[]): Promise<void>
  /** A link anyone holding it may GET until it expires (Range requests work). */
  downloadUrl(key: string, opts: DownloadLinkOptions): Promise<string>
  /** A link anyone holding it may PUT the object's bytes to until it expires. */
  uploadUrl(key: string, opts: UploadLinkOptions): Promise<string>
  close(): Promise<void>
}

/** Keys are paths of safe segments: letters, digits, `_`, `-`, `.`; no empty, `.` or `..` segment. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/

export function isValidObjectKey(key: string): boolean {
  if (key.length === 0 || key.length > 512) return false
  return key.split('/').every((s) => SEGMENT.test(s) && s !== '.' && s !== '..')
}
