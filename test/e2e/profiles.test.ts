// Profiles (name, status, time zone, icon), finding users, favorites and blocks, on the
// embedded profile and on MariaDB + Redis.
import t, { type Test } from 'tap'
import { openDatabase } from '../../api/src/db/open-database.ts'
import { Relations } from '../../api/src/store/relations.ts'
import { createAccessBus, type AccessEvent } from '../../broker/src/access-events.ts'
import { startTestChime, type TestChime } from '../helpers/chime.ts'
import { freshMysqlUrl } from '../helpers/databases.ts'
import { startRedis } from '../helpers/redis.ts'
import { waitFor } from '../helpers/wait.ts'
import { expectError } from '../helpers/expect.ts'
import type { PublicProfile } from '../../api/src/services/profiles.ts'

type Profile = PublicProfile & { created_at?: string }

async function profilesSuite(t: Test, chime: TestChime): Promise<void> {
  const db = await openDatabase(chime.running.databaseUrl)
  t.teardown(() => db.close())
  const events: AccessEvent[] = []
  const bus = createAccessBus(chime.running.aedes!)
  bus.subscribe((e) => events.push(e))
  t.teardown(() => bus.close())

  await t.test('own profile: read and update name, status, time zone and icon', async (t) => {
    const alice = await chime.register()
    const me = await chime.http<Profile>('GET', '/api/users/me', { token: alice.token })
    t.equal(me.status, 200)
    t.match(me.body, { user_id: alice.user_id, username: alice.username, display_name: alice.username, status_text: null, timezone: null, icon_file_id: null, created_at: String })
    const patch = (body: object) => chime.http<Profile>('PATCH', '/api/users/me', { token: alice.token, body })
    const up = await patch({ display_name: '  Alice Liddell ', status_text: 'Down the rabbit hole', timezone: 'Europe/London', icon_file_id: 'file_01ABC' })
    t.equal(up.status, 200)
    t.match(up.body, { display_name: 'Alice Liddell', status_text: 'Down the rabbit hole', timezone: 'Europe/London', icon_file_id: 'file_01ABC' })
    t.match((await chime.http<Profile>('GET', '/api/users/me', { token: alice.token })).body, { display_name: 'Alice Liddell', timezone: 'Europe/London' }, 'stored')
    t.match((await patch({ timezone: 'America/Argentina/Buenos_Aires' })).body, { timezone: 'America/Argentina/Buenos_Aires', status_text: 'Down the rabbit hole' }, 'fields not given stay')
    t.match((await patch({ status_text: null, icon_file_id: null })).body, { status_text: null, icon_file_id: null }, 'null clears')

    const bad: [object, string][] = [
      [{ timezone: 'Mars/Olympus_Mons' }, 'an unknown time zone'],
      [{ timezone: '+01:00' }, 'an offset instead of a zone name'],
      [{ timezone: 42 }, 'a number as time zone'],
      [{ display_name: '   ' }, 'a blank display name'],
      [{ display_name: 'x'.repeat(129) }, 'a display name over 128 characters'],
      [{ status_text: 's'.repeat(257) }, 'a status over 256 characters'],
      [{ icon_file_id: 'not an id!' }, 'a malformed icon id'],
    ]
    for (const [body, what] of bad) expectError(t, await patch(body), 400, 'INVALID_FIELD', what)
    t.match((await chime.http<Profile>('GET', '/api/users/me', { token: alice.token })).body, { display_name: 'Alice Liddell', timezone: 'America/Argentina/Buenos_Aires' }, 'refused updates change nothing')
    expectError(t, await chime.http('GET', '/api/users/me'), 401, 'UNAUTHENTICATED', 'without a token')
  })

  await t.test("others' public profiles, by id and by exact username", async (t) => {
    const alice = await chime.register()
    const bob = await chime.register()
    await chime.http('PATCH', '/api/users/me', { token: bob.token, body: { display_name: 'Bob', status_text: 'busy', timezone: 'Asia/Tokyo' } })
    const byId = await chime.http<Profile>('GET', `/api/users/${bob.user_id}`, { token: alice.token })
    t.equal(byId.status, 200)
    t.same(byId.body, { user_id: bob.user_id, username: bob.username, display_name: 'Bob', status_text: 'busy', timezone: 'Asia/Tokyo', icon_file_id: null }, 'the public profile')
    const byName = await chime.http<Profile>('GET', `/api/users?username=${encodeURIComponent(bob.username)}`, { token: alice.token })
    t.equal(byName.status, 200)
    t.equal(byName.body.user_id, bob.user_id, 'found by exact username; the user id is what to share')
    expectError(t, await chime.http('GET', `/api/users?username=${bob.username}zz`, { token: alice.token }), 404, 'USER_NOT_FOUND', 'an unknown username')
    expectError(t, await chime.http('GET', `/api/users?username=${bob.username.slice(0, -1)}`, { token: alice.token }), 404, 'USER_NOT_FOUND', 'a prefix is not a match')
    expectError(t, await chime.http('GET', '/api/users', { token: alice.token }), 400, 'INVALID_FIELD', 'no username')
    expectError(t, await chime.http('GET', '/api/users/01NOSUCHUSER000000000000000', { token: alice.token }), 404, 'USER_NOT_FOUND', 'an unknown user id')
    expectError(t, await chime.http('GET', '/api/users/bad%20id', { token: alice.token }), 400, 'INVALID_FIELD', 'a malformed user id')
    expectError(t, await chime.http('GET', `/api/users/${bob.user_id}`), 401, 'UNAUTHENTICATED', 'without a token')
  })

  await t.test('favorites', async (t) => {
    const alice = await chime.register()
    const bob = await chime.register()
    const carol = await chime.register()
    const add = await chime.http<{ added: boolean; chat_id: string | null }>('PUT', `/api/favorites/${bob.user_id}`, { token: alice.token })
    t.equal(add.status, 200)
    t.equal(add.body.added, true)
    const dm = await chime.http<{ chat_id: string; created: boolean }>('POST', '/api/chats', { token: bob.token, body: { user_ids: [alice.user_id] } })
    t.same([add.body.chat_id, dm.body.created], [dm.body.chat_id, false], 'favoriting opened the pair’s 1:1 chat')
    const again = await chime.http<{ added: boolean; chat_id: string | null }>('PUT', `/api/favorites/${bob.user_id}`, { token: alice.token })
    t.same([again.body.added, again.body.chat_id], [false, dm.body.chat_id], 'again is a no-op, with the same chat')
    const dave = await chime.register()
    await chime.http('PUT', `/api/blocks/${alice.user_id}`, { token: dave.token })
    const blocked = await chime.http<{ added: boolean; chat_id: string | null }>('PUT', `/api/favorites/${dave.user_id}`, { token: alice.token })
    t.same([blocked.status, blocked.body.chat_id], [200, null], 'favoriting someone who blocked you opens no chat')
    await chime.http('DELETE', `/api/favorites/${dave.user_id}`, { token: alice.token })
    await chime.http('PUT', `/api/favorites/${carol.user_id}`, { token: alice.token })
    const favs = await chime.http<{ favorites: (Profile & { favorited_at: string })[] }>('GET', '/api/favorites', { token: alice.token })
    t.same(favs.body.favorites.map((f) => f.user_id).sort(), [bob.user_id, carol.user_id].sort(), 'listed with their profiles')
    t.ok(favs.body.favorites.every((f) => typeof f.favorited_at === 'string' && f.username !== null))
    t.same((await chime.http<{ favorites: Profile[] }>('GET', '/api/favorites', { token: bob.token })).body.favorites, [], 'favorites are per user')
    t.equal((await chime.http<{ removed: boolean }>('DELETE', `/api/favorites/${carol.user_id}`, { token: alice.token })).body.removed, true)
    t.equal((await chime.http<{ removed: boolean }>('DELETE', `/api/favorites/${carol.user_id}`, { token: alice.token })).body.removed, false, 'removing again is a no-op')
    t.same((await chime.http<{ favorites: Profile[] }>('GET', '/api/favorites', { token: alice.token })).body.favorites.map((f) => f.user_id), [bob.user_id])

    expectError(t, await chime.http('PUT', `/api/favorites/${alice.user_id}`, { token: alice.token }), 400, 'CANNOT_FAVORITE_SELF', 'favoriting yourself')
    expectError(t, await chime.http('PUT', '/api/favorites/01NOSUCHUSER000000000000000', { token: alice.token }), 404, 'USER_NOT_FOUND', 'an unknown user')
    expectError(t, await chime.http('PUT', '/api/favorites/bad%20id', { token: alice.token }), 400, 'INVALID_FIELD', 'a malformed id')
    t.equal(await db.prisma.favorite.count({ where: { userId: alice.user_id } }), 1, 'refused favorites wrote nothing')
  })

  await t.test('blocks: listed, announced to broker nodes, and asked through Relations', async (t) => {
    const alice = await chime.register()
    const bob = await chime.register()
    const relations = new Relations(db)
    const blk = await chime.http<{ added: boolean; blocked: boolean }>('PUT', `/api/blocks/${bob.user_id}`, { token: alice.token })
    t.equal(blk.status, 200)
    t.match(blk.body, { blocked: true, added: true })
    await waitFor('the presence event of the blocker', () => (events.some((e) => e.type === 'presence' && e.userId === alice.user_id) ? true : undefined))
    t.pass('a presence event for the blocker went out on the access bus')
    t.equal(await relations.isBlocked(alice.user_id, bob.user_id), true, 'isBlocked(blocker, blocked)')
    t.equal(await relations.isBlocked(bob.user_id, alice.user_id), false, 'not the other way round')
    t.equal(await relations.blockedEither(bob.user_id, alice.user_id), true, 'blockedEither in either order')
    t.equal(await relations.blockedEither(alice.user_id, bob.user_id), true)
    const blocks = await chime.http<{ blocks: (Profile & { blocked_at: string })[] }>('GET', '/api/blocks', { token: alice.token })
    t.same(blocks.body.blocks.map((b) => b.user_id), [bob.user_id])
    t.same((await chime.http<{ blocks: Profile[] }>('GET', '/api/blocks', { token: bob.token })).body.blocks, [], "the blocked user's list is its own")

    expectError(t, await chime.http('PUT', `/api/blocks/${alice.user_id}`, { token: alice.token }), 400, 'CANNOT_BLOCK_SELF', 'blocking yourself')
    expectError(t, await chime.http('PUT', '/api/blocks/01NOSUCHUSER000000000000000', { token: alice.token }), 404, 'USER_NOT_FOUND', 'an unknown user')
    t.equal(await db.prisma.block.count({ where: { userId: alice.user_id } }), 1, 'refused blocks wrote nothing')

    const seen = events.length
    const un = await chime.http<{ removed: boolean }>('DELETE', `/api/blocks/${bob.user_id}`, { token: alice.token })
    t.equal(un.body.removed, true)
    await waitFor('the presence event of the unblock', () => (events.slice(seen).some((e) => e.type === 'presence' && e.userId === alice.user_id) ? true : undefined))
    t.equal(await relations.blockedEither(alice.user_id, bob.user_id), false, 'unblocked')
    t.same((await chime.http<{ blocks: Profile[] }>('GET', '/api/blocks', { token: alice.token })).body.blocks, [])
  })
}

t.test('embedded profile (SQLite, in-memory broker)', async (t) => {
  await profilesSuite(t, await startTestChime(t))
})

t.test('production stores (MariaDB + Redis) in one process', async (t) => {
  const databaseUrl = await freshMysqlUrl(t)
  const redis = await startRedis(t)
  if (databaseUrl === null || redis === null) return
  await profilesSuite(t, await startTestChime(t, { databaseUrl, redisUrl: redis.url }))
})
