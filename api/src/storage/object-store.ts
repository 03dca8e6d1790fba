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
  /** Served with this Content-Type instead of the one stored (what the uploader sent is not trusted). */
  contentType?: string
}

export interface UploadLinkOptions {
  expiresInSeconds: number
  contentType?: string
  /** Largest body the link takes (local store; S3 presigned PUTs cannot carry a limit, so check head() after). */
  maxBytes?: number
}

export interface MultipartUploadOptions {
  /** The content type the assembled object is stored with. */
  contentType: string
}

export interface PartLinkOptions {
  expiresInSeconds: number
  /** Largest part the link takes (local store; S3 presigned PUTs cannot carry a limit, so check listParts() sizes before completing). */
  maxBytes?: number
}

/** A part that has arrived. */
export interface UploadedPart {
  partNumber: number
  /** The ETag the part's PUT answered with, without quotes (hex MD5 of its bytes on the local store; opaque on S3). */
  etag: string
  size: number
}

/** A part to assemble: its number and the ETag its PUT answered with (quotes allowed). */
export interface CompletedPart {
  partNumber: number
  etag: string
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

  // Resumable uploads by link, as in S3: create an upload, hand out one PUT link per part
  // (numbers 1 to 10000; every part but the last at least 5 MiB, checked on completion), let
  // the client PUT the parts in any order and send again any that did not arrive (listParts
  // says which did), then complete. The object appears at its key only on completion, made
  // of exactly the parts named, in ascending order. An upload never completed must be
  // aborted, or its parts stay (on S3 until a lifecycle rule removes them).

  /** Starts an upload to `key`; the answer is its upload id. */
  createMultipartUpload(key: string, opts: MultipartUploadOptions): Promise<string>
  /** A link the client PUTs one part's bytes to until it expires; the PUT answers with the part's `etag` header. A part sent again replaces the earlier one. */
  partUploadUrl(key: string, uploadId: string, partNumber: number, opts: PartLinkOptions): Promise<string>
  /** The parts that have arrived, by number; NOT_FOUND for an upload that is not open (never made, completed or aborted). */
  listParts(key: string, uploadId: string): Promise<UploadedPart[]>
  /**
   * Assembles the parts named, in ascending order, into the object at `key` and ends the
   * upload. A part that has not arrived, or arrived with another ETag, is UPLOAD_INCOMPLETE;
   * a malformed list, or a part under 5 MiB that is not the last, INVALID_FIELD; both leave
   * the upload open and the key untouched. NOT_FOUND for an upload that is not open.
   */
  completeMultipartUpload(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void>
  /** Ends the upload and removes its parts; an upload that is not open is not an error. */
  abortMultipartUpload(key: string, uploadId: string): Promise<void>

  close(): Promise<void>
}

/** Keys are paths of safe segments: letters, digits, `_`, `-`, `.`; no empty, `.` or `..` segment. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/

export function isValidObjectKey(key: string): boolean {
  if (key.length === 0 || key.length > 512) return false
  return key.split('/').every((s) => SEGMENT.test(s) && s !== '.' && s !== '..')
}
