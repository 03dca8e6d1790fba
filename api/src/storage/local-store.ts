// The embedded object store: one file per object under a directory (CHIME_DATA_DIR/objects),
// its content type and SHA-256 in a small JSON sidecar beside it, links signed by the API
// itself and served by routes/objects.ts.
//
// Layout: the object `a/b/c` is the file `<dir>/a/b/c`, its sidecar `<dir>/a/b/.c.meta.json`,
// and writes go to `<dir>/a/b/.c.<random>.tmp` first. Key segments never start with `.`, so
// neither can collide with an object. A write is complete on disk (fsync) before it is renamed
// into place, so a crash leaves the old object or the new one, never a torn one.
//
// Multipart uploads are staged under `<dir>/.uploads/<upload id>/`: `upload.json` (the key
// and content type), and each part that has arrived as `<part number>.<hex MD5>` (its ETag
// in its name, so that bytes and ETag arrive in one rename), written as `.<n>.<random>.tmp`
// first. No key can name anything under `.uploads`. Completing streams the parts named into
// put(), then removes the directory; aborting removes it.
import { createHash, createHmac, randomBytes, timingSafeEqual, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { Readable } from 'node:stream'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import {
  isValidObjectKey,
  type ByteRange,
  type CompletedPart,
  type DownloadLinkOptions,
  type MultipartUploadOptions,
  type ObjectInfo,
  type ObjectStore,
  type PartLinkOptions,
  type PutOptions,
  type UploadedPart,
  type UploadLinkOptions,
} from './object-store.ts'
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
  isValidContentType,
  matchParts,
  MAX_PART_NUMBER,
  resolveRange,
} from './object-input.ts'

export interface LocalObjectStoreOptions {
  /** The directory that holds the objects (created when missing). */
  dir: string
  /** Key of the links' HMAC; every API process serving the same directory needs the same one. */
  secret: string | Buffer
  /** Base URL the API is reached at (CHIME_PUBLIC_URL); empty: links are relative paths. */
  publicUrl?: string
  /** Milliseconds since the epoch; tests move it to expire links without waiting. */
  now?: () => number
}

/** What a verified link allows. */
export interface LinkGrant {
  expires: number
  /** Download links: Content-Disposition inline instead of attachment. */
  inline: boolean
  filename?: string
  /** Upload links: the content type the object is stored with; download links: the one it is served as. */
  contentType?: string
  /** Upload links: the largest body taken. */
  maxBytes?: number
  /** Part links: the upload and the part the body is. */
  part?: { uploadId: string; partNumber: number }
}

/** An object opened for reading: its description and its bytes, from one open file. */
export interface OpenObject {
  info: ObjectInfo
  /** The bytes (an inclusive span, or all of them); closes the file when read or destroyed. */
  read(span: { start: number; end: number } | null): Readable
  /** Closes the file when read() is not called. */
  close(): Promise<void>
}

interface Sidecar {
  contentType: string
  sha256: string | null
  size: number
  /** Inode of the data file it describes, to tell a sidecar from a concurrent replace apart from its own. */
  ino: number
}

/** What upload.json of a multipart upload holds. */
interface UploadRecord {
  key: string
  contentType: string
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream'
const LINK_PATH = '/api/objects/'
/** The staging directory of multipart uploads, under the root; `.` keeps it out of every key's reach. */
const STAGING = '.uploads'
/** The local store's own upload ids; anything else names no upload here (and never a path). */
const LOCAL_UPLOAD_ID = /^[0-9a-f]{32}$/
/** A part that has arrived: `<part number>.<hex MD5>`. */
const PART_FILE = /^([1-9][0-9]{0,4})\.([0-9a-f]{32})$/

function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '')
}

function parseSidecar(text: string): Sidecar | null {
  try {
    const v = JSON.parse(text) as Partial<Sidecar>
    if (!isValidContentType(v.contentType) || typeof v.size !== 'number' || typeof v.ino !== 'number') return null
    if (v.sha256 !== null && (typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256))) return null
    return { contentType: v.contentType, sha256: v.sha256, size: v.size, ino: v.ino }
  } catch {
    return null
  }
}

function parseUploadRecord(text: string): UploadRecord | null {
  try {
    const v = JSON.parse(text) as Partial<UploadRecord>
    if (typeof v.key !== 'string' || !isValidObjectKey(v.key) || !isValidContentType(v.contentType)) return null
    return { key: v.key, contentType: v.contentType }
  } catch {
    return null
  }
}

function noSuchUpload(uploadId: string): ChatError {
  return new ChatError('NOT_FOUND', 'No such upload: it was completed or aborted, or never made.', { uploadId })
}

/** Writes the whole body to the file, feeding every hash; the number of bytes written. */
async function writeBody(fh: FileHandle, body: Buffer | Readable, hashes: readonly Hash[]): Promise<number> {
  if (Buffer.isBuffer(body)) {
    for (const h of hashes) h.update(body)
    await fh.writeFile(body)
    return body.length
  }
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    for (const h of hashes) h.update(bytes)
    size += bytes.length
    for (let at = 0; at < bytes.length; ) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten
  }
  return size
}

/** The files' bytes one after the other. */
async function* concatenated(files: readonly string[]): AsyncGenerator<Buffer> {
  for (const file of files) yield* createReadStream(file) as AsyncIterable<Buffer>
}

/** Makes a rename durable. A directory already gone was emptied by a later delete: nothing to keep. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle
  try {
    fh = await open(dir, 'r')
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return
    throw err
  }
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

export class LocalObjectStore implements ObjectStore {
  readonly kind = 'local' as const
  readonly root: string
  readonly #secret: Buffer
  readonly #base: string
  readonly #now: () => number
  /** Per-key chains: this process commits (renames) and deletes one key at a time. */
  readonly #locks = new Map<string, Promise<void>>()

  constructor(opts: LocalObjectStoreOptions) {
    this.root = resolve(opts.dir)
    this.#secret = Buffer.isBuffer(opts.secret) ? opts.secret : Buffer.from(opts.secret, 'utf8')
    if (this.#secret.length < 16) throw new Error('the object link secret must have at least 16 bytes')
    this.#base = (opts.publicUrl ?? '').replace(/\/+$/, '')
    this.#now = opts.now ?? Date.now
  }

  /** Creates the directory; call once before use. */
  async init(): Promise<this> {
    await mkdir(this.root, { recursive: true, mode: 0o700 })
    return this
  }

  #paths(key: string): { data: string; dir: string; name: string; sidecar: string } {
    const data = join(this.root, ...key.split('/'))
    // isValidObjectKey already rules out `..`; this guards the invariant anyway.
    if (!data.startsWith(this.root + sep)) throw new ChatError('INVALID_OBJECT_KEY')
    const dir = dirname(data)
    const name = basename(data)
    return { data, dir, name, sidecar: join(dir, `.${name}.meta.json`) }
  }

  async #locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(key) ?? Promise.resolve()
    const run = before.then(fn)
    const tail = run.then(
      () => undefined,
      () => undefined,
    )
    this.#locks.set(key, tail)
    try {
      return await run
    } finally {
      if (this.#locks.get(key) === tail) this.#locks.delete(key)
    }
  }

  /** Creates the directory and the temporary file; a concurrent delete may remove an empty directory in between, so retry. */
  async #createTemp(key: string, dir: string, file: string): Promise<FileHandle> {
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 })
        return await open(file, 'wx', 0o600)
      } catch (err) {
        if (isErrno(err, 'ENOTDIR', 'EEXIST')) {
          throw new ChatError('INVALID_OBJECT_KEY', `the local object store cannot hold ${key} beside an object that is one of its parent paths`, { key })
        }
        if (!isErrno(err, 'ENOENT') || attempt >= 5) throw err
      }
    }
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions): Promise<void> {
    checkKey(key)
    const { contentType, sha256 } = checkPutOptions(opts)
    if (!Buffer.isBuffer(body) && !(body instanceof Readable)) throw new ChatError('INVALID_FIELD', 'the body must be a Buffer or a Readable', { field: 'body' })
    const { data, dir, name, sidecar } = this.#paths(key)
    const stamp = randomBytes(8).toString('hex')
    const tmp = join(dir, `.${name}.${stamp}.tmp`)
    const sidecarTmp = join(dir, `.${name}.${stamp}.meta.tmp`)
    let fh: FileHandle | null = await this.#createTemp(key, dir, tmp)
    try {
      const hash = createHash('sha256')
      const size = await writeBody(fh, body, [hash])
      await fh.sync()
      const { ino } = await fh.stat()
      await fh.close()
      fh = null
      const actual = hash.digest('hex')
      if (sha256 !== null && actual !== sha256) throw new ChatError('CHECKSUM_MISMATCH', undefined, { expected: sha256, actual })
      const meta: Sidecar = { contentType, sha256, size, ino }
      const mf = await open(sidecarTmp, 'wx', 0o600)
      try {
        await mf.writeFile(JSON.stringify(meta))
        await mf.sync()
      } finally {
        await mf.close()
      }
      // The sidecar goes first: a new key appears only when its data does, with its sidecar
      // already in place; readers of a replaced key check the sidecar's inode and size.
      await this.#locked(key, async () => {
        await rename(sidecarTmp, sidecar)
        try {
          await rename(tmp, data)
        } catch (err) {
          await rm(sidecar, { force: true })
          if (isErrno(err, 'EISDIR', 'ENOTEMPTY', 'EEXIST')) {
            throw new ChatError('INVALID_OBJECT_KEY', `the local object store cannot hold ${key} beside objects under ${key}/`, { key })
          }
          throw err
        }
      })
      await fsyncDir(dir)
    } catch (err) {
      if (fh !== null) await fh.close().catch(() => undefined)
      await rm(tmp, { force: true })
      await rm(sidecarTmp, { force: true })
      throw err
    }
  }

  /** Opens an object for reading: its description and bytes come from one open file. */
  async open(key: string): Promise<OpenObject | null> {
    checkKey(key)
    const { data, sidecar } = this.#paths(key)
    for (let attempt = 0; ; attempt++) {
      let fh: FileHandle
      try {
        fh = await open(data, 'r')
      } catch (err) {
        if (isErrno(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) return null
        throw err
      }
      try {
        const st = await fh.stat()
        if (!st.isFile()) {
          await fh.close()
          return null
        }
        let meta: Sidecar | null = null
        try {
          meta = parseSidecar(await readFile(sidecar, 'utf8'))
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err
        }
        const current = meta !== null && meta.ino === st.ino && meta.size === st.size
        // A sidecar of another inode is a replace in flight: read again in a moment. One that
        // still differs later is a copied directory (new inodes; trusted when the size agrees)
        // or a crash between the two renames (untrusted).
        if (!current && meta !== null && attempt < 5) {
          await fh.close()
          await new Promise((r) => setTimeout(r, 2 << attempt))
          continue
        }
        const trusted = meta !== null && meta.size === st.size ? meta : null
        const info: ObjectInfo = {
          key,
          size: st.size,
          contentType: trusted?.contentType ?? DEFAULT_CONTENT_TYPE,
          sha256: trusted?.sha256 ?? null,
          lastModified: st.mtime,
        }
        const handle = fh
        return {
          info,
          read: (span) => handle.createReadStream(span === null ? {} : { start: span.start, end: span.end }),
          close: () => handle.close(),
        }
      } catch (err) {
        await fh.close().catch(() => undefined)
        throw err
      }
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | null> {
    checkKey(key)
    checkRange(range)
    const obj = await this.open(key)
    if (obj === null) return null
    let span: { start: number; end: number } | null
    try {
      span = resolveRange(range, obj.info.size)
    } catch (err) {
      await obj.close()
      throw err
    }
    return obj.read(span)
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const obj = await this.open(key)
    if (obj === null) return null
    await obj.close()
    return obj.info
  }

  async delete(keys: readonly string[]): Promise<void> {
    const valid = checkKeys(keys)
    for (const key of new Set(valid)) {
      const { data, dir, sidecar } = this.#paths(key)
      await this.#locked(key, async () => {
        try {
          await rm(data)
        } catch (err) {
          // ENOENT: already gone; EISDIR/ERR_FS_EISDIR: a prefix of other objects, not an object.
          if (!isErrno(err, 'ENOENT', 'ENOTDIR', 'EISDIR', 'ERR_FS_EISDIR')) throw err
        }
        await rm(sidecar, { force: true })
      })
      // Drop directories left empty, up to the root; a put racing this retries its mkdir.
      for (let d = dir; d !== this.root && d.startsWith(this.root + sep); d = dirname(d)) {
        try {
          await rmdir(d)
        } catch {
          break
        }
      }
    }
  }

  #sign(fields: readonly (string | number | null)[]): string {
    return createHmac('sha256', this.#secret).update(JSON.stringify(fields)).digest('base64url')
  }

  #expiry(seconds: number): number {
    return Math.floor(this.#now() / 1000) + checkLifetime(seconds)
  }

  async downloadUrl(key: string, opts: DownloadLinkOptions): Promise<string> {
    checkKey(key)
    const expires = this.#expiry(opts.expiresInSeconds)
    const filename = checkFilename(opts.filename)
    const disposition = opts.inline === true ? 'inline' : 'attachment'
    const contentType = checkLinkContentType(opts.contentType)
    const params = new URLSearchParams({ expires: String(expires), disposition })
    if (filename !== undefined) params.set('filename', filename)
    if (contentType !== undefined) params.set('ct', contentType)
    params.set('sig', this.#sign(['GET', key, expires, disposition, filename ?? null, contentType ?? null]))
    return `${this.#base}${LINK_PATH}${key}?${params.toString()}`
  }

  async uploadUrl(key: string, opts: UploadLinkOptions): Promise<string> {
    checkKey(key)
    const expires = this.#expiry(opts.expiresInSeconds)
    if (opts.contentType !== undefined && !isValidContentType(opts.contentType)) throw new ChatError('INVALID_FIELD', 'contentType must be a media type like text/plain', { field: 'contentType' })
    const max = checkMaxBytes(opts.maxBytes)
    const params = new URLSearchParams({ expires: String(expires) })
    if (opts.contentType !== undefined) params.set('ct', opts.contentType)
    if (max !== undefined) params.set('max', String(max))
    params.set('sig', this.#sign(['PUT', key, expires, opts.contentType ?? null, max ?? null]))
    return `${this.#base}${LINK_PATH}${key}?${params.toString()}`
  }

  /** The staging directory of an upload id this store could have made; null for any other id. */
  #stagingDir(uploadId: string): string | null {
    return LOCAL_UPLOAD_ID.test(uploadId) ? join(this.root, STAGING, uploadId) : null
  }

  /** An upload's calls take its lock, so that a part never lands in an upload being completed or aborted. */
  #uploadLock(uploadId: string): string {
    return `${STAGING}/${uploadId}`
  }

  /** The open upload `uploadId` of `key`; null when there is none (never made, completed, aborted, or of another key). */
  async #openUpload(key: string, uploadId: string): Promise<{ dir: string; record: UploadRecord } | null> {
    const dir = this.#stagingDir(uploadId)
    if (dir === null) return null
    let record: UploadRecord | null
    try {
      record = parseUploadRecord(await readFile(join(dir, 'upload.json'), 'utf8'))
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null
      throw err
    }
    return record !== null && record.key === key ? { dir, record } : null
  }

  /** The parts in an upload's directory, by number. */
  async #arrived(dir: string): Promise<UploadedPart[]> {
    const newest = new Map<number, { etag: string; size: number; mtime: number }>()
    for (const name of await readdir(dir)) {
      const m = PART_FILE.exec(name)
      if (m === null || Number(m[1]) > MAX_PART_NUMBER) continue
      let st
      try {
        st = await stat(join(dir, name))
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue
        throw err
      }
      // Two versions of one part are left only by a crash between a part's rename and the
      // removal of the version it replaced: the newer one counts.
      const partNumber = Number(m[1])
      const seen = newest.get(partNumber)
      if (seen === undefined || st.mtimeMs > seen.mtime) newest.set(partNumber, { etag: m[2]!, size: st.size, mtime: st.mtimeMs })
    }
    return [...newest].sort(([a], [b]) => a - b).map(([partNumber, { etag, size }]) => ({ partNumber, etag, size }))
  }

  async createMultipartUpload(key: string, opts: MultipartUploadOptions): Promise<string> {
    checkKey(key)
    if (!isValidContentType(opts?.contentType)) throw new ChatError('INVALID_FIELD', 'contentType must be a media type like text/plain', { field: 'contentType' })
    const uploadId = randomBytes(16).toString('hex')
    const dir = join(this.root, STAGING, uploadId)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const record: UploadRecord = { key, contentType: opts.contentType }
    const fh = await open(join(dir, 'upload.json'), 'wx', 0o600)
    try {
      await fh.writeFile(JSON.stringify(record))
      await fh.sync()
    } finally {
      await fh.close()
    }
    await fsyncDir(dir)
    return uploadId
  }

  async partUploadUrl(key: string, uploadId: string, partNumber: number, opts: PartLinkOptions): Promise<string> {
    checkKey(key)
    checkUploadId(uploadId)
    checkPartNumber(partNumber)
    const expires = this.#expiry(opts.expiresInSeconds)
    const max = checkMaxBytes(opts.maxBytes)
    const params = new URLSearchParams({ expires: String(expires), upload: uploadId, part: String(partNumber) })
    if (max !== undefined) params.set('max', String(max))
    params.set('sig', this.#sign(['PUT-PART', key, uploadId, partNumber, expires, max ?? null]))
    return `${this.#base}${LINK_PATH}${key}?${params.toString()}`
  }

  /**
   * Stores one part of an open upload (the body of a part link's PUT, routes/objects.ts),
   * replacing an earlier one of that number; its ETag is the hex MD5 of its bytes. A body
   * that fails (cut off, over the link's limit) leaves nothing.
   */
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer | Readable): Promise<UploadedPart> {
    checkKey(key)
    checkUploadId(uploadId)
    checkPartNumber(partNumber)
    if (!Buffer.isBuffer(body) && !(body instanceof Readable)) throw new ChatError('INVALID_FIELD', 'the body must be a Buffer or a Readable', { field: 'body' })
    const dir = this.#stagingDir(uploadId)
    if (dir === null) throw noSuchUpload(uploadId)
    const lock = this.#uploadLock(uploadId)
    const tmp = join(dir, `.${partNumber}.${randomBytes(8).toString('hex')}.tmp`)
    let fh: FileHandle | null = await this.#locked(lock, async () => {
      if ((await this.#openUpload(key, uploadId)) === null) throw noSuchUpload(uploadId)
      return open(tmp, 'wx', 0o600)
    })
    try {
      const md5 = createHash('md5')
      const size = await writeBody(fh, body, [md5])
      await fh.sync()
      await fh.close()
      fh = null
      const etag = md5.digest('hex')
      await this.#locked(lock, async () => {
        // The upload may have been completed or aborted while the bytes arrived.
        if ((await this.#openUpload(key, uploadId)) === null) throw noSuchUpload(uploadId)
        await rename(tmp, join(dir, `${partNumber}.${etag}`))
        for (const name of await readdir(dir)) {
          const m = PART_FILE.exec(name)
          if (m !== null && Number(m[1]) === partNumber && m[2] !== etag) await rm(join(dir, name), { force: true })
        }
      })
      await fsyncDir(dir)
      return { partNumber, etag, size }
    } catch (err) {
      if (fh !== null) await fh.close().catch(() => undefined)
      await rm(tmp, { force: true })
      throw err
    }
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    checkKey(key)
    checkUploadId(uploadId)
    return this.#locked(this.#uploadLock(uploadId), async () => {
      const upload = await this.#openUpload(key, uploadId)
      if (upload === null) throw noSuchUpload(uploadId)
      return this.#arrived(upload.dir)
    })
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    checkKey(key)
    checkUploadId(uploadId)
    const named = checkCompletedParts(parts)
    await this.#locked(this.#uploadLock(uploadId), async () => {
      const upload = await this.#openUpload(key, uploadId)
      if (upload === null) throw noSuchUpload(uploadId)
      const chosen = matchParts(named, await this.#arrived(upload.dir))
      const files = chosen.map((p) => join(upload.dir, `${p.partNumber}.${p.etag}`))
      // put() writes a temporary file and renames it into place: the object appears whole or not at all.
      await this.put(key, Readable.from(concatenated(files)), { contentType: upload.record.contentType })
      await rm(upload.dir, { recursive: true, force: true })
    })
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    checkKey(key)
    checkUploadId(uploadId)
    await this.#locked(this.#uploadLock(uploadId), async () => {
      const upload = await this.#openUpload(key, uploadId)
      if (upload !== null) await rm(upload.dir, { recursive: true, force: true })
    })
  }

  /**
   * Checks a link this store signed: LINK_INVALID unless the signature matches the method, key
   * and every parameter (and there is no other parameter), then LINK_EXPIRED past its expiry.
   * HEAD is allowed wherever GET is; a PUT with `upload` and `part` is a part link.
   */
  verifyLink(method: 'GET' | 'HEAD' | 'PUT', key: string, query: unknown): LinkGrant {
    const invalid = (why: string): ChatError => new ChatError('LINK_INVALID', `the link is not valid: ${why}`)
    const q = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>
    const upload = method === 'PUT'
    const part = upload && ('upload' in q || 'part' in q)
    const allowed = part ? ['expires', 'upload', 'part', 'max', 'sig'] : upload ? ['expires', 'ct', 'max', 'sig'] : ['expires', 'disposition', 'filename', 'ct', 'sig']
    for (const [name, value] of Object.entries(q)) {
      if (!allowed.includes(name)) throw invalid(`unknown parameter ${name}`)
      if (typeof value !== 'string') throw invalid(`${name} given more than once`)
    }
    const param = (name: string): string | undefined => q[name] as string | undefined
    if (!isValidObjectKey(key)) throw invalid('bad key')
    const expiresText = param('expires')
    const sig = param('sig')
    if (expiresText === undefined || !/^\d{1,12}$/.test(expiresText)) throw invalid('missing or malformed expires')
    if (sig === undefined || !/^[A-Za-z0-9_-]{43}$/.test(sig)) throw invalid('missing or malformed signature')
    const expires = Number(expiresText)
    let expected: string
    let grant: LinkGrant
    if (part) {
      const uploadId = param('upload') ?? ''
      const partText = param('part') ?? ''
      const max = param('max')
      let partNumber: number
      try {
        checkUploadId(uploadId)
        partNumber = checkPartNumber(/^[1-9][0-9]{0,4}$/.test(partText) ? Number(partText) : NaN)
      } catch {
        throw invalid('missing or malformed upload or part')
      }
      if (max !== undefined && !/^\d{1,15}$/.test(max)) throw invalid('malformed max')
      expected = this.#sign(['PUT-PART', key, uploadId, partNumber, expires, max === undefined ? null : Number(max)])
      grant = { expires, inline: false, part: { uploadId, partNumber }, ...(max !== undefined ? { maxBytes: Number(max) } : {}) }
    } else if (upload) {
      const ct = param('ct')
      const max = param('max')
      if (max !== undefined && !/^\d{1,15}$/.test(max)) throw invalid('malformed max')
      expected = this.#sign(['PUT', key, expires, ct ?? null, max === undefined ? null : Number(max)])
      grant = { expires, inline: false, ...(ct !== undefined ? { contentType: ct } : {}), ...(max !== undefined ? { maxBytes: Number(max) } : {}) }
    } else {
      const disposition = param('disposition')
      const filename = param('filename')
      const ct = param('ct')
      if (disposition !== 'attachment' && disposition !== 'inline') throw invalid('missing or unknown disposition')
      expected = this.#sign(['GET', key, expires, disposition, filename ?? null, ct ?? null])
      grant = { expires, inline: disposition === 'inline', ...(filename !== undefined ? { filename } : {}), ...(ct !== undefined ? { contentType: ct } : {}) }
    }
    if (!timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) throw invalid('the signature does not match')
    if (grant.contentType !== undefined && !isValidContentType(grant.contentType)) throw invalid('bad content type')
    if (this.#now() > expires * 1000) throw new ChatError('LINK_EXPIRED', undefined, { expired_at: new Date(expires * 1000).toISOString() })
    return grant
  }

  async close(): Promise<void> {
    // Nothing held open between calls; files opened by get() close when their streams end.
  }
}
