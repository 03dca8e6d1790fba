// Files end to end, on both profiles: the embedded one (SQLite, files under CHIME_DATA_DIR,
// links the API serves) and the production one (MariaDB, Redis, and an S3-compatible server
// the presigned links point at). Upload by link (one PUT, or parts that resume), completion
// with size and SHA-256 checks and a sniffed type, pictures with dimensions and thumbnails,
// downloads with ranges only for those who may read, never an inline SVG or HTML, files
// removed with their messages, orphans swept, and every bad input a coded error that stores
// nothing.
import { request as httpRequest } from 'node:http'
import t, { type Test } from 'tap'
import sharp from 'sharp'
import type { Config } from '../../config/schema.ts'
import type { CompleteUploadResponseData, DeltaJson, DownloadFileResponseData, Envelope, UploadFileResponseData } from '../../clients/sdk/src/protocol.ts'
import { sweepFiles } from '../../api/src/files/files.ts'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { startTestChime, type TestChime, type TestUser } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { startS3 } from '../helpers/s3.ts'
import { fileAction, getLink, putBytes, reachable, sha256, uploadFile } from '../helpers/files.ts'

const MIB = 1024 * 1024
const SETTINGS: Partial<Config> = { filePartBytes: 5 * MIB, fileMaxBytes: 20 * MIB, fileSweepMs: 0 }

type Res<T = Record<string, unknown>> = { status: number; body: Envelope<string, T & { code?: string; details?: Record<string, unknown> }> }

async function bothProfiles(t: Test, name: string, fn: (t: Test, chime: TestChime) => Promise<void>): Promise<void> {
  await t.test(`${name} [embedded: local files]`, async (t) => fn(t, await startTestChime(t, SETTINGS)))
  await t.test(`${name} [production: S3]`, async (t) => {
    const databaseUrl = await freshMysqlUrl(t)
    const redis = await startRedis(t)
    if (databaseUrl === null || redis === null) return
    const s3 = await startS3(t)
    await fn(t, await startTestChime(t, { ...SETTINGS, databaseUrl, redisUrl: redis.url, s3Endpoint: s3.endpoint, s3AccessKey: s3.accessKey, s3SecretKey: s3.secretKey, s3Bucket: 'chime-files' }))
  })
}

/** Deterministic bytes that sniff as nothing in particular. */
function noise(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

async function run(t: Test, chime: TestChime): Promise<void> {
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Res> =>
    chime.http(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) }) as Promise<Res>
  const act = <T = Record<string, unknown>>(user: TestUser, action: string, data: object): Promise<Res<T>> => call(user, 'POST', '/api/requests', { action, data }) as Promise<Res<T>>
  const code = (r: Res<unknown>): unknown => (r.body.action === 'ERROR' ? r.body.data.code : r.body.action)
  const post = async (user: TestUser, data: object): Promise<DeltaJson> => {
    const r = await act<{ delta: DeltaJson }>(user, 'POST_MESSAGE', data)
    if (r.body.action !== 'POST_MESSAGE_RESPONSE') throw new Error(`post failed: ${JSON.stringify(r.body)}`)
    return r.body.data.delta
  }
  const download = async (user: TestUser, fileId: string, extra: object = {}): Promise<Res<DownloadFileResponseData>> =>
    fileAction<DownloadFileResponseData>(chime, user, '/api/files/download/', 'DOWNLOAD_FILE', { file_id: fileId, ...extra }) as Promise<Res<DownloadFileResponseData>>
  const objects = chime.running.objects!
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  const rowOf = (fileId: string) => db.prisma.file.findUnique({ where: { id: fileId } })

  const [ann, bob, eve] = await Promise.all([1, 2, 3].map(() => chime.register()))
  const server = (await call(ann!, 'POST', '/api/servers', { name: 'files' })).body as unknown as { server_id: string; channel_id: string }
  t.equal((await call(bob!, 'POST', `/api/servers/${server.server_id}/join`)).status, 200)
  const general = server.channel_id

  await t.test('a picture: one PUT, a sniffed type, dimensions, a thumbnail; readers download it with ranges', async (t) => {
    const png = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toBuffer()
    const file = await uploadFile(chime, ann!, general, png, 'sunset.png', 'application/octet-stream')
    t.match(file, { name: 'sunset.png', mime_type: 'image/png', size: png.length, sha256: sha256(png), status: 'ready', inline: true, width: 640, height: 480, thumbnail: { width: 320, height: 240 } }, 'the type comes from the bytes, not from what the client said')

    t.equal(code(await download(bob!, file.file_id)), 'FILE_NOT_FOUND', 'before it is shared, only its uploader reads it')
    const message = await post(ann!, { channel_id: general, content: 'the view', attachments: [{ file_id: file.file_id }] })
    t.same(message.attachments, [{ file_id: file.file_id, name: 'sunset.png', mime_type: 'image/png', size: png.length, width: 640, height: 480, thumbnail: true }], 'the message carries what the server recorded')

    const link = await download(bob!, file.file_id)
    t.equal(link.status, 200)
    t.match(link.body.data, { file_id: file.file_id, name: 'sunset.png', mime_type: 'image/png', size: png.length, sha256: sha256(png), inline: true })
    const whole = await getLink(chime, link.body.data.download_url)
    t.equal(whole.status, 200)
    t.equal(whole.headers.get('content-type'), 'image/png')
    t.match(whole.headers.get('content-disposition'), /^inline/, 'a picture is shown inline')
    t.ok(Buffer.from(await whole.arrayBuffer()).equals(png), 'the bytes are the upload')
    const part = await getLink(chime, link.body.data.download_url, { range: 'bytes=100-199' })
    t.equal(part.status, 206, 'a range request is answered 206')
    t.ok(Buffer.from(await part.arrayBuffer()).equals(png.subarray(100, 200)), 'with exactly that range')
    const forced = await getLink(chime, (await download(bob!, file.file_id, { disposition: 'attachment' })).body.data.download_url)
    t.match(forced.headers.get('content-disposition'), /^attachment/, 'a client may ask for a download instead')
    await forced.arrayBuffer()

    const thumb = await download(bob!, file.file_id, { thumbnail: true })
    const thumbBytes = Buffer.from(await (await getLink(chime, thumb.body.data.download_url)).arrayBuffer())
    const meta = await sharp(thumbBytes).metadata()
    t.same([meta.format, meta.width, meta.height], ['webp', 320, 240], 'the thumbnail is a 320x240 WebP')

    // The links in exported chats: a GET with the reader's token is sent on to a download link.
    const redirected = await fetch(`${chime.baseUrl}/api/files/download/?file_id=${file.file_id}`, { headers: { authorization: `Bearer ${bob!.token}` }, redirect: 'manual' })
    t.equal(redirected.status, 303, 'GET /api/files/download/ answers 303')
    t.ok(Buffer.from(await (await getLink(chime, redirected.headers.get('location')!)).arrayBuffer()).equals(png), 'to a link that serves the file')
    const anonymous = await fetch(`${chime.baseUrl}/api/files/download/?file_id=${file.file_id}`, { redirect: 'manual' })
    t.equal(anonymous.status, 401, 'without a token: 401')
    await anonymous.arrayBuffer()
    t.equal((await download(eve!, file.file_id)).body.data.code, 'FILE_NOT_FOUND', 'someone who may not read the channel gets no link')
    t.equal((await download(eve!, 'NOSUCHFILE0000000000000001')).body.data.code, 'FILE_NOT_FOUND', 'nor for a file that does not exist: the same answer')
  })

  await t.test('no stored XSS: SVG and HTML are never served inline, whatever their name or declared type', async (t) => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>')
    const html = Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>')
    for (const [bytes, name, declared] of [[svg, 'logo.svg', 'image/svg+xml'], [html, 'cat.png', 'image/png'], [html, 'page.html', 'text/html']] as const) {
      const file = await uploadFile(chime, ann!, general, bytes, name, declared)
      t.equal(file.inline, false, `${name} (${declared}) is not inline`)
      t.not(file.mime_type, 'image/png', `${name}: not taken for what its name or type says`)
      await post(ann!, { channel_id: general, content: name, attachments: [{ file_id: file.file_id }] })
      const link = await download(bob!, file.file_id)
      t.equal(link.body.data.inline, false)
      const res = await getLink(chime, link.body.data.download_url)
      t.match(res.headers.get('content-disposition'), /^attachment/, `${name}: served as an attachment`)
      t.equal(res.headers.get('content-type'), 'application/octet-stream', `${name}: as opaque bytes`)
      await res.arrayBuffer()
    }
  })

  await t.test('a large file in parts: an interrupted upload resumes with only the missing parts', async (t) => {
    const bytes = noise(12 * MIB + 12345, 7)
    const start = await fileAction<UploadFileResponseData>(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', { channel_id: general, name: 'backup.bin', size: bytes.length, sha256: sha256(bytes) })
    t.equal(start.status, 200)
    const links = start.body.data
    t.same([links.upload_url, links.part_size, links.part_count, links.parts?.map((p) => [p.part_number, p.size])], [null, 5 * MIB, 3, [[1, 5 * MIB], [2, 5 * MIB], [3, 2 * MIB + 12345]]], 'three parts')
    t.equal((await putBytes(chime, links.parts![0]!.upload_url, bytes.subarray(0, 5 * MIB))).status, 200, 'part 1 arrives')
    // The connection drops here. Completing now names what is missing.
    const early = await fileAction(chime, ann!, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: links.file_id })
    t.same([early.status, early.body.data.code, early.body.data.details?.['missing_parts']], [409, 'UPLOAD_INCOMPLETE', [2, 3]], 'completing early: UPLOAD_INCOMPLETE naming the missing parts')
    t.equal(await objects.head(`files/${links.file_id}`), null, 'nothing is visible yet')
    const resumed = await fileAction<UploadFileResponseData>(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', { file_id: links.file_id })
    t.same(resumed.body.data.parts?.map((p) => p.part_number), [2, 3], 'asked again, it hands out links for parts 2 and 3 only')
    for (const p of resumed.body.data.parts!) {
      const from = (p.part_number - 1) * 5 * MIB
      t.equal((await putBytes(chime, p.upload_url, bytes.subarray(from, from + p.size))).status, 200, `part ${p.part_number} arrives`)
    }
    const done = await fileAction<CompleteUploadResponseData>(chime, ann!, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: links.file_id })
    t.match(done.body.data.file, { status: 'ready', size: bytes.length, mime_type: 'application/octet-stream', inline: false })
    const again = await fileAction<CompleteUploadResponseData>(chime, ann!, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: links.file_id })
    t.same(again.body.data.file, done.body.data.file, 'completing twice answers the same file')
    const got = await getLink(chime, (await download(ann!, links.file_id)).body.data.download_url)
    t.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(bytes), 'downloaded whole, identical')
  })

  await t.test('bad input: coded errors, nothing stored, nothing leaked', async (t) => {
    const rows = async (): Promise<number> => db.prisma.file.count()
    const before = await rows()
    const small = Buffer.from('hello')
    const base = { channel_id: general, name: 'a.txt', size: small.length, sha256: sha256(small) }
    const refusals: [object, number, string, string][] = [
      [{ ...base, name: '../../etc/passwd' }, 400, 'INVALID_FIELD', 'a path in the name'],
      [{ ...base, name: 'a\u0000b.txt' }, 400, 'INVALID_FIELD', 'a NUL in the name'],
      [{ ...base, name: '..' }, 400, 'INVALID_FIELD', 'the name ..'],
      [{ ...base, name: '' }, 400, 'INVALID_FIELD', 'an empty name'],
      [{ ...base, size: 0, sha256: sha256(Buffer.alloc(0)) }, 400, 'INVALID_FIELD', 'a zero-byte file'],
      [{ ...base, size: -5 }, 400, 'INVALID_FIELD', 'a negative size'],
      [{ ...base, size: 20 * MIB + 1 }, 413, 'PAYLOAD_TOO_LARGE', 'one byte over CHIME_FILE_MAX_BYTES'],
      [{ ...base, sha256: 'abc' }, 400, 'INVALID_FIELD', 'a malformed SHA-256'],
      [{ ...base, mime_type: 'not a type' }, 400, 'INVALID_FIELD', 'a malformed MIME type'],
      [{ ...base, channel_id: 'NOSUCHCHANNEL0000000000001' }, 404, 'CHANNEL_NOT_FOUND', 'a channel that does not exist'],
    ]
    for (const [data, status, want, what] of refusals) {
      const r = await fileAction(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', data)
      t.same([r.status, r.body.data.code], [status, want], what)
    }
    const foreign = await fileAction(chime, eve!, '/api/files/upload/', 'UPLOAD_FILE', base)
    t.equal(foreign.body.action, 'ERROR', 'uploading into a channel one may not post in is refused')
    t.equal(await rows(), before, 'no refused upload left a row')

    // A wrong SHA-256: the bytes are removed at completion and the file never becomes ready.
    const lie = await fileAction<UploadFileResponseData>(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', { ...base, sha256: sha256(Buffer.from('other')) })
    await putBytes(chime, lie.body.data.upload_url!, small)
    const mismatch = await fileAction(chime, ann!, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: lie.body.data.file_id })
    t.same([mismatch.status, mismatch.body.data.code], [400, 'CHECKSUM_MISMATCH'], 'a wrong checksum: CHECKSUM_MISMATCH')
    t.equal(await objects.head(`files/${lie.body.data.file_id}`), null, 'and its bytes are gone')
    t.equal((await download(ann!, lie.body.data.file_id)).body.data.code, 'FILE_NOT_READY', 'it cannot be downloaded')
    t.equal(code(await act(ann!, 'POST_MESSAGE', { channel_id: general, content: 'x', attachments: [{ file_id: lie.body.data.file_id }] })), 'FILE_NOT_READY', 'nor attached')

    // Fewer bytes than announced: UPLOAD_INCOMPLETE, nothing kept.
    const short = await fileAction<UploadFileResponseData>(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', { ...base, size: 10 })
    await putBytes(chime, short.body.data.upload_url!, small)
    const incomplete = await fileAction(chime, ann!, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: short.body.data.file_id })
    t.same([incomplete.status, incomplete.body.data.code, incomplete.body.data.details?.['received_size']], [409, 'UPLOAD_INCOMPLETE', 5], 'fewer bytes than announced: UPLOAD_INCOMPLETE')
    t.equal(await objects.head(`files/${short.body.data.file_id}`), null, 'and nothing is kept')

    // A body that claims 1,000 bytes and stops after 10: nothing becomes visible.
    const cut = await fileAction<UploadFileResponseData>(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', { ...base, size: 1000, sha256: sha256(Buffer.alloc(1000)) })
    await new Promise<void>((resolve) => {
      const req = httpRequest(reachable(chime, cut.body.data.upload_url!), { method: 'PUT', headers: { 'content-length': '1000', 'content-type': 'application/octet-stream' } })
      req.on('error', () => resolve())
      req.on('response', (res) => {
        res.resume()
        resolve()
      })
      req.write(Buffer.alloc(10))
      setImmediate(() => req.destroy())
    })
    const afterCut = await fileAction(chime, ann!, '/api/files/complete/', 'COMPLETE_UPLOAD', { file_id: cut.body.data.file_id })
    t.same([afterCut.status, afterCut.body.data.code], [409, 'UPLOAD_INCOMPLETE'], 'an upload cut halfway: UPLOAD_INCOMPLETE')
    t.equal((await objects.head(`files/${cut.body.data.file_id}`))?.size ?? 0, 0, 'and no partial file is visible')

    // Another user's file: not completed, not resumed, not downloaded by someone who cannot read it.
    const mine = await uploadFile(chime, ann!, general, Buffer.from('mine'), 'mine.txt')
    for (const [action, path] of [['COMPLETE_UPLOAD', '/api/files/complete/'], ['UPLOAD_FILE', '/api/files/upload/'], ['DOWNLOAD_FILE', '/api/files/download/']] as const) {
      const r = await fileAction(chime, eve!, path, action, { file_id: mine.file_id })
      t.same([r.status, r.body.data.code], [404, 'FILE_NOT_FOUND'], `${action} of another user's file`)
    }
    for (const bad of ['', '../x', 'a/b', 42]) {
      const r = await fileAction(chime, ann!, '/api/files/download/', 'DOWNLOAD_FILE', { file_id: bad })
      t.same([r.status, r.body.data.code], [400, 'INVALID_FIELD'], `a malformed file id ${JSON.stringify(bad)}`)
    }
    t.equal((await download(ann!, mine.file_id, { thumbnail: 'yes' })).body.data.code, 'INVALID_FIELD', 'thumbnail must be a boolean')
  })

  await t.test('a deleted message takes its files along, unless a forward still carries them', async (t) => {
    const a = await uploadFile(chime, ann!, general, Buffer.from('only here'), 'a.txt')
    const b = await uploadFile(chime, ann!, general, Buffer.from('forwarded'), 'b.txt')
    const m1 = await post(ann!, { channel_id: general, content: 'one', attachments: [{ file_id: a.file_id }] })
    const m2 = await post(ann!, { channel_id: general, content: 'two', attachments: [{ file_id: b.file_id }] })
    const chat = ((await call(bob!, 'POST', '/api/chats', { user_ids: [eve!.user_id] })).body as unknown as { chat_id: string }).chat_id
    await post(bob!, { channel_id: chat, forward_of: m2.delta_id })
    t.equal(code(await download(eve!, b.file_id)), 'DOWNLOAD_FILE_RESPONSE', 'a forward shares the file with the readers of its chat')
    for (const m of [m1, m2]) t.equal(code(await act(ann!, 'DELETE_MESSAGE', { message_id: m.delta_id })), 'DELETE_MESSAGE_RESPONSE')
    t.equal(await rowOf(a.file_id), null, 'the file only the deleted message carried is gone')
    t.equal(await objects.head(`files/${a.file_id}`), null, 'with its bytes')
    t.not(await rowOf(b.file_id), null, 'the forwarded one stays')
    t.equal(code(await download(eve!, b.file_id)), 'DOWNLOAD_FILE_RESPONSE', 'and can still be read where it was forwarded')
    t.equal(code(await download(bob!, a.file_id)), 'FILE_NOT_FOUND', 'the removed file is not found')
  })

  await t.test('the sweeper: uploads never completed and files never attached go after their time', async (t) => {
    const core = chime.running.core!
    const never = await fileAction<UploadFileResponseData>(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', { channel_id: general, name: 'never.bin', size: 6 * MIB, sha256: sha256(Buffer.alloc(6 * MIB)) })
    await putBytes(chime, never.body.data.parts![0]!.upload_url, Buffer.alloc(5 * MIB))
    const orphan = await uploadFile(chime, ann!, general, Buffer.from('never posted'), 'orphan.txt')
    const kept = await uploadFile(chime, ann!, general, Buffer.from('posted'), 'kept.txt')
    await post(ann!, { channel_id: general, content: 'kept', attachments: [{ file_id: kept.file_id }] })
    t.same(await sweepFiles(core), { expiredUploads: 0, orphans: 0 }, 'nothing is due yet')
    const later = new Date(Date.now() + (core.config.fileOrphanSeconds + 60) * 1000)
    const swept = await sweepFiles(core, later)
    t.ok(swept.expiredUploads >= 1 && swept.orphans >= 1, `the expired upload and the orphan are removed (${JSON.stringify(swept)})`)
    t.equal(await rowOf(never.body.data.file_id), null, 'the unfinished upload is gone')
    t.equal(await rowOf(orphan.file_id), null, 'the orphan is gone')
    t.equal(await objects.head(`files/${orphan.file_id}`), null, 'with its bytes')
    t.not(await rowOf(kept.file_id), null, 'a file a message carries stays')
    t.equal(code(await fileAction(chime, ann!, '/api/files/upload/', 'UPLOAD_FILE', { file_id: never.body.data.file_id })), 'FILE_NOT_FOUND', 'the expired upload cannot be resumed')
  })

  await t.test('account deletion: files no message carries go at once; files in messages stay with them', async (t) => {
    const zed = await chime.register()
    t.equal((await call(zed, 'POST', `/api/servers/${server.server_id}/join`)).status, 200)
    const loose = await uploadFile(chime, zed, general, Buffer.from('loose'), 'loose.txt')
    const shared = await uploadFile(chime, zed, general, Buffer.from('shared'), 'shared.txt')
    await post(zed, { channel_id: general, content: 'shared', attachments: [{ file_id: shared.file_id }] })
    t.equal((await call(zed, 'DELETE', '/api/users/me', { password: 'correct horse battery' })).status, 200)
    t.equal(await rowOf(loose.file_id), null, 'the unattached upload is gone')
    t.equal(code(await download(bob!, shared.file_id)), 'DOWNLOAD_FILE_RESPONSE', 'the file in a message stays readable')
  })
}

t.test('files', async (t) => {
  await bothProfiles(t, 'files', run)
})
