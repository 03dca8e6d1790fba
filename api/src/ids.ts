import { randomBytes } from 'node:crypto'

// Time-ordered ids for users, servers and channels: 10 characters of milliseconds and 16
// random ones in Crockford base32 (the ULID layout). Sortable by creation, safe in topics.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

export function newId(now: number = Date.now()): string {
  let time = ''
  let t = now
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  const bytes = randomBytes(16)
  let rand = ''
  for (let i = 0; i < 16; i++) rand += ALPHABET[bytes[i]! % 32]
  return time + rand
}
