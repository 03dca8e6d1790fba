// Files (docs/protocol.md, "Files"): uploads and downloads by link, so the bytes go straight
// between the client and object storage and never through the broker or the database.
//
//   UPLOAD_FILE      checks the channel and the announced name, size and SHA-256, records a
//                    `pending` row and answers upload links: one PUT, or one per part for a
//                    file above CHIME_FILE_PART_BYTES (multipart; asked again with the file_id
//                    it answers only the parts still missing, so a dropped upload resumes).
//   COMPLETE_UPLOAD  assembles the parts, checks the size and the SHA-256 of what arrived,
//                    sniffs the real type from the bytes and, for pictures, stores a thumbnail
//                    and the dimensions; the file is then `ready`. A mismatch removes the bytes.
//   DOWNLOAD_FILE    a short-lived link, for the uploader and for whoever may read a channel
//                    where a message carries the file. Only types in the inline allowlist are
//                    served as themselves; anything else is an attachment of type
//                    application/octet-stream, never rendered.
//
// A post names its files by id; claimFiles() fills in their details from the rows, and the
// append writes one attachments row per file in the message's own transaction. Files no
// message carries any more are removed (releaseFiles, the sweeper), as are uploads never
// completed.
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { has, PERMISSIONS } from '../../../clients/sdk/src/permissions.ts'
import type { AttachmentJson, CompleteUploadResponseData, DownloadFileResponseData, FileJson, UploadFileResponseData, UploadPartJson } from '../../../clients/sdk/src/protocol.ts'
import { newId } from '../ids.ts'
import { isPlainObject, requireId, type Data } from '../requests/fields.ts'
import type { Caller, Core } from '../services/context.ts'
import { isValidContentType } from '../storage/object-input.ts'
import type { ObjectStore } from '../storage/object-store.ts'
import { dbDate } from '../store/append-engine.ts'
import { inspectStoredFile } from './inspect-stored.ts'

const SHA256 = /^[0-9a-f]{64}$/i

type FileRow = NonNullable<Awaited<ReturnType<Core['store']['db']['prisma']['file']['findUnique']>>>

/** A file name as given: 1 to 255 characters, no path (slashes, `.`, `..`), no control characters. */
export function checkFileName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string') throw new ChatError('INVALID_FIELD', `${field} must be a file name`, { field })
  const name = value.normalize('NFC')
  if (name.length === 0 || name.length > 255 || /[/\\\p{Cc}\p{Cf}]/u.test(name.replace(/[\u200d]/g, '')) || name === '.' || name === '..' || name.trim() !== name || name.trim().length === 0) {
    throw new ChatError('INVALID_FIELD', `${field} must be a file name of 1 to 255 characters without slashes, control characters or surrounding spaces`, { field })
  }
  return name
}

function checkSize(core: Core, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ChatError('INVALID_FIELD', 'size must be the file size in bytes', { field: 'size' })
  if (value === 0) throw new ChatError('INVALID_FIELD', 'size must be at least 1 byte: an empty file is not uploaded', { field: 'size' })
  const max = core.config.fileMaxBytes
  if (value > max) throw new ChatError('PAYLOAD_TOO_LARGE', `a file is at most ${max} bytes`, { limit: max, field: 'size' })
  return value
}

function checkSha256(value: unknown): string {
  if (typeof value !== 'string' || !SHA256.test(value)) throw new ChatError('INVALID_FIELD', 'sha256 must be the hex SHA-256 of the file (64 digits)', { field: 'sha256' })
  return value.toLowerCase()
}

function requireFileId(data: Data): string {
  return requireId(data, 'file_id')
}

const objectKeyOf = (fileId: string): string => `files/${fileId}`
const thumbKeyOf = (fileId: string): string => `files/${fileId}.thumb`

/** How many parts a file of `size` bytes has with parts of `partSize`, and the size of part n (1-based). */
export function partSizes(size: number, partSize: number): number[] {
  const n = Math.max(1, Math.ceil(size / partSize))
  return Array.from({ length: n }, (_, i) => (i < n - 1 ? partSize : size - partSize * (n - 1)))
}

export function fileJson(f: FileRow): FileJson {
  const out: FileJson = {
    file_id: f.id,
    name: f.name,
    mime_type: f.mimeType ?? f.declaredType,
    size: Number(f.size),
    sha256: f.sha256,
    status: f.status as FileJson['status'],
    channel_id: f.channelId,
    uploader_id: f.uploaderId,
    inline: f.inline,
    created_at: f.createdAt.toISOString(),
  }
  if (f.width !== null) out.width = f.width
  if (f.height !== null) out.height = f.height
  if (f.thumbKey !== null && f.thumbWidth !== null && f.thumbHeight !== null) out.thumbnail = { width: f.thumbWidth, height: f.thumbHeight }
  return out
}

function attachmentJson(f: FileRow): AttachmentJson {
  const out: AttachmentJson = { file_id: f.id, name: f.name, mime_type: f.mimeType ?? 'application/octet-stream', size: Number(f.size) }
  if (f.width !== null) out.width = f.width
  if (f.height !== null) out.height = f.height
  if (f.thumbKey !== null) out.thumbnail = true
  return out
}

/** The row of a file the caller uploaded; others' files and unknown ids are FILE_NOT_FOUND alike. */
async function ownFile(core: Core, caller: Caller, fileId: string): Promise<FileRow> {
  const f = await core.store.db.prisma.file.findUnique({ where: { id: fileId } })
  if (f === null || f.uploaderId !== caller.userId) throw new ChatError('FILE_NOT_FOUND', undefined, { file_id: fileId })
  return f
}

function uploadDeadline(core: Core, f: FileRow): Date {
  return new Date(f.createdAt.getTime() + core.config.fileUploadTtlSeconds * 1000)
}

/** Upload links for what is still missing of a pending file. */
async function uploadLinks(core: Core, f: FileRow): Promise<UploadFileResponseData> {
  const deadline = uploadDeadline(core, f)
  const expiresInSeconds = Math.floor((deadline.getTime() - Date.now()) / 1000)
  if (expiresInSeconds < 1) throw new ChatError('FILE_NOT_FOUND', 'this upload has expired; start again', { file_id: f.id })
  const out: UploadFileResponseData = { response: 'OK', file_id: f.id, method: 'PUT', expires_at: deadline.toISOString(), upload_url: null }
  if (f.uploadId === null || f.partSize === null) {
    out.upload_url = await core.objects.uploadUrl(f.objectKey, { expiresInSeconds, contentType: 'application/octet-stream', maxBytes: Number(f.size) })
    return out
  }
  const sizes = partSizes(Number(f.size), f.partSize)
  const arrived = new Map((await core.objects.listParts(f.objectKey, f.uploadId)).map((p) => [p.partNumber, p.size]))
  const parts: UploadPartJson[] = []
  for (const [i, size] of sizes.entries()) {
    const partNumber = i + 1
    if (arrived.get(partNumber) === size) continue
    parts.push({ part_number: partNumber, size, upload_url: await core.objects.partUploadUrl(f.objectKey, f.uploadId, partNumber, { expiresInSeconds, maxBytes: size }) })
  }
  out.part_size = f.partSize
  out.part_count = sizes.length
  out.parts = parts
  return out
}

/** UPLOAD_FILE: a new upload's links, or, with `file_id`, the links for what a pending upload still misses. */
export async function doUploadFile(core: Core, caller: Caller, data: Data): Promise<UploadFileResponseData> {
  if (data['file_id'] !== undefined) {
    const f = await ownFile(core, caller, requireFileId(data))
    if (f.status !== 'pending') throw new ChatError('INVALID_FIELD', 'this upload is complete already', { field: 'file_id' })
    return uploadLinks(core, f)
  }
  const channelId = requireId(data, 'channel_id')
  const name = checkFileName(data['name'])
  const size = checkSize(core, data['size'])
  const sha256 = checkSha256(data['sha256'])
  const declared = data['mime_type'] ?? 'application/octet-stream'
  if (!isValidContentType(declared)) throw new ChatError('INVALID_FIELD', 'mime_type must be a media type like image/png', { field: 'mime_type' })
  const { channel, bits } = await core.store.directory.writable(caller.userId, channelId)
  if (channel.serverId !== null && !has(bits, PERMISSIONS.ATTACH_FILES)) throw new ChatError('FORBIDDEN', 'you may not attach files in this channel', { field: 'channel_id' })

  const id = newId()
  const objectKey = objectKeyOf(id)
  const multipart = size > core.config.filePartBytes
  const uploadId = multipart ? await core.objects.createMultipartUpload(objectKey, { contentType: 'application/octet-stream' }) : null
  const f = await core.store.db.prisma.file.create({
    data: {
      id, uploaderId: caller.userId, channelId, name, declaredType: declared.toLowerCase(), size: BigInt(size), sha256, status: 'pending',
      objectKey, uploadId, partSize: multipart ? core.config.filePartBytes : null, createdAt: new Date(),
    },
  })
  return uploadLinks(core, f)
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of stream) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * After a failed check the bytes go, and the upload starts over under the same file id (a
 * multipart upload gets a fresh upload id): nothing wrong stays visible.
 */
async function discardUpload(core: Core, f: FileRow): Promise<void> {
  await core.objects.delete([f.objectKey])
  if (f.uploadId !== null) {
    await core.objects.abortMultipartUpload(f.objectKey, f.uploadId).catch(() => undefined)
    const uploadId = await core.objects.createMultipartUpload(f.objectKey, { contentType: 'application/octet-stream' })
    await core.store.db.prisma.file.updateMany({ where: { id: f.id, status: 'pending' }, data: { uploadId } })
  }
}

/** COMPLETE_UPLOAD: checks what arrived against UPLOAD_FILE's size and SHA-256, then inspects it. */
export async function doCompleteUpload(core: Core, caller: Caller, data: Data): Promise<CompleteUploadResponseData> {
  const f = await ownFile(core, caller, requireFileId(data))
  if (f.status === 'ready') return { response: 'OK', file: fileJson(f) }
  const expected = Number(f.size)
  if (f.uploadId !== null && f.partSize !== null) {
    const sizes = partSizes(expected, f.partSize)
    const arrived = await core.objects.listParts(f.objectKey, f.uploadId)
    const byNumber = new Map(arrived.map((p) => [p.partNumber, p]))
    const missing = sizes.map((size, i) => (byNumber.get(i + 1)?.size === size ? null : i + 1)).filter((n): n is number => n !== null)
    if (missing.length > 0) throw new ChatError('UPLOAD_INCOMPLETE', `parts ${missing.slice(0, 20).join(', ')} have not arrived (whole)`, { file_id: f.id, missing_parts: missing })
    await core.objects.completeMultipartUpload(f.objectKey, f.uploadId, sizes.map((_, i) => ({ partNumber: i + 1, etag: byNumber.get(i + 1)!.etag })))
  }
  const info = await core.objects.head(f.objectKey)
  if (info === null) throw new ChatError('UPLOAD_INCOMPLETE', 'nothing has been uploaded yet', { file_id: f.id, expected_size: expected, received_size: 0 })
  if (info.size !== expected) {
    await discardUpload(core, f)
    throw new ChatError('UPLOAD_INCOMPLETE', `${info.size} bytes arrived, UPLOAD_FILE announced ${expected}; upload again`, { file_id: f.id, expected_size: expected, received_size: info.size })
  }
  const body = await core.objects.get(f.objectKey)
  if (body === null) throw new ChatError('UPLOAD_INCOMPLETE', 'nothing has been uploaded yet', { file_id: f.id })
  const actual = await sha256Of(body)
  if (actual !== f.sha256) {
    await discardUpload(core, f)
    throw new ChatError('CHECKSUM_MISMATCH', 'the bytes that arrived do not match the sha256 UPLOAD_FILE announced; upload again', { file_id: f.id })
  }
  const seen = await inspectStoredFile(core.objects, f.objectKey, thumbKeyOf(f.id), { name: f.name, mime: f.declaredType })
  const now = new Date()
  const done = await core.store.db.prisma.file.updateMany({
    where: { id: f.id, status: 'pending' },
    data: {
      status: 'ready', confirmedAt: now, mimeType: seen.mime, inline: seen.inline, width: seen.width ?? null, height: seen.height ?? null,
      thumbKey: seen.thumbnail === undefined ? null : thumbKeyOf(f.id), thumbWidth: seen.thumbnail?.width ?? null, thumbHeight: seen.thumbnail?.height ?? null,
      uploadId: null,
    },
  })
  const row = await core.store.db.prisma.file.findUnique({ where: { id: f.id } })
  if (row === null || (done.count === 0 && row.status !== 'ready')) throw new ChatError('FILE_NOT_FOUND', undefined, { file_id: f.id })
  return { response: 'OK', file: fileJson(row) }
}

/** Whether the caller may read the file: its uploader, or a reader of a channel where a message carries it. */
async function mayRead(core: Core, caller: Caller, f: FileRow): Promise<boolean> {
  if (f.uploaderId === caller.userId) return true
  const refs = await core.store.db.prisma.attachment.findMany({ where: { fileId: f.id }, select: { channelId: true }, distinct: ['channelId'], take: 50 })
  for (const { channelId } of refs) {
    try {
      await core.store.directory.readableChannel(caller.userId, channelId)
      return true
    } catch (err) {
      if (!(err instanceof ChatError)) throw err
    }
  }
  return false
}

/** DOWNLOAD_FILE: a short-lived link to the file (or its thumbnail) for those who may read it. */
export async function doDownloadFile(core: Core, caller: Caller, data: Data): Promise<DownloadFileResponseData> {
  const fileId = requireFileId(data)
  const thumbnail = data['thumbnail'] ?? false
  if (typeof thumbnail !== 'boolean') throw new ChatError('INVALID_FIELD', 'thumbnail must be true or false', { field: 'thumbnail' })
  const disposition = data['disposition'] ?? 'inline'
  if (disposition !== 'inline' && disposition !== 'attachment') throw new ChatError('INVALID_FIELD', 'disposition must be "inline" or "attachment"', { field: 'disposition' })
  const f = await core.store.db.prisma.file.findUnique({ where: { id: fileId } })
  // Someone else's file is not found, whether it exists or not: ids leak nothing.
  if (f === null || !(await mayRead(core, caller, f))) throw new ChatError('FILE_NOT_FOUND', undefined, { file_id: fileId })
  if (f.status !== 'ready') throw new ChatError('FILE_NOT_READY', 'the upload of this file is not complete', { file_id: fileId })
  if (thumbnail && f.thumbKey === null) throw new ChatError('FILE_NOT_FOUND', 'this file has no thumbnail', { file_id: fileId })
  const expiresInSeconds = core.config.fileLinkSeconds
  const inline = f.inline && disposition === 'inline'
  const url = thumbnail
    ? await core.objects.downloadUrl(f.thumbKey!, { expiresInSeconds, filename: `${f.name}.thumbnail.webp`, inline: true, contentType: 'image/webp' })
    : await core.objects.downloadUrl(f.objectKey, { expiresInSeconds, filename: f.name, inline, contentType: f.inline ? f.mimeType ?? 'application/octet-stream' : 'application/octet-stream' })
  return {
    response: 'OK', file_id: f.id, download_url: url, expires_at: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
    name: f.name, mime_type: f.mimeType ?? 'application/octet-stream', size: Number(f.size), sha256: f.sha256, inline,
  }
}

/** The file ids a post names: a list of 1 to `max` objects with `file_id` (other fields are ignored: the server fills them in). */
export function attachmentIdsOf(value: unknown, max: number): string[] | null {
  if (value === undefined || value === null) return null
  if (!Array.isArray(value) || value.length === 0 || value.length > max) {
    throw new ChatError('INVALID_FIELD', `attachments must be a list of 1 to ${max} files`, { field: 'attachments' })
  }
  const ids = value.map((a: unknown, i) => {
    const field = `attachments[${i}]`
    const id = typeof a === 'string' ? a : isPlainObject(a) ? a['file_id'] : undefined
    if (typeof id !== 'string') throw new ChatError('INVALID_FIELD', `${field} must be {file_id} of an uploaded file`, { field: `${field}.file_id` })
    return requireId({ file_id: id }, 'file_id')
  })
  if (new Set(ids).size !== ids.length) throw new ChatError('INVALID_FIELD', 'attachments must not name a file twice', { field: 'attachments' })
  return ids
}

/**
 * A post by `caller` names these files: each must be a complete upload of the caller's. Marks
 * them claimed (so no release or sweep removes them before the post's append writes its
 * attachments rows) and answers their details, in the order given.
 */
export async function claimFiles(core: Core, caller: Caller, fileIds: readonly string[], now = new Date()): Promise<AttachmentJson[]> {
  const prisma = core.store.db.prisma
  const rows = new Map((await prisma.file.findMany({ where: { id: { in: [...fileIds] } } })).map((f) => [f.id, f]))
  for (const id of fileIds) {
    const f = rows.get(id)
    if (f === undefined || f.uploaderId !== caller.userId) throw new ChatError('FILE_NOT_FOUND', 'attach files you uploaded (UPLOAD_FILE, then COMPLETE_UPLOAD)', { file_id: id })
    if (f.status !== 'ready') throw new ChatError('FILE_NOT_READY', 'complete the upload (COMPLETE_UPLOAD) before attaching the file', { file_id: id })
  }
  await touchFiles(core, fileIds, now)
  return fileIds.map((id) => attachmentJson(rows.get(id)!))
}

/** Marks files as just named by a post (a forward carries its original's files); fails if one is gone. */
export async function touchFiles(core: Core, fileIds: readonly string[], now = new Date()): Promise<void> {
  if (fileIds.length === 0) return
  const { count } = await core.store.db.prisma.file.updateMany({ where: { id: { in: [...fileIds] }, status: 'ready' }, data: { attachedAt: now } })
  if (count !== fileIds.length) throw new ChatError('FILE_NOT_FOUND', 'a file of this message is no longer available')
}

/** What removing files needs: the database, the sequencer's lock and object storage. */
export type FileDeps = Pick<Core, 'store' | 'sequencer' | 'objects'>

interface Removable {
  fileId: string
  keys: string[]
  upload: { key: string; uploadId: string } | null
}

/**
 * Removes the listed files that no message carries and that no post claimed since `claimedBefore`,
 * rows first, under the sequencer lock (so no append writes an attachments row meanwhile),
 * then their bytes. Answers the ids removed.
 */
export async function removeUnreferenced(core: FileDeps, fileIds: readonly string[], claimedBefore: Date): Promise<string[]> {
  if (fileIds.length === 0) return []
  const marks = fileIds.map(() => '?').join(', ')
  const { result } = await core.sequencer.change<Removable[]>(async (tx) => {
    const rows = await tx.all(
      `SELECT f.file_id, f.object_key, f.thumb_key, f.upload_id, f.attached_at FROM files f
        WHERE f.file_id IN (${marks}) AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.file_id = f.file_id)${tx.dialect === 'mysql' ? ' FOR UPDATE' : ''}`,
      [...fileIds],
    )
    const gone = rows.filter((r) => {
      const at = dbDate(r['attached_at'] as string | number | null)
      return at === null || at.getTime() < claimedBefore.getTime()
    })
    if (gone.length > 0) await tx.run(`DELETE FROM files WHERE file_id IN (${gone.map(() => '?').join(', ')})`, gone.map((r) => String(r['file_id'])))
    const value = gone.map((r): Removable => ({
      fileId: String(r['file_id']),
      keys: [String(r['object_key']), ...(r['thumb_key'] === null ? [] : [String(r['thumb_key'])])],
      upload: r['upload_id'] === null ? null : { key: String(r['object_key']), uploadId: String(r['upload_id']) },
    }))
    return { value: { result: value, access: [], inbox: [] }, deltas: [] }
  })
  await deleteBytes(core.objects, result)
  return result.map((r) => r.fileId)
}

async function deleteBytes(objects: ObjectStore, removed: readonly Removable[]): Promise<void> {
  if (removed.length === 0) return
  await objects.delete(removed.flatMap((r) => r.keys))
  for (const r of removed) if (r.upload !== null) await objects.abortMultipartUpload(r.upload.key, r.upload.uploadId).catch(() => undefined)
}

/**
 * After a message lost its files (deleted, or purged by the expiry sweeper): removes those no
 * other message carries. A file claimed after the message was posted is being attached by
 * another post right now; it stays (and, should that post fail, the orphan sweep takes it).
 */
export async function releaseFiles(core: FileDeps, fileIds: readonly string[], postedAt: Date): Promise<string[]> {
  return removeUnreferenced(core, [...new Set(fileIds)], new Date(postedAt.getTime() + 1))
}

/**
 * The sweep: uploads not completed within CHIME_FILE_UPLOAD_TTL_SECONDS, and completed files
 * that no message carries and no post named for CHIME_FILE_ORPHAN_SECONDS. At most `batch` per call.
 */
export async function sweepFiles(core: Core, now = new Date(), batch = 500): Promise<{ expiredUploads: number; orphans: number }> {
  const prisma = core.store.db.prisma
  const uploadCutoff = new Date(now.getTime() - core.config.fileUploadTtlSeconds * 1000)
  const orphanCutoff = new Date(now.getTime() - core.config.fileOrphanSeconds * 1000)
  const pending = await prisma.file.findMany({ where: { status: 'pending', createdAt: { lt: uploadCutoff } }, select: { id: true }, take: batch })
  const expiredUploads = (await removeUnreferenced(core, pending.map((f) => f.id), now)).length
  const ready = await prisma.file.findMany({
    where: { status: 'ready', confirmedAt: { lt: orphanCutoff }, OR: [{ attachedAt: null }, { attachedAt: { lt: orphanCutoff } }] },
    select: { id: true },
    take: batch,
  })
  const orphans = (await removeUnreferenced(core, ready.map((f) => f.id), orphanCutoff)).length
  return { expiredUploads, orphans }
}

/** Account deletion: the user's files that no message carries go at once; files in messages stay with the messages. */
export async function removeFilesOfDeletedUser(core: Core, userId: string, now = new Date()): Promise<number> {
  let removed = 0
  let after = ''
  for (;;) {
    const rows = await core.store.db.prisma.file.findMany({ where: { uploaderId: userId, id: { gt: after } }, select: { id: true }, orderBy: { id: 'asc' }, take: 500 })
    if (rows.length === 0) return removed
    removed += (await removeUnreferenced(core, rows.map((f) => f.id), now)).length
    after = rows.at(-1)!.id
  }
}
