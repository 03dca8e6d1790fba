// An S3-compatible server for tests: s3rver (from npm) in this process on a free loopback
// port, over a temporary directory, closed in teardown (startS3). startS3Server is the same
// server without a test, for the files benchmark (bench/files.ts runs it in a process of its
// own). It speaks enough S3 for the minio client (buckets, objects, ranges, multipart
// uploads, multi-delete, presigned URLs) but does not check signatures, so expiry and
// tampering of links are tested on the local store only.
//
// s3rver 3.7 has no ListParts and no AbortMultipartUpload (both answer MethodNotAllowed), and
// takes a part or a completion for any upload id, even one of another key or none at all.
// multipartAsS3() adds the two calls and S3's NoSuchUpload, as S3 documents them. Completing
// still checks nothing; the S3 store checks the parts named against ListParts first.
import { readdir, readFile, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import S3rver from 's3rver'
import { defer } from './cleanup.ts'

export interface TestS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string
  /** s3rver's fixed credentials. */
  accessKey: string
  secretKey: string
  /** Where s3rver keeps a bucket's unfinished multipart uploads (one directory each). */
  uploadsDir(bucket: string): string
}

/** A running S3 server outside a test: close() stops it and removes its directory. */
export interface S3Server extends TestS3 {
  close(): Promise<void>
}

/** The part of a Koa context the multipart additions use. */
interface KoaContext {
  method: string
  path: string
  query: Record<string, string | string[] | undefined>
  status: number
  body: unknown
}
type KoaMiddleware = ((ctx: KoaContext, next: () => Promise<void>) => Promise<void>) & { router?: unknown }

/** s3rver's upload ids. */
const S3RVER_UPLOAD_ID = /^[0-9a-f]{32}$/

/**
 * ListParts (GET ?uploadId), AbortMultipartUpload (DELETE ?uploadId, 204), and NoSuchUpload
 * (404) for any call with an upload id that is not an open upload of that key; every other
 * call with an upload id goes on to s3rver. Runs before s3rver's router, whose XML encoding
 * and error handling wrap it.
 */
function multipartAsS3(uploadsDir: (bucket: string) => string): KoaMiddleware {
  return async (ctx, next) => {
    const uploadId = ctx.query['uploadId']
    const path = /^\/([^/]+)\/(.+)$/.exec(ctx.path)
    if (uploadId === undefined || path === null) return next()
    const bucket = decodeURIComponent(path[1]!)
    const key = decodeURIComponent(path[2]!)
    const dir = typeof uploadId === 'string' && S3RVER_UPLOAD_ID.test(uploadId) ? join(uploadsDir(bucket), uploadId) : null
    const uploadKey = dir === null ? null : await readFile(join(dir, 'key'), 'utf8').catch(() => null)
    if (dir === null || uploadKey !== key) {
      ctx.status = 404
      ctx.body = { Error: { Code: 'NoSuchUpload', Message: 'The specified upload does not exist.', UploadId: String(uploadId) } }
      return
    }
    if (ctx.method === 'DELETE') {
      await rm(dir, { recursive: true, force: true })
      ctx.status = 204
      ctx.body = null
      return
    }
    if (ctx.method !== 'GET') return next()
    // A part is there once s3rver has written its MD5 beside it (after the last byte).
    const names = new Set(await readdir(dir))
    const parts = await Promise.all(
      [...names]
        .filter((n) => /^[1-9][0-9]{0,4}$/.test(n) && names.has(`${n}.md5`))
        .map(async (n) => {
          const [st, md5] = await Promise.all([stat(join(dir, n)), readFile(join(dir, `${n}.md5`), 'utf8')])
          return { PartNumber: Number(n), LastModified: st.mtime.toISOString(), ETag: `"${md5.trim()}"`, Size: st.size }
        }),
    )
    parts.sort((a, b) => a.PartNumber - b.PartNumber)
    ctx.status = 200
    ctx.body = {
      ListPartsResult: {
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumberMarker: 0,
        NextPartNumberMarker: parts.at(-1)?.PartNumber ?? 0,
        MaxParts: 10000,
        IsTruncated: false,
        Part: parts,
      },
    }
  }
}

export async function startS3(t: Test): Promise<TestS3> {
  const { close, ...s3 } = await startS3Server()
  defer(t, close)
  return s3
}

/** s3rver with the additions above, on a free loopback port over a fresh temporary directory. */
export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'chime-s3-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory })
  // s3rver deletes the objects of one multi-delete in parallel, each then removing its
  // directory when empty: two of one directory race and the loser answers 500 although its
  // object is gone (real S3 has no directories). Let that race end as it does for S3.
  const files = (server as unknown as { store: { deleteObject(bucket: string, key: string): Promise<void> } }).store
  const deleteObject = files.deleteObject.bind(files)
  files.deleteObject = async (bucket, key) => {
    try {
      await deleteObject(bucket, key)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err
    }
  }
  // s3rver keeps a bucket's uploads in <bucket>/._S3rver_uploads/<upload id>/.
  const uploadsDir = (bucket: string): string => join(directory, bucket, '._S3rver_uploads')
  const { middleware } = server as unknown as { middleware: KoaMiddleware[] }
  const router = middleware.findIndex((m) => m.router !== undefined)
  if (router < 0) throw new Error("s3rver's router was not found; test/helpers/s3.ts needs updating for this s3rver version")
  middleware.splice(router, 0, multipartAsS3(uploadsDir))
  const address = await server.run()
  const close = async (): Promise<void> => {
    await server.close()
    await rm(directory, { recursive: true, force: true })
  }
  return { endpoint: `http://127.0.0.1:${address.port}`, accessKey: 'S3RVER', secretKey: 'S3RVER', uploadsDir, close }
}
