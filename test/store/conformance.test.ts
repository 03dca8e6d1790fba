// The store conformance suite: the same expectations of the directory and the delta log on
// every backend (SQLite for the embedded profile, MariaDB for production).
import t from 'tap'
import type { Test } from 'tap'
import { openStore, type Store } from '../../api/src/store/store.ts'
import { Sequencer } from '../../api/src/sequencer/sequencer.ts'
import type { DeltaRecord } from '../../api/src/store/types.ts'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import { eachBackend } from '../helpers/databases.ts'
import * as changes from '../../api/src/store/changes.ts'
import type { ChangeWork } from '../../api/src/store/changes.ts'
import { PERMISSIONS } from '../../clients/sdk/src/permissions.ts'
import { defer } from '../helpers/cleanup.ts'

async function open(t: Test, url: string, limits = { maxDeltas: 10_000, maxBytes: 10 * 1024 * 1024 }): Promise<Store> {
  const store = await openStore(url, limits)
  defer(t, () => store.close())
  return store
}

/** Runs a change in its transaction (no publishing) and answers its result. */
async function apply<T>(store: Store, work: ChangeWork<T>): Promise<T> {
  return (await store.log.transact(work)).value.result
}

/** A server with its general channel, created through the change path. */
async function newServer(store: Store, ownerId: string, name: string, isPublic = true): Promise<{ serverId: string; generalChannelId: string }> {
  const r = await apply(store, changes.createServer(ownerId, { name, isPublic }))
  return { serverId: r.serverId, generalChannelId: r.channelId }
}

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(() => undefined, (e: unknown) => (e instanceof ChatError ? e.code : String(e)))

t.test('directory', async (t) => {
  await eachBackend(t, 'users, servers, channels, chats and who may read what', async (t, url) => {
    const store = await open(t, url)
    const { directory } = store
    const alice = await directory.createUser({ username: 'alice', passwordHash: 'h' })
    const bob = await directory.createUser({ username: 'bob', passwordHash: 'h' })
    const eve = await directory.createUser({ username: 'eve', passwordHash: 'h' })
    t.equal(await codeOf(directory.createUser({ username: 'alice', passwordHash: 'h' })), 'USERNAME_TAKEN')
    t.equal((await directory.findUserByUsername('bob'))?.id, bob.id)
    t.equal(await directory.findUserByUsername('nobody'), null)

    const pub = await newServer(store, alice.id, 'Public')
    const priv = await newServer(store, alice.id, 'Private', false)
    t.equal(await directory.serverRole(pub.serverId, alice.id), 'owner')
    t.same(await apply(store, changes.joinServer(pub.serverId, bob.id)), { serverId: pub.serverId, role: 'member', joined: true })
    t.same(await apply(store, changes.joinServer(pub.serverId, bob.id)), { serverId: pub.serverId, role: 'member', joined: false }, 'joining twice is a no-op')
    t.equal(await codeOf(apply(store, changes.joinServer(priv.serverId, bob.id))), 'SERVER_NOT_FOUND', 'a private server cannot be joined')
    t.equal(await codeOf(apply(store, changes.joinServer('NOPE', bob.id))), 'SERVER_NOT_FOUND')

    const voice = { id: (await apply(store, changes.createChannel(pub.serverId, alice.id, { name: 'lounge', kind: 'voice', isPrivate: false }))).channelId }
    t.same((await directory.serverChannels(pub.serverId)).map((c) => [c.name, c.kind]), [['general', 'text'], ['lounge', 'voice']], 'in position order, without the server log')
    t.equal(await codeOf(apply(store, changes.createChannel(pub.serverId, bob.id, { name: 'x', kind: 'text', isPrivate: false }))), 'FORBIDDEN', 'a member does not manage channels')

    const dm = await apply(store, changes.createChat(alice.id, [bob.id]))
    t.equal(dm.kind, 'dm')
    t.equal(dm.created, true)
    const again = await apply(store, changes.createChat(bob.id, [alice.id]))
    t.same([again.chatId, again.created], [dm.chatId, false], 'one 1:1 chat per pair, whoever opens it')
    const group = await apply(store, changes.createChat(alice.id, [bob.id, eve.id], 'trio'))
    t.equal(group.kind, 'group')
    t.equal(await codeOf(apply(store, changes.createChat(alice.id, ['NOPE']))), 'USER_NOT_FOUND')
    t.equal(await codeOf(apply(store, changes.createChat(alice.id, [alice.id]))), 'INVALID_FIELD')
    const dmChat = (await directory.findChannel(dm.chatId))!

    t.ok(await directory.canRead(bob.id, (await directory.findChannel(pub.generalChannelId))!))
    t.notOk(await directory.canRead(eve.id, (await directory.findChannel(pub.generalChannelId))!))
    t.ok(await directory.canRead(bob.id, dmChat))
    t.notOk(await directory.canRead(eve.id, dmChat))
    t.equal(await codeOf(directory.readableChannel(eve.id, pub.generalChannelId)), 'NOT_A_MEMBER', 'a public server channel says join first')
    t.equal(await codeOf(directory.readableChannel(eve.id, priv.generalChannelId)), 'CHANNEL_NOT_FOUND', 'a private one does not leak its existence')
    t.equal(await codeOf(directory.readableChannel(eve.id, dm.chatId)), 'CHANNEL_NOT_FOUND', 'nor does a chat')

    t.same((await directory.readableChannelIds(bob.id)).sort(), [pub.serverId, pub.generalChannelId, voice.id, dm.chatId, group.chatId].sort(), 'server log, channels and chats')
    t.same((await directory.readableChannelIds(bob.id, pub.serverId)).sort(), [pub.serverId, pub.generalChannelId, voice.id].sort())
    t.same(await directory.readableChannelIds(bob.id, priv.serverId), [])

    const secret = (await apply(store, changes.createChannel(pub.serverId, alice.id, { name: 'staff', kind: 'text', isPrivate: true }))).channelId
    const secretChannel = (await directory.findChannel(secret))!
    t.notOk(await directory.canRead(bob.id, secretChannel), 'a private channel is hidden from members')
    t.ok(await directory.canRead(alice.id, secretChannel), 'and visible to the owner')
    t.notOk((await directory.readableChannelIds(bob.id, pub.serverId)).includes(secret))
    await apply(store, changes.setChannelOverride(pub.serverId, alice.id, secret, { targetType: 'user', target: bob.id, allow: PERMISSIONS.READ, deny: 0 }))
    t.ok(await directory.canRead(bob.id, secretChannel), 'a user override lets one member in')
    t.same((await directory.serverIdsOf(alice.id)).sort(), [pub.serverId, priv.serverId].sort())
  })
})

t.test('delta log', async (t) => {
  await eachBackend(t, 'append: global delta_id, gapless seq per channel, exactly once', async (t, url) => {
    const store = await open(t, url)
    const { directory, log } = store
    const u = await directory.createUser({ username: 'u', passwordHash: 'h' })
    const { generalChannelId: a, serverId } = await newServer(store, u.id, 'S')
    const b = (await apply(store, changes.createChannel(serverId, u.id, { name: 'b', kind: 'text', isPrivate: false }))).channelId
    const base = Number(await log.lastDeltaId())
    t.equal(base, 2, 'the server log recorded server_created and channel_created')
    const results = await log.append([
      { channelId: a, userId: u.id, type: 'message', content: 'a1', clientMsgId: 'k1' },
      { channelId: b, userId: u.id, type: 'message', content: 'b1' },
      { channelId: a, userId: u.id, type: 'message', content: 'a2' },
      { channelId: a, userId: u.id, type: 'message', content: 'a1 again', clientMsgId: 'k1' },
    ])
    t.same(results.map((r) => [r.delta.channelId === a ? 'a' : 'b', Number(r.delta.seq), Number(r.delta.deltaId) - base, r.duplicate]), [['a', 1, 1, false], ['b', 1, 2, false], ['a', 2, 3, false], ['a', 1, 1, true]])
    t.equal(results[3]!.delta.content, 'a1', 'a duplicate answers with the original')
    const retry = await log.append([{ channelId: a, userId: u.id, type: 'message', content: 'later retry', clientMsgId: 'k1' }])
    t.same([retry[0]!.duplicate, Number(retry[0]!.delta.deltaId) - base], [true, 1], 'a retry in a later transaction too')
    t.equal(results[0]!.delta.serverId, serverId)
    t.equal(Number(await log.lastDeltaId()) - base, 3)
    t.equal(await log.channelLastSeq(a), 2n)

    const B = BigInt(base)
    const all = await log.deltasAfter([a, b], B, B + 3n, 100)
    t.same(all.map((d) => d.content), ['a1', 'b1', 'a2'], 'oldest first, across channels')
    t.same((await log.deltasAfter([a, b], B + 1n, B + 3n, 1)).map((d) => d.content), ['b1'], 'paged after a delta id')
    t.same((await log.deltasAfter([a], B, B + 2n, 100)).map((d) => d.content), ['a1'], 'never beyond upTo')
    t.same((await log.channelDeltas(a, serverId, 1n, 100)).map((d) => d.content), ['a2'])
    const row = all[0]!
    t.equal(row.createdAt instanceof Date && !Number.isNaN(row.createdAt.getTime()), true)
  })

  await eachBackend(t, 'partitions roll over at the delta and byte limits', async (t, url) => {
    const store = await open(t, url, { maxDeltas: 3, maxBytes: 10 })
    const { directory, log } = store
    const u = await directory.createUser({ username: 'u', passwordHash: 'h' })
    const { generalChannelId: c } = await newServer(store, u.id, 'S')
    const post = (content: string) => ({ channelId: c, userId: u.id, type: 'message' as const, content })
    // 3 small deltas fill partition 1; the 4th opens partition 2; 8 bytes then 5 more bytes
    // exceed 10 bytes and open partition 3. Spread over batches to cross transaction edges.
    await log.append([post('a'), post('b')])
    await log.append([post('c'), post('d'), post('12345678')])
    await log.append([post('12345')])
    const parts = await log.partitions(c)
    t.same(parts.map((p) => [p.partitionNo, Number(p.startSeq), Number(p.endSeq), p.deltaCount, Number(p.byteSize), p.sealed]), [
      [1, 1, 3, 3, 3, true],
      [2, 4, 5, 2, 9, true],
      [3, 6, 6, 1, 5, false],
    ])
    const heads = (await log.channelDeltas(c, null, 0n, 100)).filter((d) => d.isPartitionHead).map((d) => Number(d.seq))
    t.same(heads, [1, 4, 6], 'the first delta of each partition is marked as its head')
  })

  await eachBackend(t, 'concurrent posts through the sequencer: gapless and in commit order', async (t, url) => {
    const store = await open(t, url)
    const { directory, log } = store
    const u = await directory.createUser({ username: 'u', passwordHash: 'h' })
    const { generalChannelId: c } = await newServer(store, u.id, 'S')
    const published: DeltaRecord[] = []
    const sequencer = new Sequencer(log, { publish: async (ds) => void published.push(...ds), announce: async () => {}, publishInbox: async () => {} }, 64, (err) => t.fail(String(err)))
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => sequencer.append({ channelId: c, userId: u.id, type: 'message', content: `m${i}`, clientMsgId: `c${i % 450}` })))
    await sequencer.close()
    t.equal(results.filter((r) => r.duplicate).length, 50, 'the 50 repeated client_msg_ids created nothing')
    t.same(published.map((d) => Number(d.seq)), Array.from({ length: 450 }, (_, i) => i + 1), 'published seq 1..450 in order')
    t.ok(published.every((d, i) => i === 0 || d.deltaId > published[i - 1]!.deltaId), 'delta ids grow in publish order')
    t.ok(sequencer.stats.transactions < 500, `group commit: ${sequencer.stats.transactions} transactions for 500 posts`)
  })
})
