// The LIST_CHATS readable-set cache trusts an entry only for the same fingerprint (servers,
// roles, server-log positions) and exactly the same candidate channels, within its TTL, and
// stays within its size bound.
import t from 'tap'
import { ReadableCache } from '../../api/src/services/readable-cache.ts'

t.test('an entry holds only for the same fingerprint and the same candidates', async (t) => {
  const cache = new ReadableCache({ ttlMs: 1000, maxIds: 100 })
  const candidates = ['a', 'b', 'private']
  cache.set('u', 'fp1', ['a', 'b'], candidates, 0)
  t.same([...(cache.get('u', 'fp1', ['b', 'private', 'a'], 10) ?? [])].sort(), ['a', 'b'], 'same fingerprint, same candidates in another order')
  t.equal(cache.get('u', 'fp2', candidates, 10), undefined, 'a server log moved (a permission or membership change): miss')
  t.equal(cache.get('u', 'fp1', candidates, 10), undefined, 'and the stale entry is gone')
  cache.set('u', 'fp1', ['a', 'b'], candidates, 0)
  t.equal(cache.get('u', 'fp1', [...candidates, 'new'], 10), undefined, 'a new channel or chat: miss')
  cache.set('u', 'fp1', ['a', 'b'], candidates, 0)
  t.equal(cache.get('u', 'fp1', ['a', 'b'], 10), undefined, 'a channel gone: miss')
  cache.set('u', 'fp1', ['a', 'b'], candidates, 0)
  t.equal(cache.get('u', 'fp1', ['a', 'b', 'other'], 10), undefined, 'one swapped for another: miss')
  cache.set('u', 'fp1', ['a', 'b'], candidates, 0)
  t.equal(cache.get('u', 'fp1', candidates, 1000), undefined, 'past the TTL: miss')
  t.equal(cache.get('nobody', 'fp1', candidates, 10), undefined, 'another user: miss')
})

t.test('an answer naming channels the membership query does not is not kept', async (t) => {
  const cache = new ReadableCache({ ttlMs: 1000, maxIds: 100 })
  cache.set('u', 'fp', ['a', 'elsewhere'], ['a'], 0)
  t.equal(cache.get('u', 'fp', ['a'], 10), undefined)
})

t.test('the least recently used entries go first past the size bound', async (t) => {
  const cache = new ReadableCache({ ttlMs: 10_000, maxIds: 5 })
  cache.set('u1', 'f', ['a', 'b'], ['a', 'b'], 0)
  cache.set('u2', 'f', ['c', 'd'], ['c', 'd'], 0)
  t.ok(cache.get('u1', 'f', ['a', 'b'], 1), 'u1 used again')
  cache.set('u3', 'f', ['e', 'f'], ['e', 'f'], 0)
  t.equal(cache.get('u2', 'f', ['c', 'd'], 2), undefined, 'u2, least recently used, was dropped')
  t.ok(cache.get('u1', 'f', ['a', 'b'], 2), 'u1 kept')
  t.ok(cache.get('u3', 'f', ['e', 'f'], 2), 'u3 kept')
})
