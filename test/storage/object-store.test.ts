// The object store conformance suite: the same expectations of the local store (files under
// CHIME_DATA_DIR/objects, links served by the API of a running Chime) and of the S3 store
// (the minio client against s3rver). s3rver does not check signatures, so expiry and
// tampering of links (part links included) and size limits of upload links are tested on
// the local store only, at the end.
import t from 'tap'
import type { Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import type { ObjectStore } from '../../api/src/storage/object-store.ts'
import { LocalObjectStore } from '../../api/src/storage/local-store.ts'
import { S3ObjectStore } from '../../api/src/storage/s3-store.ts'
import { objectLinkSecret, openObjectStore } from '../../api/src/storage/open-object-store.ts'
import { loadConfig } from '../../config/load-config.ts'
import { startTestChime, type TestChime } from '../helpers/chime.ts'
import { startS3 } from '../helpers/s3.ts'
import { defer } from '../helpers/cleanup.ts'
import { waitFor } from '../helpers/wait.ts'

const MIB = 1024 * 1024
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex')

/** What a PUT to a part link answered: its status, its ETag header, and the error code of a Chime error body. */
async function putPart(url: string, body: Buffer): Promise<{ status: number; etag: string | null; code: string | undefined }> {
  const res = await fetch(url, { method: 'PUT', body: new Uint8Array(body) })
  const text = await res.text()
  let code: string | undefined
  try {
    code = (JSON.parse(text) as { data?: { code?: string } }).data?.code
  } catch {
    code = undefined
  }
  return { status: res.status, etag: res.headers.get('etag'), code }
}

async function bytesOf(stream: Readable | null): Promise<Buffer | null> {
  if (stream === null) return null
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => 'no error',
    (e: unknown) => (e instanceof ChatError ? e.code : String(e)),
  )

interface Harness {
  store: ObjectStore
  /** Makes a link absolute (the local store's links are relative without CHIME_PUBLIC_URL). */
  absolute(link: string): string
  /** Every file and directory of the store (local) or every object (S3), to show nothing changed. */
  snapshot(): Promise<string[]>
  /** Every file and directory where unfinished multipart uploads are kept (the local store's staging directory; s3rver's). */
  staging(): Promise<string[]>
}

async function listTree(root: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      out.push(p.slice(root.length))
      if (e.isDirectory()) await walk(p)
    }
  }
  await walk(root).catch(() => undefined)
  return out.sort()
}

async function localHarness(t: Test): Promise<Harness & { chime: TestChime; local: LocalObjectStore }> {
  const chime = await startTestChime(t)
  const local = chime.running.objects
  if (!(local instanceof LocalObjectStore)) throw new Error('the embedded profile without CHIME_S3_ENDPOINT uses the local store')
  return { chime, local, store: local, absolute: (link) => chime.baseUrl + link, snapshot: () => listTree(local.root), staging: () => listTree(join(local.root, '.uploads')) }
}

async function s3Harness(t: Test): Promise<Harness> {
  const s3 = await startS3(t)
  // 5 MiB parts, so that a 12 MB object goes through the multipart path.
  const store = await S3ObjectStore.open({ endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'conformance', region: 'us-east-1', partSize: 5 * MIB })
  defer(t, () => store.close())
  const keys = async (): Promise<string[]> => {
    // The conformance keys used below: enough to show an invalid call changed nothing.
    const out: string[] = []
    for (const k of ['basic/one', 'keys/keep', 'keys/other']) if ((await store.head(k)) !== null) out.push(k)
    return out
  }
  return { store, absolute: (link) => link, snapshot: keys, staging: () => listTree(s3.uploadsDir('conformance')) }
}

const INVALID_KEYS = ['', 'a/../b', '..', 'a/./b', 'a//b', '/a', 'a/', '.hidden', 'a/.b', 'a b', 'a\\b', 'ä', 'x'.repeat(513), 'a/' + 'b'.repeat(129)]

async function conformance(t: Test, name: string, make: (t: Test) => Promise<Harness>): Promise<void> {
  await t.test(name, async (t) => {
    const h = await make(t)
    const { store } = h

    await t.test('put, head, get, delete', async (t) => {
      const body = Buffer.from('hello, object storage')
      await store.put('basic/one', body, { contentType: 'text/plain; charset=utf-8', sha256: sha(body).toUpperCase() })
      const info = await store.head('basic/one')
      t.equal(info?.key, 'basic/one')
      t.equal(info?.size, body.length, 'size')
      t.equal(info?.contentType, 'text/plain; charset=utf-8', 'content type kept')
      t.equal(info?.sha256, sha(body), 'sha256 kept (as lowercase hex)')
      t.ok(info?.lastModified instanceof Date && Math.abs(info.lastModified.getTime() - Date.now()) < 60_000, 'lastModified is now')
      t.same(await bytesOf(await store.get('basic/one')), body, 'bytes back')

      const streamed = randomBytes(300_000)
      await store.put('basic/streamed', Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)]), { contentType: 'application/octet-stream' })
      t.equal((await store.head('basic/streamed'))?.sha256, null, 'no sha256 when none was given')
      t.same(await bytesOf(await store.get('basic/streamed')), streamed, 'a streamed body')

      await store.put('basic/empty', Buffer.alloc(0), { contentType: 'application/octet-stream', sha256: sha('') })
      t.equal((await store.head('basic/empty'))?.size, 0, 'an empty object')
      t.same(await bytesOf(await store.get('basic/empty')), Buffer.alloc(0))
      t.same(await bytesOf(await store.get('basic/empty', { start: 0 })), Buffer.alloc(0), 'range from 0 of an empty object: all of it')

      await store.delete(['basic/one', 'basic/streamed', 'basic/empty'])
      t.equal(await store.head('basic/one'), null, 'deleted')
      t.equal(await store.get('basic/streamed'), null, 'deleted')
      t.equal(await store.head('basic/empty'), null, 'deleted')
    })

    await t.test('ranges', async (t) => {
      const body = Buffer.from('0123456789abcdef')
      await store.put('ranges/r', body, { contentType: 'text/plain' })
      t.equal((await bytesOf(await store.get('ranges/r', { start: 2, end: 5 })))?.toString(), '2345', 'inclusive span')
      t.equal((await bytesOf(await store.get('ranges/r', { start: 10 })))?.toString(), 'abcdef', 'to the end')
      t.equal((await bytesOf(await store.get('ranges/r', { start: 15, end: 15 })))?.toString(), 'f', 'the last byte')
      t.equal((await bytesOf(await store.get('ranges/r', { start: 12, end: 1000 })))?.toString(), 'cdef', 'an end past the object is clamped')
      t.equal(await codeOf(store.get('ranges/r', { start: 16 })), 'RANGE_NOT_SATISFIABLE', 'a start at the end')
      t.equal(await codeOf(store.get('ranges/r', { start: 100, end: 200 })), 'RANGE_NOT_SATISFIABLE', 'a start past the end')
      t.equal(await codeOf(store.get('ranges/r', { start: 5, end: 4 })), 'INVALID_FIELD', 'end before start')
      t.equal(await codeOf(store.get('ranges/r', { start: -1 })), 'INVALID_FIELD', 'negative start')
      t.equal(await store.get('ranges/missing', { start: 1, end: 2 }), null, 'a range of a missing object')
      await store.delete(['ranges/r'])
    })

    await t.test('replace', async (t) => {
      await store.put('replace/x', Buffer.from('first version'), { contentType: 'text/plain', sha256: sha('first version') })
      await store.put('replace/x', Buffer.from('second'), { contentType: 'application/json' })
      const info = await store.head('replace/x')
      t.equal(info?.size, 6)
      t.equal(info?.contentType, 'application/json', 'the new content type')
      t.equal(info?.sha256, null, 'the old sha256 is not carried over')
      t.equal((await bytesOf(await store.get('replace/x')))?.toString(), 'second')
      await store.delete(['replace/x'])
    })

    await t.test('missing keys', async (t) => {
      t.equal(await store.head('missing/nothing'), null)
      t.equal(await store.get('missing/nothing'), null)
      await store.delete(['missing/nothing', 'missing/nothing/either'])
      await store.delete([])
      t.pass('deleting keys that do not exist is not an error')
    })

    await t.test('invalid keys are refused before anything is touched', async (t) => {
      await store.put('keys/keep', Buffer.from('kept'), { contentType: 'text/plain' })
      const before = await h.snapshot()
      for (const key of INVALID_KEYS) {
        const body = Readable.from([Buffer.from('never read')])
        t.equal(await codeOf(store.put(key, body, { contentType: 'text/plain' })), 'INVALID_OBJECT_KEY', `put ${JSON.stringify(key.slice(0, 20))}`)
        t.equal(body.readableFlowing, null, 'the body was not read')
        t.equal(await codeOf(store.get(key)), 'INVALID_OBJECT_KEY', `get ${JSON.stringify(key.slice(0, 20))}`)
        t.equal(await codeOf(store.head(key)), 'INVALID_OBJECT_KEY', 'head')
        t.equal(await codeOf(store.downloadUrl(key, { expiresInSeconds: 60 })), 'INVALID_OBJECT_KEY', 'downloadUrl')
        t.equal(await codeOf(store.uploadUrl(key, { expiresInSeconds: 60 })), 'INVALID_OBJECT_KEY', 'uploadUrl')
        t.equal(await codeOf(store.delete(['keys/keep', key])), 'INVALID_OBJECT_KEY', 'delete with one bad key among good ones')
      }
      t.equal(await codeOf(store.get(42 as unknown as string)), 'INVALID_OBJECT_KEY', 'a key that is not a string')
      t.same(await h.snapshot(), before, 'nothing changed')
      t.equal((await bytesOf(await store.get('keys/keep')))?.toString(), 'kept', 'the good key of a refused delete is still there')

      t.equal(await codeOf(store.put('keys/other', Buffer.from('x'), { contentType: 'not a type' })), 'INVALID_FIELD', 'bad content type')
      t.equal(await codeOf(store.put('keys/other', Buffer.from('x'), { contentType: 'text/plain\r\nx-evil: 1' })), 'INVALID_FIELD', 'header injection in the content type')
      t.equal(await codeOf(store.put('keys/other', Buffer.from('x'), { contentType: 'text/plain', sha256: 'abc' })), 'INVALID_FIELD', 'bad sha256')
      t.equal(await codeOf(store.downloadUrl('keys/keep', { expiresInSeconds: 0 })), 'INVALID_FIELD', 'a link lifetime of 0')
      t.equal(await codeOf(store.downloadUrl('keys/keep', { expiresInSeconds: 8 * 24 * 3600 })), 'INVALID_FIELD', 'a link lifetime over 7 days')
      t.equal(await codeOf(store.downloadUrl('keys/keep', { expiresInSeconds: 60, filename: 'a\nb' })), 'INVALID_FIELD', 'a file name with a control character')
      t.same(await h.snapshot(), before, 'still nothing changed')
      await store.delete(['keys/keep'])
    })

    await t.test('a sha256 mismatch stores nothing', async (t) => {
      const wrong = sha('something else')
      t.equal(await codeOf(store.put('sha/new', Buffer.from('abc'), { contentType: 'text/plain', sha256: wrong })), 'CHECKSUM_MISMATCH', 'a Buffer')
      t.equal(await store.head('sha/new'), null, 'no object')
      t.equal(await codeOf(store.put('sha/new', Readable.from([Buffer.from('abc')]), { contentType: 'text/plain', sha256: wrong })), 'CHECKSUM_MISMATCH', 'a stream')
      t.equal(await store.head('sha/new'), null, 'no object')
      const big = randomBytes(12 * MIB)
      t.equal(await codeOf(store.put('sha/new', Readable.from([big]), { contentType: 'application/octet-stream', sha256: wrong })), 'CHECKSUM_MISMATCH', 'a large stream (multipart on S3)')
      t.equal(await store.head('sha/new'), null, 'no object')

      await store.put('sha/old', Buffer.from('original'), { contentType: 'text/plain', sha256: sha('original') })
      t.equal(await codeOf(store.put('sha/old', Buffer.from('replacement'), { contentType: 'text/plain', sha256: wrong })), 'CHECKSUM_MISMATCH')
      t.equal((await bytesOf(await store.get('sha/old')))?.toString(), 'original', 'a refused replace keeps the object as it was')
      t.equal((await store.head('sha/old'))?.sha256, sha('original'))
      await store.delete(['sha/old'])
    })

    await t.test('a large streamed object', async (t) => {
      const big = randomBytes(12 * MIB + 123)
      const chunks = Array.from({ length: Math.ceil(big.length / 65536) }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536))
      await store.put('large/x', Readable.from(chunks), { contentType: 'application/octet-stream', sha256: sha(big) })
      t.equal((await store.head('large/x'))?.size, big.length)
      t.equal(sha((await bytesOf(await store.get('large/x')))!), sha(big), 'same bytes')
      t.same(await bytesOf(await store.get('large/x', { start: 5 * MIB - 10, end: 5 * MIB + 9 })), big.subarray(5 * MIB - 10, 5 * MIB + 10), 'a range across a part boundary')
      await store.delete(['large/x'])
    })

    await t.test('download links', async (t) => {
      const body = Buffer.from('0123456789 linked bytes')
      await store.put('links/doc.txt', body, { contentType: 'text/plain' })
      const link = await store.downloadUrl('links/doc.txt', { expiresInSeconds: 300, filename: 'Résumé "final".txt' })
      let res = await fetch(h.absolute(link))
      t.equal(res.status, 200)
      t.equal(await res.text(), body.toString(), 'the bytes')
      t.equal(res.headers.get('content-type'), 'text/plain')
      const disposition = res.headers.get('content-disposition') ?? ''
      t.match(disposition, /^attachment; filename="R_sum_ _final_.txt"; filename\*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.txt$/, 'attachment with the file name')

      res = await fetch(h.absolute(link), { headers: { range: 'bytes=3-6' } })
      t.equal(res.status, 206, 'a range')
      t.equal(res.headers.get('content-range'), `bytes 3-6/${body.length}`)
      t.equal(res.headers.get('accept-ranges'), 'bytes')
      t.equal(await res.text(), '3456')

      const inline = await store.downloadUrl('links/doc.txt', { expiresInSeconds: 300, inline: true })
      res = await fetch(h.absolute(inline))
      await res.arrayBuffer()
      t.equal(res.headers.get('content-disposition'), 'inline', 'inline when asked for')
      const plain = await store.downloadUrl('links/doc.txt', { expiresInSeconds: 300 })
      res = await fetch(h.absolute(plain))
      await res.arrayBuffer()
      t.equal(res.headers.get('content-disposition'), 'attachment', 'attachment by default')

      const missing = await store.downloadUrl('links/missing', { expiresInSeconds: 300 })
      res = await fetch(h.absolute(missing))
      await res.arrayBuffer()
      t.equal(res.status, 404, 'a link to a missing object')
      await store.delete(['links/doc.txt'])
    })

    await t.test('upload links', async (t) => {
      const link = await store.uploadUrl('uploads/photo', { expiresInSeconds: 300, contentType: 'image/png' })
      const body = randomBytes(200_000)
      const res = await fetch(h.absolute(link), { method: 'PUT', body, headers: { 'content-type': 'image/png' } })
      await res.arrayBuffer()
      t.equal(res.status, 200, 'uploaded')
      const info = await store.head('uploads/photo')
      t.equal(info?.size, body.length)
      t.equal(info?.contentType, 'image/png')
      t.same(await bytesOf(await store.get('uploads/photo')), body, 'the uploaded bytes')
      await store.delete(['uploads/photo'])
    })

    await t.test('multipart uploads by link', async (t) => {
      // Two full 5 MiB parts and a short last one: the smallest upload S3's rules allow.
      const body = randomBytes(10 * MIB + 4321)
      const chunks = [body.subarray(0, 5 * MIB), body.subarray(5 * MIB, 10 * MIB), body.subarray(10 * MIB)]
      const chunk = (n: number): Buffer => chunks[n - 1]!
      const link = async (key: string, uploadId: string, n: number): Promise<string> => h.absolute(await store.partUploadUrl(key, uploadId, n, { expiresInSeconds: 300, maxBytes: 5 * MIB }))

      await t.test('three parts PUT through links and completed read back the same bytes', async (t) => {
        const key = 'multipart/three'
        const id = await store.createMultipartUpload(key, { contentType: 'application/pdf' })
        t.match(id, /^[A-Za-z0-9._~-]+$/, 'an upload id')
        t.same(await store.listParts(key, id), [], 'no part yet')
        const etags: string[] = []
        // Sent out of order: the part numbers, not the order of arrival, order the bytes.
        for (const n of [3, 1, 2]) {
          const res = await putPart(await link(key, id, n), chunk(n))
          t.equal(res.status, 200, `part ${n} stored`)
          t.equal(res.etag, `"${md5(chunk(n))}"`, `part ${n}: its ETag header, the quoted MD5 of its bytes as S3 gives it`)
          etags[n - 1] = res.etag ?? ''
        }
        t.equal(await store.head(key), null, 'nothing at the key before completion')
        t.equal(await store.get(key), null, 'nothing to read before completion')
        t.same(await store.listParts(key, id), chunks.map((c, i) => ({ partNumber: i + 1, etag: md5(c), size: c.length })), 'every part, by number, with its ETag and size')
        await store.completeMultipartUpload(key, id, etags.map((etag, i) => ({ partNumber: i + 1, etag })))
        const info = await store.head(key)
        t.equal(info?.size, body.length, 'the size of the three parts')
        t.equal(info?.contentType, 'application/pdf', 'the content type given at creation')
        t.equal(sha((await bytesOf(await store.get(key)))!), sha(body), 'the same bytes (SHA-256)')
        const res = await fetch(h.absolute(await store.downloadUrl(key, { expiresInSeconds: 300 })))
        t.equal(sha(Buffer.from(await res.arrayBuffer())), sha(body), 'the same bytes through a download link')
        t.equal(await codeOf(store.listParts(key, id)), 'NOT_FOUND', 'the upload is over')
        t.equal(await codeOf(store.completeMultipartUpload(key, id, [{ partNumber: 1, etag: etags[0]! }])), 'NOT_FOUND', 'completing it again')
        await store.abortMultipartUpload(key, id)
        t.equal((await store.head(key))?.size, body.length, 'aborting a completed upload is not an error and leaves the object')
        t.same(await h.staging(), [], 'nothing staged is left')
        await store.delete([key])
      })

      await t.test('resuming: the client asks which parts arrived and sends the others', async (t) => {
        const key = 'multipart/resume'
        const id = await store.createMultipartUpload(key, { contentType: 'application/octet-stream' })
        const first = await putPart(await link(key, id, 1), chunk(1))
        t.equal(first.status, 200, 'part 1 stored')
        // The connection drops here; the client kept the key and the upload id, nothing else.
        const arrived = await store.listParts(key, id)
        t.same(arrived, [{ partNumber: 1, etag: md5(chunk(1)), size: 5 * MIB }], 'part 1 is there')
        for (const n of [1, 2, 3].filter((n) => !arrived.some((p) => p.partNumber === n))) {
          t.equal((await putPart(await link(key, id, n), chunk(n))).status, 200, `part ${n} sent after resuming`)
        }
        const again = await putPart(await link(key, id, 1), chunk(1))
        t.equal(again.etag, first.etag, 'a part sent twice: the same ETag')
        const parts = await store.listParts(key, id)
        t.same(parts.map((p) => p.partNumber), [1, 2, 3], 'one part per number')
        await store.completeMultipartUpload(key, id, parts)
        t.equal(sha((await bytesOf(await store.get(key)))!), sha(body), 'the same bytes')
        await store.delete([key])
      })

      await t.test('a refused completion leaves nothing at the key and the upload open', async (t) => {
        const key = 'multipart/refused'
        const id = await store.createMultipartUpload(key, { contentType: 'text/plain' })
        const small = chunk(3)
        for (const [n, bytes] of [[1, chunk(1)], [2, small], [3, small]] as const) t.equal((await putPart(await link(key, id, n), bytes)).status, 200, `part ${n} stored`)
        const e1 = md5(chunk(1))
        const e2 = md5(small)
        const refusals: [string, string, unknown][] = [
          ['a wrong etag', 'UPLOAD_INCOMPLETE', [{ partNumber: 1, etag: md5('other bytes') }, { partNumber: 2, etag: e2 }]],
          ['a part that never arrived', 'UPLOAD_INCOMPLETE', [{ partNumber: 1, etag: e1 }, { partNumber: 4, etag: e2 }]],
          ['a part under 5 MiB that is not the last', 'INVALID_FIELD', [{ partNumber: 2, etag: e2 }, { partNumber: 3, etag: e2 }]],
          ['no parts', 'INVALID_FIELD', []],
          ['parts out of order', 'INVALID_FIELD', [{ partNumber: 2, etag: e2 }, { partNumber: 1, etag: e1 }]],
          ['a part named twice', 'INVALID_FIELD', [{ partNumber: 1, etag: e1 }, { partNumber: 1, etag: e1 }]],
          ['part number 0', 'INVALID_FIELD', [{ partNumber: 0, etag: e1 }]],
          ['an etag that is not a string', 'INVALID_FIELD', [{ partNumber: 1, etag: 5 }]],
          ['not a list', 'INVALID_FIELD', { partNumber: 1, etag: e1 }],
        ]
        for (const [what, code, parts] of refusals) {
          t.equal(await codeOf(store.completeMultipartUpload(key, id, parts as { partNumber: number; etag: string }[])), code, `${what}: ${code}`)
          t.equal(await store.head(key), null, `${what}: nothing at the key`)
        }
        t.same((await store.listParts(key, id)).map((p) => p.partNumber), [1, 2, 3], 'the upload is still open with its parts')
        await store.completeMultipartUpload(key, id, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: `"${e2}"` }])
        t.same(await bytesOf(await store.get(key)), Buffer.concat([chunk(1), small]), 'then a right list completes it, from the parts named only')
        t.same(await h.staging(), [], 'the part not named is gone with the upload')
        await store.delete([key])
      })

      await t.test('abort removes the parts', async (t) => {
        const key = 'multipart/aborted'
        const id = await store.createMultipartUpload(key, { contentType: 'text/plain' })
        t.equal((await putPart(await link(key, id, 1), chunk(3))).status, 200)
        t.ok((await h.staging()).length > 0, 'the part is staged')
        await store.abortMultipartUpload(key, id)
        t.same(await h.staging(), [], 'nothing staged is left')
        t.equal(await store.head(key), null, 'nothing at the key')
        t.equal(await codeOf(store.listParts(key, id)), 'NOT_FOUND', 'the upload is over')
        t.equal(await codeOf(store.completeMultipartUpload(key, id, [{ partNumber: 1, etag: md5(chunk(3)) }])), 'NOT_FOUND', 'it cannot be completed')
        const late = await putPart(await link(key, id, 2), chunk(3))
        t.equal(late.status, 404, 'a part sent after the abort is refused')
        t.same(await h.staging(), [], 'and staged nowhere')
        await store.abortMultipartUpload(key, id)
        t.pass('aborting twice is not an error')
      })

      await t.test('unknown uploads and bad input', async (t) => {
        const key = 'multipart/input'
        const id = await store.createMultipartUpload(key, { contentType: 'text/plain' })
        t.equal(await codeOf(store.listParts('multipart/other', id)), 'NOT_FOUND', 'an upload id belongs to its key')
        t.equal(await codeOf(store.completeMultipartUpload('multipart/other', id, [{ partNumber: 1, etag: md5('') }])), 'NOT_FOUND', 'completing it under another key')
        const unknown = '0'.repeat(32)
        t.equal(await codeOf(store.listParts(key, unknown)), 'NOT_FOUND', 'listParts of an unknown upload')
        t.equal(await codeOf(store.completeMultipartUpload(key, unknown, [{ partNumber: 1, etag: md5('') }])), 'NOT_FOUND', 'completing an unknown upload')
        await store.abortMultipartUpload(key, unknown)
        t.pass('aborting an unknown upload is not an error')
        for (const bad of ['', 'a/../b', '.hidden']) {
          t.equal(await codeOf(store.createMultipartUpload(bad, { contentType: 'text/plain' })), 'INVALID_OBJECT_KEY', `createMultipartUpload ${JSON.stringify(bad)}`)
          t.equal(await codeOf(store.partUploadUrl(bad, id, 1, { expiresInSeconds: 60 })), 'INVALID_OBJECT_KEY', 'partUploadUrl')
          t.equal(await codeOf(store.listParts(bad, id)), 'INVALID_OBJECT_KEY', 'listParts')
          t.equal(await codeOf(store.completeMultipartUpload(bad, id, [{ partNumber: 1, etag: 'x' }])), 'INVALID_OBJECT_KEY', 'completeMultipartUpload')
          t.equal(await codeOf(store.abortMultipartUpload(bad, id)), 'INVALID_OBJECT_KEY', 'abortMultipartUpload')
        }
        for (const bad of ['', 'a b', 'a/b', 'a%2Fb', 'x'.repeat(1025), 42] as unknown as string[]) {
          t.equal(await codeOf(store.partUploadUrl(key, bad, 1, { expiresInSeconds: 60 })), 'INVALID_FIELD', `partUploadUrl with upload id ${JSON.stringify(String(bad).slice(0, 10))}`)
          t.equal(await codeOf(store.listParts(key, bad)), 'INVALID_FIELD', 'listParts')
          t.equal(await codeOf(store.completeMultipartUpload(key, bad, [{ partNumber: 1, etag: 'x' }])), 'INVALID_FIELD', 'completeMultipartUpload')
          t.equal(await codeOf(store.abortMultipartUpload(key, bad)), 'INVALID_FIELD', 'abortMultipartUpload')
        }
        for (const bad of [0, 10001, 1.5, -1, '1'] as unknown as number[]) {
          t.equal(await codeOf(store.partUploadUrl(key, id, bad, { expiresInSeconds: 60 })), 'INVALID_FIELD', `part number ${JSON.stringify(bad)}`)
        }
        t.equal(await codeOf(store.partUploadUrl(key, id, 10000, { expiresInSeconds: 60 })).then((c) => c === 'no error'), true, 'part number 10000 is the last one')
        t.equal(await codeOf(store.partUploadUrl(key, id, 1, { expiresInSeconds: 0 })), 'INVALID_FIELD', 'a link lifetime of 0')
        t.equal(await codeOf(store.partUploadUrl(key, id, 1, { expiresInSeconds: 60, maxBytes: -1 })), 'INVALID_FIELD', 'a negative size limit')
        t.equal(await codeOf(store.createMultipartUpload(key, { contentType: 'not a type' })), 'INVALID_FIELD', 'a bad content type')
        await store.abortMultipartUpload(key, id)
        t.same(await h.staging(), [], 'nothing staged is left')
      })
    })
  })
}

await conformance(t, 'local store', localHarness)
await conformance(t, 'S3 store (s3rver)', s3Harness)

t.test('local store: signed links', async (t) => {
  const { chime, local } = await localHarness(t)
  const dataDir = dirname(local.root)
  const secret = objectLinkSecret((await readFile(join(dataDir, 'jwt-secret'), 'utf8')).trim())
  const body = Buffer.from('0123456789')
  await local.put('signed/a.txt', body, { contentType: 'text/html' })
  const link = await local.downloadUrl('signed/a.txt', { expiresInSeconds: 300, filename: 'a.txt' })
  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Headers; body: string; code?: string }> => {
    const res = await fetch(chime.baseUrl + path, { method, headers })
    const text = await res.text()
    let code: string | undefined
    try {
      code = (JSON.parse(text) as { data?: { code?: string } }).data?.code
    } catch {
      code = undefined
    }
    return { status: res.status, headers: res.headers, body: text, ...(code !== undefined ? { code } : {}) }
  }

  await t.test('headers', async (t) => {
    const res = await get(link)
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', 'nosniff')
    t.equal(res.headers.get('content-type'), 'text/html', 'the stored type, with nosniff and attachment')
    t.equal(res.headers.get('content-disposition'), `attachment; filename="a.txt"; filename*=UTF-8''a.txt`)
    t.equal(res.headers.get('accept-ranges'), 'bytes')
    t.equal(res.headers.get('content-length'), '10')
    t.match(res.headers.get('content-security-policy') ?? '', /sandbox/, 'a sandbox for anything rendered')
    const head = await get(link, {}, 'HEAD')
    t.equal(head.status, 200, 'HEAD')
    t.equal(head.headers.get('content-length'), '10', 'HEAD: the length')
    t.equal(head.body, '', 'HEAD: no body')
    const withToken = await get(link, { authorization: 'Bearer not-a-token' })
    t.equal(withToken.status, 200, 'a bearer token sent along is ignored')
  })

  await t.test('ranges over HTTP', async (t) => {
    let res = await get(link, { range: 'bytes=-3' })
    t.equal(res.status, 206, 'a suffix range')
    t.equal(res.body, '789')
    t.equal(res.headers.get('content-range'), 'bytes 7-9/10')
    res = await get(link, { range: 'bytes=8-' })
    t.equal(res.body, '89', 'an open range')
    res = await get(link, { range: 'bytes=4-100' })
    t.equal(res.headers.get('content-range'), 'bytes 4-9/10', 'clamped')
    res = await get(link, { range: 'bytes=10-' })
    t.equal(res.status, 416, 'unsatisfiable')
    t.equal(res.code, 'RANGE_NOT_SATISFIABLE')
    t.equal(res.headers.get('content-range'), 'bytes */10')
    res = await get(link, { range: 'bytes=0-1,4-5' })
    t.equal(res.status, 200, 'several ranges: the whole object')
    t.equal(res.body, '0123456789')
    res = await get(link, { range: 'lines=1-2' })
    t.equal(res.status, 200, 'another unit: the whole object')
    const etag = res.headers.get('etag') ?? ''
    res = await get(link, { range: 'bytes=0-1', 'if-range': etag })
    t.equal(res.status, 206, 'If-Range with the current ETag')
    res = await get(link, { range: 'bytes=0-1', 'if-range': '"stale"' })
    t.equal(res.status, 200, 'If-Range with another ETag: the whole object')
  })

  await t.test('expired links', async (t) => {
    const past = new LocalObjectStore({ dir: local.root, secret, now: () => Date.now() - 3600_000 })
    const old = await past.downloadUrl('signed/a.txt', { expiresInSeconds: 60 })
    t.equal((await get(old)).status, 403, 'GET: 403')
    t.equal((await get(old)).code, 'LINK_EXPIRED')
    const oldUpload = await past.uploadUrl('signed/new', { expiresInSeconds: 60 })
    const res = await fetch(chime.baseUrl + oldUpload, { method: 'PUT', body: 'x' })
    t.equal(res.status, 403)
    t.equal(((await res.json()) as { data: { code: string } }).data.code, 'LINK_EXPIRED', 'PUT: LINK_EXPIRED')
    t.equal(await local.head('signed/new'), null, 'nothing uploaded')
    const fresh = await past.downloadUrl('signed/a.txt', { expiresInSeconds: 7200 })
    t.equal((await get(fresh)).status, 200, 'a link of the same key still within its lifetime works')
  })

  await t.test('tampered links', async (t) => {
    const url = new URL(link, chime.baseUrl)
    const variant = (edit: (u: URL) => void): string => {
      const u = new URL(url)
      edit(u)
      return u.pathname + u.search
    }
    const cases: [string, string][] = [
      ['another signature', variant((u) => u.searchParams.set('sig', 'A'.repeat(43)))],
      ['a malformed signature', variant((u) => u.searchParams.set('sig', 'abc'))],
      ['no signature', variant((u) => u.searchParams.delete('sig'))],
      ['another key', variant((u) => (u.pathname = '/api/objects/signed/b.txt'))],
      ['inline instead of attachment', variant((u) => u.searchParams.set('disposition', 'inline'))],
      ['another file name', variant((u) => u.searchParams.set('filename', 'evil.html'))],
      ['no file name', variant((u) => u.searchParams.delete('filename'))],
      ['a later expiry', variant((u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600)))],
      ['no expiry', variant((u) => u.searchParams.delete('expires'))],
      ['an extra parameter', variant((u) => u.searchParams.set('x', '1'))],
      ['a repeated parameter', variant((u) => u.searchParams.append('disposition', 'attachment'))],
      ['a bad key', variant((u) => (u.pathname = '/api/objects/signed/%2e%2e/a.txt'))],
    ]
    for (const [what, path] of cases) {
      const res = await get(path)
      t.equal(res.status, 403, `${what}: 403`)
      t.equal(res.code, 'LINK_INVALID', `${what}: LINK_INVALID`)
    }
    const other = await local.downloadUrl('signed/other', { expiresInSeconds: 300 })
    const res = await fetch(chime.baseUrl + other, { method: 'PUT', body: 'x' })
    t.equal(((await res.json()) as { data: { code: string } }).data.code, 'LINK_INVALID', 'a download link does not upload')
    t.equal(await local.head('signed/other'), null, 'nothing uploaded')
    const upload = await local.uploadUrl('signed/a.txt', { expiresInSeconds: 300 })
    t.equal((await get(upload)).code, 'LINK_INVALID', 'an upload link does not download')
    const foreign = new LocalObjectStore({ dir: local.root, secret: randomBytes(32) })
    t.equal((await get(await foreign.downloadUrl('signed/a.txt', { expiresInSeconds: 300 }))).code, 'LINK_INVALID', 'a link signed with another secret')
    t.equal((await get('/api/objects/signed/a.txt')).code, 'LINK_INVALID', 'no parameters at all')
  })

  await t.test('upload limits and types', async (t) => {
    const limited = await local.uploadUrl('signed/limited', { expiresInSeconds: 300, maxBytes: 1000 })
    let res = await fetch(chime.baseUrl + limited, { method: 'PUT', body: randomBytes(2000) })
    t.equal(res.status, 413, 'a declared length over the limit')
    t.equal(((await res.json()) as { data: { code: string } }).data.code, 'PAYLOAD_TOO_LARGE')
    const chunked = Readable.toWeb(Readable.from([randomBytes(600), randomBytes(600)])) as ReadableStream<Uint8Array>
    res = await fetch(chime.baseUrl + limited, { method: 'PUT', body: chunked, duplex: 'half' } as RequestInit)
    t.equal(res.status, 413, 'a chunked body that grows over the limit')
    await res.arrayBuffer()
    t.equal(await local.head('signed/limited'), null, 'nothing kept')
    res = await fetch(chime.baseUrl + limited, { method: 'PUT', body: randomBytes(1000) })
    await res.arrayBuffer()
    t.equal(res.status, 200, 'exactly the limit')
    t.equal((await local.head('signed/limited'))?.size, 1000)

    const typed = await local.uploadUrl('signed/typed', { expiresInSeconds: 300, contentType: 'image/png' })
    res = await fetch(chime.baseUrl + typed, { method: 'PUT', body: 'png bytes', headers: { 'content-type': 'text/html' } })
    await res.arrayBuffer()
    t.equal((await local.head('signed/typed'))?.contentType, 'image/png', 'a signed content type wins over the uploader\'s')
    const untyped = await local.uploadUrl('signed/untyped', { expiresInSeconds: 300 })
    res = await fetch(chime.baseUrl + untyped, { method: 'PUT' })
    await res.arrayBuffer()
    t.equal(res.status, 200, 'an empty upload')
    t.same(await local.head('signed/untyped').then((i) => [i?.size, i?.contentType]), [0, 'application/octet-stream'])
    const tampered = new URL(typed, chime.baseUrl)
    tampered.searchParams.set('ct', 'text/html')
    res = await fetch(tampered, { method: 'PUT', body: 'x' })
    t.equal(((await res.json()) as { data: { code: string } }).data.code, 'LINK_INVALID', 'a changed content type')
    tampered.searchParams.delete('ct')
    tampered.searchParams.set('max', '5')
    res = await fetch(tampered, { method: 'PUT', body: 'x' })
    t.equal(((await res.json()) as { data: { code: string } }).data.code, 'LINK_INVALID', 'an added limit')
  })

  await t.test('multipart part links', async (t) => {
    const key = 'signed/parts'
    const id = await local.createMultipartUpload(key, { contentType: 'text/plain' })
    const staged = (): Promise<string[]> => listTree(join(local.root, '.uploads', id))
    const code = async (res: Response): Promise<string | undefined> => ((await res.json()) as { data?: { code?: string } }).data?.code

    await t.test('a part over the link\'s limit is refused and nothing arrives', async (t) => {
      const limited = chime.baseUrl + (await local.partUploadUrl(key, id, 1, { expiresInSeconds: 300, maxBytes: 1000 }))
      let res = await fetch(limited, { method: 'PUT', body: new Uint8Array(randomBytes(2000)) })
      t.equal(res.status, 413, 'a declared length over the limit')
      t.equal(await code(res), 'PAYLOAD_TOO_LARGE')
      const chunked = Readable.toWeb(Readable.from([randomBytes(600), randomBytes(600)])) as ReadableStream<Uint8Array>
      res = await fetch(limited, { method: 'PUT', body: chunked, duplex: 'half' } as RequestInit)
      t.equal(res.status, 413, 'a chunked body that grows over the limit')
      t.equal(await code(res), 'PAYLOAD_TOO_LARGE')
      t.same(await local.listParts(key, id), [], 'no part arrived')
      t.same(await staged(), ['/upload.json'], 'no part or temporary file staged')
      t.equal(await local.head(key), null, 'nothing at the key')
      const exact = randomBytes(1000)
      res = await fetch(limited, { method: 'PUT', body: new Uint8Array(exact) })
      await res.arrayBuffer()
      t.equal(res.status, 200, 'exactly the limit')
      t.same(await local.listParts(key, id), [{ partNumber: 1, etag: md5(exact), size: 1000 }])
    })

    await t.test('expired and tampered part links are refused', async (t) => {
      const before = await local.listParts(key, id)
      const past = new LocalObjectStore({ dir: local.root, secret, now: () => Date.now() - 3600_000 })
      let res = await fetch(chime.baseUrl + (await past.partUploadUrl(key, id, 2, { expiresInSeconds: 60 })), { method: 'PUT', body: 'x' })
      t.equal(res.status, 403, 'expired: 403')
      t.equal(await code(res), 'LINK_EXPIRED', 'expired: LINK_EXPIRED')
      const link = new URL(await local.partUploadUrl(key, id, 2, { expiresInSeconds: 300, maxBytes: 100 }), chime.baseUrl)
      const variant = (edit: (u: URL) => void): URL => {
        const u = new URL(link)
        edit(u)
        return u
      }
      const other = await local.createMultipartUpload(key, { contentType: 'text/plain' })
      const cases: [string, URL][] = [
        ['another part number', variant((u) => u.searchParams.set('part', '3'))],
        ['another upload', variant((u) => u.searchParams.set('upload', other))],
        ['another key', variant((u) => (u.pathname = '/api/objects/signed/other'))],
        ['no limit', variant((u) => u.searchParams.delete('max'))],
        ['a larger limit', variant((u) => u.searchParams.set('max', '1000000'))],
        ['a later expiry', variant((u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600)))],
        ['another signature', variant((u) => u.searchParams.set('sig', 'A'.repeat(43)))],
        ['no upload or part: a whole-object upload', variant((u) => (u.searchParams.delete('upload'), u.searchParams.delete('part')))],
        ['no part number', variant((u) => u.searchParams.delete('part'))],
        ['a malformed part number', variant((u) => u.searchParams.set('part', '02'))],
        ['a content type added', variant((u) => u.searchParams.set('ct', 'text/html'))],
      ]
      for (const [what, url] of cases) {
        res = await fetch(url, { method: 'PUT', body: 'x' })
        t.equal(res.status, 403, `${what}: 403`)
        t.equal(await code(res), 'LINK_INVALID', `${what}: LINK_INVALID`)
      }
      res = await fetch(link)
      t.equal(await code(res), 'LINK_INVALID', 'a part link does not download')
      const whole = new URL(await local.uploadUrl(key, { expiresInSeconds: 300 }), chime.baseUrl)
      whole.searchParams.set('upload', id)
      whole.searchParams.set('part', '2')
      res = await fetch(whole, { method: 'PUT', body: 'x' })
      t.equal(await code(res), 'LINK_INVALID', 'an upload link with a part added')
      t.same(await local.listParts(key, id), before, 'no part arrived')
      t.same(await local.listParts(key, other), [], 'none in the other upload either')
      t.equal(await local.head(key), null, 'nothing at the key')
      await local.abortMultipartUpload(key, other)
    })

    await t.test('the staging directory is no object', async (t) => {
      const [part] = await local.listParts(key, id)
      const file = `.uploads/${id}/1.${part?.etag ?? ''}`
      t.equal(await codeOf(local.head(file)), 'INVALID_OBJECT_KEY', 'head of a staged part')
      t.equal(await codeOf(local.get(`.uploads/${id}/upload.json`)), 'INVALID_OBJECT_KEY', 'get of an upload record')
      t.equal(await codeOf(local.downloadUrl(file, { expiresInSeconds: 60 })), 'INVALID_OBJECT_KEY', 'no download link for it')
      const forged = new URL(await local.downloadUrl('signed/a.txt', { expiresInSeconds: 60 }), chime.baseUrl)
      forged.pathname = `/api/objects/${file}`
      t.equal((await get(forged.pathname + forged.search)).code, 'LINK_INVALID', 'nor a link with its path')
      t.equal(await codeOf(local.createMultipartUpload('.uploads/x', { contentType: 'text/plain' })), 'INVALID_OBJECT_KEY', 'no upload into it')
    })

    /** A part PUT whose body the test writes itself, to cut it off or to finish it late. */
    const openPart = async (n: number, length: number): Promise<{ write(b: Buffer): void; end(b: Buffer): void; cut(): void; answer: Promise<{ status: number; code?: string } | Error> }> => {
      const url = new URL(await local.partUploadUrl(key, id, n, { expiresInSeconds: 300 }), chime.baseUrl)
      const req = httpRequest(url, { method: 'PUT', headers: { 'content-length': String(length) } })
      const answer = new Promise<{ status: number; code?: string } | Error>((resolve) => {
        req.on('error', resolve)
        req.on('response', (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (text += c))
          res.on('error', resolve)
          res.on('end', () => {
            let code: string | undefined
            try {
              code = (JSON.parse(text) as { data?: { code?: string } }).data?.code
            } catch {
              code = undefined
            }
            resolve({ status: res.statusCode ?? 0, ...(code !== undefined ? { code } : {}) })
          })
        })
      })
      return { write: (b) => req.write(b), end: (b) => req.end(b), cut: () => req.destroy(), answer }
    }
    const temporaries = async (): Promise<string[]> => (await staged()).filter((p) => p.endsWith('.tmp'))

    await t.test('a part cut off mid-body leaves nothing; sent again, it arrives', async (t) => {
      const bytes = randomBytes(2 * MIB)
      const put = await openPart(2, bytes.length)
      put.write(bytes.subarray(0, MIB))
      await waitFor('the part to be written to a temporary file', async () => ((await temporaries()).length > 0 ? true : undefined))
      put.cut()
      t.ok((await put.answer) instanceof Error, 'the client saw its request fail')
      await waitFor('the temporary file to be removed', async () => ((await temporaries()).length === 0 ? true : undefined))
      t.same((await local.listParts(key, id)).map((p) => p.partNumber), [1], 'part 2 did not arrive')
      const res = await putPart(chime.baseUrl + (await local.partUploadUrl(key, id, 2, { expiresInSeconds: 300 })), bytes)
      t.equal(res.status, 200, 'sent again in full')
      t.same((await local.listParts(key, id)).find((p) => p.partNumber === 2), { partNumber: 2, etag: md5(bytes), size: bytes.length })
    })

    await t.test('a part still arriving when the upload is aborted is refused and leaves nothing', async (t) => {
      const bytes = randomBytes(2 * MIB)
      const put = await openPart(3, bytes.length)
      put.write(bytes.subarray(0, MIB))
      await waitFor('the part to be written to a temporary file', async () => ((await temporaries()).length > 0 ? true : undefined))
      await local.abortMultipartUpload(key, id)
      put.end(bytes.subarray(MIB))
      const answer = await put.answer
      t.same(answer instanceof Error ? answer.message : answer, { status: 404, code: 'NOT_FOUND' }, 'the rest of the part: NOT_FOUND')
      t.same(await listTree(join(local.root, '.uploads')), [], 'nothing staged is left')
      t.equal(await local.head(key), null, 'nothing at the key')
    })
  })

  await t.test('files on disk', async (t) => {
    await local.put('disk/a/b', Buffer.from('nested'), { contentType: 'text/plain' })
    t.equal(await codeOf(local.put('disk/a', Buffer.from('x'), { contentType: 'text/plain' })), 'INVALID_OBJECT_KEY', 'a key that is a directory of other keys')
    t.equal(await codeOf(local.put('disk/a/b/c', Buffer.from('x'), { contentType: 'text/plain' })), 'INVALID_OBJECT_KEY', 'a key under another object')
    t.equal((await readFile(join(local.root, 'disk', 'a', 'b'), 'utf8')), 'nested', 'the object is the file <dir>/<key>')
    t.equal(await local.head('disk/a'), null, 'a directory is no object')
    await local.delete(['disk/a'])
    t.equal((await local.head('disk/a/b'))?.size, 6, 'deleting a key that is a directory of other keys deletes nothing')
    const sidecar = JSON.parse(await readFile(join(local.root, 'disk', 'a', '.b.meta.json'), 'utf8')) as { contentType: string }
    t.equal(sidecar.contentType, 'text/plain', 'its sidecar')
    await local.put('disk/ok', Buffer.from('x'), { contentType: 'text/plain', sha256: sha('y') }).catch(() => undefined)
    t.same((await listTree(join(local.root, 'disk'))).filter((p) => p.endsWith('.tmp')), [], 'no temporary file left by a refused put')
    await local.delete(['disk/a/b'])
    t.same(await listTree(join(local.root, 'disk')), [], 'deleting the last object under a directory removes the empty directories')
  })

  await t.test('readers during concurrent replaces see a description that matches the bytes', async (t) => {
    // (Local only: s3rver itself writes an object's bytes and metadata in two steps.)
    const versions = Array.from({ length: 8 }, (_, i) => Buffer.from(`version ${i} `.repeat(i * 500 + 1)))
    await local.put('race/x', versions[0]!, { contentType: 'text/plain', sha256: sha(versions[0]!) })
    let mismatches = 0
    let reads = 0
    let writing = true
    const reader = (async () => {
      while (writing) {
        const obj = await local.open('race/x')
        if (obj === null) continue
        const bytes = await bytesOf(obj.read(null))
        reads++
        if (bytes === null || obj.info.sha256 !== sha(bytes) || obj.info.size !== bytes.length) mismatches++
      }
    })()
    for (let round = 0; round < 5; round++) {
      await Promise.all(versions.map((v) => local.put('race/x', Readable.from([v]), { contentType: 'text/plain', sha256: sha(v) })))
    }
    writing = false
    await reader
    t.ok(reads > 0, `${reads} reads during the writes`)
    t.equal(mismatches, 0, 'no read saw the sidecar of other bytes')
    const info = await local.head('race/x')
    const bytes = await bytesOf(await local.get('race/x'))
    t.ok(bytes !== null && info?.sha256 === sha(bytes), 'the final object is consistent')
    await local.delete(['race/x'])
  })

  t.test('absolute links with CHIME_PUBLIC_URL', async (t) => {
    const store = new LocalObjectStore({ dir: local.root, secret, publicUrl: 'https://chat.example.org/' })
    t.match(await store.downloadUrl('signed/a.txt', { expiresInSeconds: 60 }), /^https:\/\/chat\.example\.org\/api\/objects\/signed\/a\.txt\?expires=\d+&disposition=attachment&sig=[A-Za-z0-9_-]{43}$/)
    t.match(await store.uploadUrl('signed/a.txt', { expiresInSeconds: 60 }), /^https:\/\/chat\.example\.org\/api\/objects\/signed\/a\.txt\?expires=\d+&sig=/)
  })
})

t.test('openObjectStore picks the store from the configuration', async (t) => {
  const s3 = await startS3(t)
  const dataDir = await mkdtemp(join(tmpdir(), 'chime-objects-'))
  defer(t, () => rm(dataDir, { recursive: true, force: true }))
  const local = await openObjectStore(loadConfig({}, { dataDir }), 'a token secret of at least 32 characters')
  t.equal(local.kind, 'local', 'no CHIME_S3_ENDPOINT: local')
  t.equal((local as LocalObjectStore).root, join(dataDir, 'objects'), 'under CHIME_DATA_DIR/objects')
  await local.close()

  const config = loadConfig({ CHIME_S3_ENDPOINT: s3.endpoint, CHIME_S3_ACCESS_KEY: s3.accessKey, CHIME_S3_SECRET_KEY: s3.secretKey, CHIME_S3_BUCKET: 'made-at-start' })
  const remote = await openObjectStore(config, 'a token secret of at least 32 characters')
  defer(t, () => remote.close())
  t.equal(remote.kind, 's3', 'CHIME_S3_ENDPOINT: S3')
  await remote.put('x', Buffer.from('in a new bucket'), { contentType: 'text/plain' })
  t.equal((await remote.head('x'))?.size, 15, 'the missing bucket was created at start')

  const refused = async (env: Record<string, string>): Promise<string | undefined> =>
    openObjectStore(loadConfig(env), 'a token secret of at least 32 characters').then(
      async (s) => {
        await s.close()
        return 'opened'
      },
      (e: unknown) => (e as { code?: string }).code,
    )
  t.equal(await refused({ CHIME_S3_ENDPOINT: s3.endpoint }), 'CONFIG_INVALID', 'no credentials')
  t.equal(await refused({ CHIME_S3_ENDPOINT: `${s3.endpoint}/path`, CHIME_S3_ACCESS_KEY: 'a', CHIME_S3_SECRET_KEY: 'b' }), 'CONFIG_INVALID', 'a path in the endpoint')
  t.equal(await refused({ CHIME_S3_ENDPOINT: s3.endpoint, CHIME_S3_ACCESS_KEY: 'a', CHIME_S3_SECRET_KEY: 'b', CHIME_S3_BUCKET: 'Bad_Bucket' }), 'CONFIG_INVALID', 'a bad bucket name')
  t.equal(await refused({ CHIME_S3_ENDPOINT: 'http://127.0.0.1:1', CHIME_S3_ACCESS_KEY: 'a', CHIME_S3_SECRET_KEY: 'b' }), 'CONFIG_INVALID', 'an endpoint that does not answer: one line at start')
  t.throws(() => loadConfig({ CHIME_S3_ENDPOINT: 'not a url' }), { code: 'CONFIG_INVALID' }, 'a malformed endpoint')
})
