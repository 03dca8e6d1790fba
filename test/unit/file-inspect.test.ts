// File inspection: the type comes from the bytes, never from the uploader's name or
// Content-Type; only decodable raster images within the pixel and byte limits and browser
// media are inline; images get their displayed size and a thumbnail that fits 320x320, is
// EXIF-oriented and carries no metadata; bad or hostile bytes never throw and never reach
// sharp's other loaders. Every file here is made by the test itself.
import t, { type Test } from 'tap'
import { Readable } from 'node:stream'
import sharp from 'sharp'
import {
  INLINE_TYPES,
  inspectFile,
  readAllBytes,
  readFirstBytes,
  SNIFF_BYTES,
  sniffType,
  ByteLimitExceededError,
  type FileInspection,
  type FileSource,
  type InspectOptions,
} from '../../api/src/files/inspect.ts'

/** A source over `bytes` the way the file service builds one: the first bytes, the size, a way to read it all. */
function sourceOf(bytes: Buffer, opts: { size?: number | null; chunk?: number; open?: () => Readable | null } = {}): FileSource & { opened: () => number } {
  let opened = 0
  const chunk = opts.chunk ?? 64 * 1024
  return {
    head: bytes.subarray(0, SNIFF_BYTES),
    ...(opts.size === null ? {} : { size: opts.size ?? bytes.length }),
    open: () => {
      opened += 1
      if (opts.open !== undefined) return opts.open()
      const parts: Buffer[] = []
      for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk))
      return Readable.from(parts)
    },
    opened: () => opened,
  }
}

async function inspect(bytes: Buffer, options: InspectOptions = {}, source = sourceOf(bytes)): Promise<FileInspection & { opened: number }> {
  const result = await inspectFile(source, options)
  return { ...result, opened: source.opened() }
}

/** Gaussian noise compresses badly, so these images are far bigger than the sniffed head. */
function noisy(width: number, height: number) {
  return sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
}

async function checkThumbnail(t: Test, r: FileInspection, width: number, height: number, mime = 'image/webp') {
  t.ok(r.thumbnail, 'has a thumbnail')
  if (r.thumbnail === undefined) return
  t.equal(r.thumbnail.mime, mime)
  t.same([r.thumbnail.width, r.thumbnail.height], [width, height], `thumbnail is ${width}x${height}`)
  t.ok(r.thumbnail.width <= 320 && r.thumbnail.height <= 320, 'fits in 320x320')
  const meta = await sharp(r.thumbnail.bytes).metadata()
  t.equal(`image/${meta.format}`, mime, 'the thumbnail bytes decode as what they claim')
  t.same([meta.width, meta.height], [width, height], 'and have the stated size')
  t.equal(meta.exif, undefined, 'no EXIF left in the thumbnail')
  t.equal(meta.orientation, undefined, 'no orientation tag left')
}

/** Deterministic bytes no signature matches, with NULs and invalid UTF-8 in them. */
function pseudoRandomBytes(n: number): Buffer {
  const out = Buffer.alloc(n)
  let x = 0x2545f491
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  out[0] = 0x7f // not the first byte of any signature file-type knows
  out[10] = 0x00
  out[11] = 0xff
  return out
}

function mp4Header(): Buffer {
  const box = (type: string, body: Buffer) => {
    const h = Buffer.alloc(8)
    h.writeUInt32BE(8 + body.length)
    h.write(type, 4, 'latin1')
    return Buffer.concat([h, body])
  }
  return Buffer.concat([box('ftyp', Buffer.concat([Buffer.from('isom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2avc1mp41')])), box('free', Buffer.alloc(0)), box('mdat', Buffer.alloc(16))])
}

function webmHeader(): Buffer {
  const el = (id: number[], body: Buffer) => Buffer.concat([Buffer.from(id), Buffer.from([0x80 | body.length]), body])
  const ebml = el([0x1a, 0x45, 0xdf, 0xa3], Buffer.concat([
    el([0x42, 0x86], Buffer.from([1])), // EBMLVersion
    el([0x42, 0x82], Buffer.from('webm')), // DocType
    el([0x42, 0x87], Buffer.from([4])), // DocTypeVersion
    el([0x42, 0x85], Buffer.from([2])), // DocTypeReadVersion
  ]))
  return Buffer.concat([ebml, Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0, 0, 0, 0, 0, 0, 0])]) // Segment
}

function wavHeader(): Buffer {
  const b = Buffer.alloc(44)
  b.write('RIFF', 0); b.writeUInt32LE(36, 4); b.write('WAVE', 8); b.write('fmt ', 12)
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(8000, 24)
  b.writeUInt32LE(16000, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(0, 40)
  return b
}

const PNG_MAGIC = Buffer.from('89504e470d0a1a0a', 'hex')
const HTML = Buffer.from('<!doctype html><html><body><script>fetch("/steal?c=" + document.cookie)</script></body></html>\n')
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(document.domain)</script></svg>\n')
const SVG_WITH_PROLOG = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n'), SVG])

t.test('raster images: sniffed type, inline, displayed size, a 320x320 thumbnail read through the stream', async (t) => {
  const cases: Array<{ name: string; bytes: Buffer; mime: string; size: [number, number]; thumb: [number, number] }> = [
    { name: 'PNG', bytes: await noisy(640, 480).png().toBuffer(), mime: 'image/png', size: [640, 480], thumb: [320, 240] },
    { name: 'JPEG', bytes: await noisy(300, 900).jpeg().toBuffer(), mime: 'image/jpeg', size: [300, 900], thumb: [107, 320] },
    { name: 'WebP', bytes: await noisy(1000, 1000).webp().toBuffer(), mime: 'image/webp', size: [1000, 1000], thumb: [320, 320] },
    { name: 'GIF', bytes: await noisy(500, 100).gif().toBuffer(), mime: 'image/gif', size: [500, 100], thumb: [320, 64] },
    { name: 'AVIF', bytes: await noisy(400, 300).avif().toBuffer(), mime: 'image/avif', size: [400, 300], thumb: [320, 240] },
  ]
  for (const c of cases) {
    t.ok(c.bytes.length > SNIFF_BYTES, `${c.name} is bigger than the sniffed head`)
    const r = await inspect(c.bytes, { declaredName: 'upload.bin', declaredMime: 'application/octet-stream' })
    t.equal(r.mime, c.mime, `${c.name}: sniffed, whatever was declared`)
    t.equal(r.contentType, c.mime)
    t.equal(r.inline, true, `${c.name}: inline`)
    t.same([r.width, r.height], c.size, `${c.name}: dimensions`)
    t.equal(r.imageIssue, undefined)
    t.equal(r.opened, 1, `${c.name}: the whole file was read once`)
    await checkThumbnail(t, r, ...c.thumb)
  }
})

t.test('a small image is never enlarged, and one whole in the head is not fetched again', async (t) => {
  const png = await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 0, g: 128, b: 0, alpha: 0.5 } } }).png().toBuffer()
  t.ok(png.length < SNIFF_BYTES)
  const r = await inspect(png)
  t.equal(r.mime, 'image/png')
  t.equal(r.inline, true)
  t.same([r.width, r.height], [40, 30])
  t.equal(r.opened, 0, 'the head already held every byte')
  await checkThumbnail(t, r, 40, 30)
})

t.test('EXIF orientation 6: dimensions as displayed, the thumbnail rotated and stripped', async (t) => {
  const jpeg = await noisy(400, 200).jpeg().withMetadata({ orientation: 6 }).toBuffer()
  t.equal((await sharp(jpeg).metadata()).orientation, 6, 'the source carries orientation 6')
  const r = await inspect(jpeg)
  t.same([r.width, r.height], [200, 400], 'stored 400x200, shown 200x400')
  await checkThumbnail(t, r, 160, 320)
})

t.test('a JPEG thumbnail puts transparency on white', async (t) => {
  const png = await sharp({ create: { width: 800, height: 400, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer()
  const r = await inspect(png, { thumbnailMime: 'image/jpeg' })
  await checkThumbnail(t, r, 320, 160, 'image/jpeg')
  const { data } = await sharp(r.thumbnail!.bytes).raw().toBuffer({ resolveWithObject: true })
  t.ok(data[0]! > 240 && data[1]! > 240 && data[2]! > 240, 'a transparent pixel came out white')
})

t.test('browser media is inline by its sniffed type and never decoded; documents are not inline', async (t) => {
  const cases: Array<{ name: string; bytes: Buffer; mime: string; inline: boolean }> = [
    { name: 'MP4', bytes: mp4Header(), mime: 'video/mp4', inline: true },
    { name: 'WebM', bytes: webmHeader(), mime: 'video/webm', inline: true },
    { name: 'WAV', bytes: wavHeader(), mime: 'audio/wav', inline: true },
    { name: 'PDF', bytes: Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'), mime: 'application/pdf', inline: false },
  ]
  for (const c of cases) {
    const r = await inspect(c.bytes, { declaredMime: 'image/png', declaredName: 'photo.png' })
    t.equal(r.mime, c.mime, `${c.name}: sniffed`)
    t.equal(r.inline, c.inline, `${c.name}: inline ${c.inline}`)
    t.equal(r.width, undefined)
    t.equal(r.thumbnail, undefined)
    t.equal(r.opened, 0, `${c.name}: never read in full`)
  }
})

t.test('markup is never an inline type, whatever the uploader called it', async (t) => {
  const cases: Array<{ name: string; bytes: Buffer; declaredName: string; declaredMime: string; mime: string }> = [
    { name: 'an HTML page', bytes: HTML, declaredName: 'index.html', declaredMime: 'text/html', mime: 'text/plain' },
    { name: 'cat.png holding HTML', bytes: HTML, declaredName: 'cat.png', declaredMime: 'image/png', mime: 'text/plain' },
    { name: 'an SVG with a script', bytes: SVG, declaredName: 'logo.svg', declaredMime: 'image/svg+xml', mime: 'text/plain' },
    { name: 'an SVG with an XML prolog', bytes: SVG_WITH_PROLOG, declaredName: 'logo.png', declaredMime: 'image/png', mime: 'application/xml' },
    { name: 'JavaScript', bytes: Buffer.from('document.body.innerHTML = "<img src=x onerror=alert(1)>"\n'), declaredName: 'app.js', declaredMime: 'text/javascript', mime: 'text/plain' },
  ]
  for (const c of cases) {
    const r = await inspect(c.bytes, { declaredName: c.declaredName, declaredMime: c.declaredMime })
    t.equal(r.mime, c.mime, `${c.name}: ${c.mime}`)
    t.equal(r.inline, false, `${c.name}: not inline`)
    t.equal(r.thumbnail, undefined, `${c.name}: no thumbnail`)
    t.equal(r.opened, 0, `${c.name}: never handed to the image decoder`)
  }
  for (const banned of ['image/svg+xml', 'text/html', 'application/xhtml+xml', 'application/xml', 'text/xml', 'application/pdf', 'text/javascript', 'application/javascript', 'text/plain']) {
    t.notOk(INLINE_TYPES.has(banned), `${banned} is not in the inline list`)
  }
})

t.test('text: UTF-8 is text/plain with a charset, flavoured only by a text name or type', async (t) => {
  const text = Buffer.from('Grüße aus Köln — 東京 ✓\nline two\tand a tab\r\n')
  const plain = await inspect(text, { declaredName: 'notes.txt' })
  t.same([plain.mime, plain.ext, plain.contentType, plain.inline], ['text/plain', 'txt', 'text/plain; charset=utf-8', false])

  const csv = await inspect(Buffer.from('a,b\n1,2\n'), { declaredName: 'data.csv' })
  t.same([csv.mime, csv.ext, csv.contentType, csv.inline], ['text/csv', 'csv', 'text/csv; charset=utf-8', false], 'named .csv')
  const md = await inspect(Buffer.from('# Title\n'), { declaredMime: 'text/markdown; charset=utf-8' })
  t.equal(md.mime, 'text/markdown', 'declared text/markdown')
  const html = await inspect(HTML, { declaredMime: 'text/html' })
  t.equal(html.contentType, 'text/plain; charset=utf-8', 'a declared text/html does not make it HTML')

  const long = Buffer.concat([Buffer.alloc(SNIFF_BYTES - 1, 0x61), Buffer.from('é and more text after the head')])
  const cut = await inspect(long)
  t.equal(cut.mime, 'text/plain', 'a character cut at the end of the head is still text')
  const whole = await sniffType(Buffer.from('é').subarray(0, 1), { complete: true })
  t.equal(whole.mime, 'application/octet-stream', 'but a file that really ends mid-character is not text')
})

t.test('random bytes and an empty file are opaque bytes, not inline, and do not throw', async (t) => {
  const random = await inspect(pseudoRandomBytes(10_000))
  t.same([random.mime, random.ext, random.inline], ['application/octet-stream', 'bin', false])
  const empty = await inspect(Buffer.alloc(0), { declaredName: 'empty.png', declaredMime: 'image/png' })
  t.same([empty.mime, empty.inline, empty.thumbnail, empty.opened], ['application/octet-stream', false, undefined, 0])
  const nulText = await inspect(Buffer.from('hello\0world'))
  t.equal(nulText.mime, 'application/octet-stream', 'text with a NUL is binary')
})

t.test('a PNG signature followed by garbage: no thumbnail, not inline, no throw', async (t) => {
  const bare = await inspect(Buffer.concat([PNG_MAGIC, Buffer.alloc(200, 0x41)]))
  t.same([bare.mime, bare.inline, bare.thumbnail, bare.width, bare.opened], ['application/octet-stream', false, undefined, undefined, 0],
    'without an image header chunk it is not even called PNG')

  // A real signature and IHDR, then an IDAT chunk of noise: sniffed PNG, and the decoder fails.
  const ihdr = (await noisy(100, 100).png().toBuffer()).subarray(0, 8 + 25)
  const idat = (n: number) => {
    const h = Buffer.alloc(8)
    h.writeUInt32BE(n)
    h.write('IDAT', 4, 'latin1')
    return Buffer.concat([h, pseudoRandomBytes(n), Buffer.alloc(4)])
  }
  const small = await inspect(Buffer.concat([ihdr, idat(200)]))
  t.same([small.mime, small.inline, small.thumbnail, small.width, small.imageIssue, small.opened], ['image/png', false, undefined, undefined, 'undecodable', 0], 'whole in the head')
  const big = await inspect(Buffer.concat([ihdr, idat(20_000)]))
  t.same([big.mime, big.inline, big.thumbnail, big.width, big.imageIssue, big.opened], ['image/png', false, undefined, undefined, 'undecodable', 1], 'read through the stream')

  // A real image whose pixel data is cut off: the decoder fails partway.
  const real = await noisy(300, 300).png().toBuffer()
  const truncated = await inspect(real.subarray(0, real.length - 5000))
  t.same([truncated.mime, truncated.inline, truncated.thumbnail, truncated.imageIssue], ['image/png', false, undefined, 'undecodable'], 'truncated PNG')
})

t.test('decompression bombs: above the pixel limit there is no decode, no size, no thumbnail, not inline', async (t) => {
  // 8000 x 7000 = 56 megapixels of one colour: about 180 kB of PNG.
  const huge = await sharp({ create: { width: 8000, height: 7000, channels: 3, background: '#336699' } }).png({ compressionLevel: 9 }).toBuffer()
  const r = await inspect(huge)
  t.same([r.mime, r.inline, r.width, r.height, r.thumbnail, r.imageIssue], ['image/png', false, undefined, undefined, undefined, 'too-many-pixels'])
  t.equal(r.opened, 0, 'refused from the header alone, before fetching the file')

  const allowed = await inspect(await noisy(1200, 1000).png().toBuffer(), { maxInputPixels: 1_200_000 })
  t.equal(allowed.inline, true, 'exactly at the limit is decoded')
  const refused = await inspect(await noisy(1200, 1000).png().toBuffer(), { maxInputPixels: 1_199_999 })
  t.equal(refused.imageIssue, 'too-many-pixels', 'the limit is a parameter')

  // The header sits after a 10 kB EXIF block, beyond the sniffed head: the full read decides.
  const lateHeader = await noisy(600, 600).jpeg().withExif({ IFD0: { ImageDescription: 'x'.repeat(10_000) } }).toBuffer()
  const late = await inspect(lateHeader, { maxInputPixels: 100_000 })
  t.same([late.mime, late.inline, late.thumbnail, late.imageIssue, late.opened], ['image/jpeg', false, undefined, 'too-many-pixels', 1])
  const lateOk = await inspect(lateHeader)
  t.same([lateOk.width, lateOk.height, lateOk.inline], [600, 600, true], 'and decodes it under the default limit')

  // Frames count: 10 frames of 100x100 is 100,000 pixels for a browser showing it inline.
  const w = 100, h = 100, frames = 10
  const raw = Buffer.alloc(w * h * frames * 3)
  for (let f = 0; f < frames; f++) raw.fill(f * 25, f * w * h * 3, (f + 1) * w * h * 3)
  const gif = await sharp(raw, { raw: { width: w, height: h * frames, channels: 3, pageHeight: h } }).gif({ delay: 100 }).toBuffer()
  const animated = await inspect(gif, { maxInputPixels: 99_999 })
  t.equal(animated.imageIssue, 'too-many-pixels', 'an animation counts every frame')
  const animatedOk = await inspect(gif, { maxInputPixels: 100_000 })
  t.same([animatedOk.width, animatedOk.height, animatedOk.inline], [100, 100, true], 'its size is one frame')
})

t.test('the byte limit: a larger image is not read whole, whether the store told its size or not', async (t) => {
  const png = await noisy(400, 400).png().toBuffer()
  const told = await inspect(png, { maxImageBytes: png.length - 1 })
  t.same([told.imageIssue, told.inline, told.opened], ['too-many-bytes', false, 0], 'size known: not even opened')

  let stream: Readable | undefined
  const source = sourceOf(png, {
    size: null,
    open: () => (stream = Readable.from((function* () { for (let i = 0; i < png.length; i += 1000) yield png.subarray(i, i + 1000) })())),
  })
  const untold = await inspect(png, { maxImageBytes: 50_000 }, source)
  t.same([untold.imageIssue, untold.inline, untold.opened], ['too-many-bytes', false, 1], 'size unknown: read up to the limit')
  t.ok(stream?.destroyed, 'and the stream was closed there')
})

t.test('the bytes decoded must be the bytes sniffed', async (t) => {
  const png = await noisy(400, 400).png().toBuffer()
  const swapped = sourceOf(png, { open: () => Readable.from([Buffer.concat([SVG, Buffer.alloc(png.length - SVG.length, 0x20)])]) })
  const r = await inspect(png, {}, swapped)
  t.same([r.mime, r.inline, r.thumbnail, r.imageIssue], ['image/png', false, undefined, 'undecodable'], 'an SVG behind a PNG head is never decoded')
})

t.test('the store: a vanished object is no thumbnail, a failing one is thrown on', async (t) => {
  const png = await noisy(400, 400).png().toBuffer()
  const gone = await inspect(png, {}, sourceOf(png, { open: () => null }))
  t.same([gone.mime, gone.inline, gone.imageIssue], ['image/png', false, 'missing'])

  const failing = sourceOf(png, {
    open: () => {
      let sent = false
      return new Readable({
        read() {
          if (!sent) { sent = true; this.push(png.subarray(0, 8192)) } else this.destroy(new Error('connection reset by the store'))
        },
      })
    },
  })
  await t.rejects(inspectFile(failing), { message: 'connection reset by the store' }, 'a store failure is not a bad file')
})

t.test('options out of range are refused', async (t) => {
  await t.rejects(inspectFile(sourceOf(Buffer.from('x')), { maxInputPixels: 0 }), RangeError)
  await t.rejects(inspectFile(sourceOf(Buffer.from('x')), { thumbnailSize: 1.5 }), RangeError)
})

t.test('readFirstBytes: at most N bytes, and the rest is never pulled', async (t) => {
  let produced = 0
  function* chunks() {
    for (let i = 0; i < 100; i++) { produced += 1; yield Buffer.alloc(1000, i) }
  }
  const stream = Readable.from(chunks())
  const head = await readFirstBytes(stream, SNIFF_BYTES)
  t.equal(head.length, SNIFF_BYTES)
  t.equal(head[999], 0)
  t.equal(head[1000], 1)
  t.equal(head[SNIFF_BYTES - 1], 4)
  t.ok(produced < 10, `stopped after ${produced} of 100 chunks`)
  t.ok(stream.destroyed, 'the stream is closed')

  t.same(await readFirstBytes(Readable.from([Buffer.from('short')]), SNIFF_BYTES), Buffer.from('short'), 'a short stream: all of it')
  t.same(await readFirstBytes(Readable.from([]), SNIFF_BYTES), Buffer.alloc(0), 'an empty stream: nothing')
  t.same(await readFirstBytes(Readable.from([Buffer.from('abc')]), 0), Buffer.alloc(0), 'a zero limit: nothing')
})

t.test('readAllBytes: the exact content whatever size was announced, and the limit holds', async (t) => {
  const bytes = pseudoRandomBytes(10_000)
  const parts = () => Readable.from([bytes.subarray(0, 3000), bytes.subarray(3000, 7000), bytes.subarray(7000)])
  t.same(await readAllBytes(parts(), { maxBytes: 10_000, expectedSize: 10_000 }), bytes, 'size right')
  t.same(await readAllBytes(parts(), { maxBytes: 10_000, expectedSize: 5000 }), bytes, 'size announced too small')
  t.same(await readAllBytes(parts(), { maxBytes: 20_000, expectedSize: 15_000 }), bytes, 'size announced too large')
  t.same(await readAllBytes(parts(), { maxBytes: 10_000 }), bytes, 'no size')
  await t.rejects(readAllBytes(parts(), { maxBytes: 9999 }), ByteLimitExceededError, 'one byte over')
})
