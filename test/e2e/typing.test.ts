// Typing indicators on both profiles: members publish {"action":"TYPING","data":{"state"}} on
// a chat's or channel's typing topic; subscribers get the broker's rewrite with the real user
// id, at QoS 0 and never retained; the broker throttles per connection and topic; muted
// members, members of ended groups and non-members cannot type; a malformed event is a coded
// error on the publisher's inbox and reaches nobody.
import t, { type Test } from 'tap'
import type { MqttClient } from 'mqtt'
import { topics } from '../../clients/sdk/src/topics.ts'
import type { Envelope, TypingEventData } from '../../clients/sdk/src/protocol.ts'
import { typingStats, TYPING_EXPIRES_MS } from '../../broker/src/typing.ts'
import { collect, request, trySubscribe, type TestChime, type TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'
import { waitFor } from '../helpers/wait.ts'

interface Seen {
  data: TypingEventData
  qos: number
  retain: boolean
}

/** Typing events a client receives on one topic, with the QoS and retain flag of each. */
function watch(client: MqttClient, topic: string): Seen[] {
  const out: Seen[] = []
  client.on('message', (tp, payload, packet) => {
    if (tp === topic) out.push({ data: (JSON.parse(payload.toString()) as Envelope<string, TypingEventData>).data, qos: packet.qos, retain: packet.retain })
  })
  return out
}

const typing = (state: string, extra: object = {}): string => JSON.stringify({ action: 'TYPING', data: { state, ...extra } })

async function run(t: Test, chime: TestChime): Promise<void> {
  const [ann, bea, cyd, dan] = [await chime.register(), await chime.register(), await chime.register(), await chime.register()]
  const call = <T>(user: TestUser, method: string, path: string, body?: unknown) => chime.http<T>(method, path, { token: user.token, ...(body !== undefined ? { body } : {}) })
  const server = (await call<{ server_id: string; channel_id: string }>(ann, 'POST', '/api/servers', { name: 'Typists' })).body
  await call(bea, 'POST', `/api/servers/${server.server_id}/join`)
  await call(dan, 'POST', `/api/servers/${server.server_id}/join`)
  const dm = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [bea.user_id] })).body.chat_id
  const group = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [bea.user_id, dan.user_id], name: 'crew' })).body.chat_id
  const channelTyping = topics.typing(server.server_id, server.channel_id)

  // Errors a client's user gets on its inbox.
  const errorsOf = async (client: MqttClient, user: TestUser): Promise<() => string[]> => {
    const inbox = collect(client, topics.inbox(user.user_id))
    await request(client, user.user_id, 'SYNC', {})
    return () => inbox.filter((e) => e.action === 'ERROR').map((e) => (e.data as { code: string }).code)
  }

  const beaClient = await chime.connect(bea)
  const beaDm = watch(beaClient, topics.chatTyping(dm))
  const beaGroup = watch(beaClient, topics.chatTyping(group))
  const beaChannel = watch(beaClient, channelTyping)
  t.same(await trySubscribe(beaClient, [topics.chatTyping(dm), topics.chatTyping(group)], 1), [1, 1], 'chat members subscribe to the chats’ typing')
  t.same(await trySubscribe(beaClient, topics.serverWildcard(server.server_id), 1), [1], 'the server wildcard covers its channels’ typing')

  await t.test('subscribers get the broker’s words: the real user id, QoS 0, not retained', async (t) => {
    const annClient = await chime.connect(ann)
    await annClient.publishAsync(topics.chatTyping(dm), typing('typing'), { qos: 1 })
    const first = await waitFor('bea sees ann typing', () => beaDm[0])
    t.same(first.data, { user_id: ann.user_id, state: 'typing', expires_in_ms: TYPING_EXPIRES_MS })
    t.equal(first.qos, 0, 'delivered at QoS 0 although published and subscribed at QoS 1')
    t.equal(first.retain, false)

    await annClient.publishAsync(topics.chatTyping(group), typing('typing', { user_id: bea.user_id, expires_in_ms: 1 }), { qos: 0, retain: true })
    const spoof = await waitFor('the spoof attempt', () => beaGroup[0])
    t.same(spoof.data, { user_id: ann.user_id, state: 'typing', expires_in_ms: TYPING_EXPIRES_MS }, 'a claimed user_id is replaced by the publisher’s own')
    t.equal(spoof.retain, false, 'a retain flag is dropped')

    const late = await chime.connect(dan)
    const lateSeen = watch(late, topics.chatTyping(group))
    t.same(await trySubscribe(late, topics.chatTyping(group), 1), [1])
    await request(late, dan.user_id, 'SYNC', {})
    t.same(lateSeen, [], 'nothing retained for a later subscriber')

    await annClient.publishAsync(channelTyping, typing('typing'), { qos: 1 })
    const inChannel = await waitFor('typing in the server channel', () => beaChannel[0])
    t.same(inChannel.data.user_id, ann.user_id, 'a server channel’s typing reaches members through the wildcard')
  })

  await t.test('one "typing" per connection and topic every 2 s; a "stopped" after it always passes', async (t) => {
    const annClient = await chime.connect(ann)
    const before = typingStats.throttled
    const seen = beaChannel.length
    for (let i = 0; i < 5; i++) annClient.publish(channelTyping, typing('typing'), { qos: 0 })
    annClient.publish(channelTyping, typing('stopped'), { qos: 0 })
    annClient.publish(channelTyping, typing('stopped'), { qos: 0 })
    await waitFor('the stopped', () => beaChannel.slice(seen).find((s) => s.data.state === 'stopped'))
    // A last event on another topic of the same connection: once it is in, all before it were decided.
    const dmSeen = beaDm.length
    await annClient.publishAsync(topics.chatTyping(dm), typing('typing'), { qos: 1 })
    await waitFor('the closing event', () => (beaDm.length > dmSeen ? true : undefined))
    await request(beaClient, bea.user_id, 'SYNC', {})
    t.same(beaChannel.slice(seen).map((s) => s.data.state), ['typing', 'stopped'], 'the repeats are dropped')
    t.equal(typingStats.throttled - before, 5, 'four typing and the repeated stopped were throttled')
    const other = await chime.connect(ann)
    await other.publishAsync(channelTyping, typing('typing'), { qos: 0 })
    await waitFor('another connection of the same user has its own slot', () => (beaChannel.length === seen + 3 ? true : undefined))
  })

  await t.test('a muted member cannot type, nor a member of an ended group; both still watch', async (t) => {
    const beaErrors = await errorsOf(beaClient, bea)
    const annClient = await chime.connect(ann)
    const annChannel = watch(annClient, channelTyping)
    const annGroup = watch(annClient, topics.chatTyping(group))
    t.same(await trySubscribe(annClient, [channelTyping, topics.chatTyping(group)], 1), [1, 1])
    t.equal((await call(ann, 'POST', `/api/servers/${server.server_id}/members/${bea.user_id}/mute`, { seconds: 600 })).status, 200)
    await beaClient.publishAsync(channelTyping, typing('typing'), { qos: 1 })
    t.equal((await call(ann, 'POST', `/api/chats/${group}/end`)).status, 200)
    await beaClient.publishAsync(topics.chatTyping(group), typing('typing'), { qos: 1 })
    await waitFor('two refusals', () => (beaErrors().length >= 2 ? true : undefined))
    t.same(beaErrors(), ['FORBIDDEN_TOPIC', 'FORBIDDEN_TOPIC'])
    t.same(await trySubscribe(beaClient, topics.chatTyping(group), 1), [1], 'an ended group’s typing topic may still be watched')
    await request(annClient, ann.user_id, 'SYNC', {})
    t.same([annChannel, annGroup], [[], []], 'nothing of the refused publishes reached anyone')
    await call(ann, 'POST', `/api/servers/${server.server_id}/members/${bea.user_id}/mute`, { seconds: 0 })
    const unmuted = await chime.connect(bea)
    await unmuted.publishAsync(channelTyping, typing('typing'), { qos: 1 })
    await waitFor('unmuted, bea types again', () => annChannel.find((s) => s.data.user_id === bea.user_id))
  })

  await t.test('a non-member neither subscribes to nor publishes on a chat’s typing topic', async (t) => {
    const cydClient = await chime.connect(cyd)
    const cydErrors = await errorsOf(cydClient, cyd)
    const before = beaDm.length
    t.same(await trySubscribe(cydClient, [topics.chatTyping(dm), channelTyping], 1), [128, 128])
    await cydClient.publishAsync(topics.chatTyping(dm), typing('typing'), { qos: 1 })
    await cydClient.publishAsync(channelTyping, typing('typing'), { qos: 1 })
    await waitFor('the refusals', () => (cydErrors().length >= 2 ? true : undefined))
    t.same(cydErrors(), ['FORBIDDEN_TOPIC', 'FORBIDDEN_TOPIC'])
    await request(beaClient, bea.user_id, 'SYNC', {})
    t.equal(beaDm.length, before, 'bea saw nothing from the stranger')
  })

  await t.test('a malformed typing event is a coded error on the inbox and reaches nobody', async (t) => {
    const annClient = await chime.connect(ann)
    const annErrors = await errorsOf(annClient, ann)
    const before = beaDm.length
    for (const bad of ['not json', JSON.stringify({ action: 'TYPE', data: { state: 'typing' } }), typing('sleeping'), JSON.stringify([1]), 'x'.repeat(2000), typing('')]) {
      await annClient.publishAsync(topics.chatTyping(dm), bad, { qos: 1 })
    }
    await waitFor('six refusals', () => (annErrors().length >= 6 ? true : undefined))
    t.same(annErrors(), ['BAD_JSON', 'INVALID_ENVELOPE', 'INVALID_FIELD', 'INVALID_ENVELOPE', 'PAYLOAD_TOO_LARGE', 'INVALID_FIELD'])
    await annClient.publishAsync(topics.chatTyping(dm), typing('typing'), { qos: 1 })
    await waitFor('the valid one after them', () => (beaDm.length > before ? true : undefined))
    t.equal(beaDm.length, before + 1, 'only the valid event arrived')
    t.equal(annClient.connected, true, 'the connection stays up')
  })

  await t.test('a member removed from a group stops receiving its typing at once', async (t) => {
    const g = (await call<{ chat_id: string }>(ann, 'POST', '/api/chats', { user_ids: [bea.user_id, dan.user_id], name: 'trio' })).body.chat_id
    const danClient = await chime.connect(dan)
    const danSeen = watch(danClient, topics.chatTyping(g))
    const beaSeen = watch(beaClient, topics.chatTyping(g))
    t.same(await trySubscribe(danClient, topics.chatTyping(g), 1), [1])
    t.same(await trySubscribe(beaClient, topics.chatTyping(g), 1), [1])
    t.equal((await call(ann, 'DELETE', `/api/chats/${g}/members/${dan.user_id}`)).status, 200)
    const annClient = await chime.connect(ann)
    await annClient.publishAsync(topics.chatTyping(g), typing('typing'), { qos: 1 })
    await waitFor('bea sees it', () => beaSeen[0])
    await request(danClient, dan.user_id, 'SYNC', {})
    t.same(danSeen, [], 'dan does not')
  })
}

await eachProfile(t, 'typing', run)
