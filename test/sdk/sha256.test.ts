// The SDK's SHA-256 for uploads (clients/sdk/src/files.ts): where crypto.subtle is missing (a
// browser page over plain http from a LAN address) the JS fallback hashes a chunk at a time,
// from bytes or a Blob read slice by slice, and gives the digest node's crypto gives.
import { createHash } from 'node:crypto'
import t from 'tap'
import { sha256Hex, sha256HexIncremental } from '../../clients/sdk/src/files.ts'

function bytesOf(n: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = 0x9e3779b9
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

const nodeHex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

t.test('the JS fallback gives the digest node gives, over many chunks', async (t) => {
  // 10 MiB + 17 bytes in 4 MiB chunks (3 chunks, the last short), and odd-sized small chunks
  // so chunk edges fall inside the hash's 64-byte blocks.
  const big = bytesOf(10 * 1024 * 1024 + 17)
  t.equal(await sha256HexIncremental(big), nodeHex(big), 'bytes, 4 MiB chunks')
  t.equal(await sha256HexIncremental(new Blob([big as Uint8Array<ArrayBuffer>])), nodeHex(big), 'a Blob, read 4 MiB at a time')
  const small = bytesOf(100_003)
  t.equal(await sha256HexIncremental(small, 1000), nodeHex(small), 'bytes, 101 chunks of 1,000')
  t.equal(await sha256HexIncremental(new Blob([small as Uint8Array<ArrayBuffer>]), 4097), nodeHex(small), 'a Blob, chunks of 4,097')
  t.equal(await sha256HexIncremental(new Uint8Array(0)), nodeHex(new Uint8Array(0)), 'no bytes at all')
})

t.test('sha256Hex takes crypto.subtle when there is one, and falls back when there is none', async (t) => {
  const data = bytesOf(300_000)
  t.ok(globalThis.crypto?.subtle, 'node has crypto.subtle')
  t.equal(await sha256Hex(data), nodeHex(data), 'with crypto.subtle')
  const digest = globalThis.crypto.subtle.digest
  let subtleCalls = 0
  const spy = async (...args: Parameters<SubtleCrypto['digest']>): Promise<ArrayBuffer> => {
    subtleCalls++
    return digest.apply(globalThis.crypto.subtle, args)
  }
  Object.defineProperty(globalThis.crypto.subtle, 'digest', { value: spy, configurable: true, writable: true })
  t.equal(await sha256Hex(new Blob([data as Uint8Array<ArrayBuffer>])), nodeHex(data), 'a Blob with crypto.subtle')
  t.equal(subtleCalls, 1, 'crypto.subtle did the hashing')
  Object.defineProperty(globalThis.crypto.subtle, 'digest', { value: digest, configurable: true, writable: true })

  // What an insecure context looks like: crypto without subtle.
  const original = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!
  Object.defineProperty(globalThis, 'crypto', { value: { getRandomValues: globalThis.crypto.getRandomValues.bind(globalThis.crypto) }, configurable: true })
  t.teardown(() => Object.defineProperty(globalThis, 'crypto', original))
  t.equal(globalThis.crypto.subtle, undefined, 'crypto.subtle is gone')
  const big = bytesOf(9 * 1024 * 1024 + 5)
  t.equal(await sha256Hex(big), nodeHex(big), 'the fallback: same digest, multi-chunk')
  t.equal(await sha256Hex(new Blob([big as Uint8Array<ArrayBuffer>])), nodeHex(big), 'and for a Blob')
  Object.defineProperty(globalThis, 'crypto', original)
})
