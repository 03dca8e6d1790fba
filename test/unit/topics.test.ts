import t from 'tap'
import { channelTopic, parseFilter, parseTopic, topics } from '../../clients/sdk/src/topics.ts'

t.test('built topics parse back to what built them', async (t) => {
  t.same(parseTopic(topics.serverChannel('S1', 'C1')), { kind: 'server-channel', serverId: 'S1', channelId: 'C1' })
  t.same(parseTopic(topics.typing('S1', 'C1')), { kind: 'typing', serverId: 'S1', channelId: 'C1' })
  t.same(parseTopic(topics.chat('K1')), { kind: 'chat', chatId: 'K1' })
  t.same(parseTopic(topics.inbox('U1')), { kind: 'inbox', userId: 'U1' })
  t.same(parseTopic(topics.presence('U1')), { kind: 'presence', userId: 'U1' })
  t.same(parseTopic(topics.requests('mqttjs_1')), { kind: 'requests', clientId: 'mqttjs_1' })
  t.same(parseFilter(topics.serverWildcard('S1')), { kind: 'server-all', serverId: 'S1' })
  t.equal(channelTopic({ id: 'C', serverId: null }), 'chime/v1/chats/C')
  t.equal(channelTopic({ id: 'C', serverId: 'S' }), 'chime/v1/servers/S/channels/C')
})

t.test('anything else is not a Chime topic or filter', async (t) => {
  for (const bad of ['', '#', '+', 'chime/#', '$SYS/#', 'chime/v1/servers/+/#', 'chime/v1/servers/S/channels/+', 'chime/v1/servers/S/channels/C/extra', 'chime/v1/users/U/other', 'chime/v2/chats/C', 'chime/v1/chats/a b', 'chime/v1/chats/', 'chime/v1/servers//#']) {
    t.equal(parseFilter(bad), null, JSON.stringify(bad))
  }
})
