// The store conformance suite: the same expectations of the directory and the delta log on
// every backend (SQLite for the embedded profile, MariaDB for production).
import t from 'tap'
import type { Test } from 'tap'
import { openStore, type Store } from '../../api/src/store/store.ts'
import { Sequencer } from '../../api/src/sequencer/sequencer.ts'
import type { DeltaRecord } from '../../api/src/store/types.ts'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import { eachBackend } from '../helpers/databases.ts'
import { defer } from '../helpers/cleanup.ts'

async function open(t: Test, url: string, limits = { maxDeltas: 10_000, maxBytes: 10 * 1024 * 1024 }): Promise<Store> {
  const store = await openStore(url, limits)
  defer(t, () => store.close())
  return store
}

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(() => undefined, (e: unknown) => (e instanceof ChatError ? e.code : String(e)))

t.test('directory', async (t) => {
  await eachBackend(t, 'users, servers, channels, chats and who may read what', async (t, url) => {
    const { directory } = await open(t, url)
    const alice = await directory.createUser({ username: 'alice', passwordHash: 'h' })
    const bob = await directory.createUser({ username: 'bob', passwordHash: 'h' })
    const eve = await directory.createUser({ username: 'eve', passwordHash: 'h' })
    t.equal(await codeOf(directory.createUser({ username: 'alice', passwordHash: 'h' })), 'USERNAME_TAKEN')
    t.equal((await directory.findUserByUsername('bob'))?.id, bob.id)
    t.equal(await directory.findUserByUsername('nobody'), null)

    const pub = await directory.createServer(alice.id, 'Public', true)
    const priv = await directory.createServer(alice.id, 'Private', false)
    t.equal(await directory.serverRole(pub.server.id, alice.id), 'owner')
    t.same(await directory.joinServer(pub.server.id, bob.id), { role: 'member', joined: true })
    t.same(await directory.joinServer(pub.server.id, bob.id), { role: 'member', joined: false }, 'joining twice is a no-op')
    t.equal(await codeOf(directory.joinServer(priv.server.id, bob.id)), 'SERVER_NOT_FOUND', 'a private server cannot be joined')
    t.equal(await codeOf(directory.joinServer('NOPE', bob.id)), 'SERVER_NOT_FOUND')

    const voice = await directory.createChannel(pub.server.id, 'lounge', 'voice')
    t.same((await directory.serverChannels(pub.server.id)).map((c) => [c.name, c.kind]).sort(), [['general', 'text'], ['lounge', 'voice']])

    const dm = await directory.createChat(alice.id, [bob.id])
    t.equal(dm.chat.kind, 'dm')
    t.equal(dm.created, true)
    const again = await directory.createChat(bob.id, [alice.id])
    t.same([again.chat.id, again.created], [dm.chat.id, false], 'one 1:1 chat per pair, whoever opens it')
    const group = await directory.createChat(alice.id, [bob.id, eve.id], 'trio')
    t.equal(group.chat.kind, 'group')
    t.equal(await codeOf(directory.createChat(alice.id, ['NOPE'])), 'USER_NOT_FOUND')
    t.equal(await codeOf(directory.createChat(alice.id, [alice.id])), 'INVALID_FIELD')

    t.ok(await directory.canRead(bob.id, (await directory.findChannel(pub.generalChannelId))!))
    t.notOk(await directory.canRead(eve.id, (await directory.findChannel(pub.generalChannelId))!))
    t.ok(await directory.canRead(bob.id, dm.chat))
    t.notOk(await directory.canRead(eve.id, dm.chat))
    t.equal(await codeOf(directory.readableChannel(eve.id, pub.generalChannelId)), 'NOT_A_MEMBER', 'a public server channel says join first')
    t.equal(await codeOf(directory.readableChannel(eve.id, priv.generalChannelId)), 'CHANNEL_NOT_FOUND', 'a private one does not leak its existence')
    t.equal(await codeOf(directory.readableChannel(eve.id, dm.chat.id)), 'CHANNEL_NOT_FOUND', 'nor does a chat')

    t.same((await directory.readableChannelIds(bob.id)).sort(), [pub.generalChannelId, voice.id, dm.chat.id, group.chat.id].sort())
    t.same((await directory.readableChannelIds(bob.id, pub.server.id)).sort(), [pub.generalChannelId, voice.id].sort())
    t.same(await directory.readableChannelIds(bob.id, priv.server.id), [])
    t.same((await directory.serverIdsOf(alice.id)).sort(), [pub.server.id, priv.server.id].sort())
  })
})

t.test('delta log', async (t) => {
  await eachBackend(t, 'append: global delta_id, gapless seq per channel, exactly once', async (t, url) => {
    const { directory, log } = await open(t, url)
    const u = await directory.createUser({ username: 'u', passwordHash: 'h' })
    const { generalChannelId: a, server } = await directory.createServer(u.id, 'S', true)
    const b = (await directory.createChannel(server.id, 'b', 'text')).id
    const results = await log.append([
      { channelId: a, userId: u.id, type: 'message', content: 'a1', clientMsgId: 'k1' },
      { channelId: b, userId: u.id, type: 'message', content: 'b1' },
      { channelId: a, userId: u.id, type: 'message', content: 'a2' },
      { channelId: a, userId: u.id, type: 'message', content: 'a1 again', clientMsgId: 'k1' },
    ])
    t.same(results.map((r) => [r.delta.channelId === a ? 'a' : 'b', Number(r.delta.seq), Number(r.delta.deltaId), r.duplicate]), [['a', 1, 1, false], ['b', 1, 2, false], ['a', 2, 3, false], ['a', 1, 1, true]])
    t.equal(results[3]!.delta.content, 'a1', 'a duplicate answers with the original')
    const retry = await log.append([{ channelId: a, userId: u.id, type: 'message', content: 'later retry', clientMsgId: 'k1' }])
    t.same([retry[0]!.duplicate, retry[0]!.delta.deltaId], [true, 1n], 'a retry in a later transaction too')
    t.equal(results[0]!.delta.serverId, server.id)
    t.equal(await log.lastDeltaId(), 3n)
    t.equal(await log.channelLastSeq(a), 2n)

    const all = await log.deltasAfter([a, b], 0n, 3n, 100)
    t.same(all.map((d) => d.content), ['a1', 'b1', 'a2'], 'oldest first, across channels')
    t.same((await log.deltasAfter([a, b], 1n, 3n, 1)).map((d) => d.content), ['b1'], 'paged after a delta id')
    t.same((await log.deltasAfter([a], 0n, 2n, 100)).map((d) => d.content), ['a1'], 'never beyond upTo')
    t.same((await log.channelDeltas(a, server.id, 1n, 100)).map((d) => d.content), ['a2'])
    const row = all[0]!
    t.equal(row.createdAt instanceof Date && !Number.isNaN(row.createdAt.getTime()), true)
  })

  await eachBackend(t, 'partitions roll over at the delta and byte limits', async (t, url) => {
    const { directory, log } = await open(t, url, { maxDeltas: 3, maxBytes: 10 })
    const u = await directory.createUser({ username: 'u', passwordHash: 'h' })
    const { generalChannelId: c } = await directory.createServer(u.id, 'S', true)
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
    const { directory, log } = await open(t, url)
    const u = await directory.createUser({ username: 'u', passwordHash: 'h' })
    const { generalChannelId: c } = await directory.createServer(u.id, 'S', true)
    const published: DeltaRecord[] = []
    const sequencer = new Sequencer(log, { publish: async (ds) => void published.push(...ds) }, 64, (err) => t.fail(String(err)))
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => sequencer.append({ channelId: c, userId: u.id, type: 'message', content: `m${i}`, clientMsgId: `c${i % 450}` })))
    await sequencer.close()
    t.equal(results.filter((r) => r.duplicate).length, 50, 'the 50 repeated client_msg_ids created nothing')
    t.same(published.map((d) => Number(d.seq)), Array.from({ length: 450 }, (_, i) => i + 1), 'published seq 1..450 in order')
    t.ok(published.every((d, i) => i === 0 || d.deltaId > published[i - 1]!.deltaId), 'delta ids grow in publish order')
    t.ok(sequencer.stats.transactions < 500, `group commit: ${sequencer.stats.transactions} transactions for 500 posts`)
  })
})
