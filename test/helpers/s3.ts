// An S3-compatible server for tests: s3rver (from npm) in this process on a free loopback
// port, over a temporary directory, closed in teardown. It speaks enough S3 for the minio
// client (buckets, objects, ranges, multipart uploads, multi-delete, presigned URLs) but does
// not check signatures, so expiry and tampering of links are tested on the local store only.
import { mkdtemp, rm } from 'node:fs/promises'
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
}

export async function startS3(t: Test): Promise<TestS3> {
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
  const address = await server.run()
  defer(t, async () => {
    await server.close()
    await rm(directory, { recursive: true, force: true })
  })
  return { endpoint: `http://127.0.0.1:${address.port}`, accessKey: 'S3RVER', secretKey: 'S3RVER' }
}
