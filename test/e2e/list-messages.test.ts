// LIST_MESSAGES, on both profiles: a channel's messages as they are now, a page at a time
// from the newest back (what a chat view shows first and loads on scroll), with the seq to
// follow the channel from; refusals are coded errors.
import t from 'tap'
import type { Envelope, MessageJson } from '../../clients/sdk/src/protocol.ts'
import type { TestUser } from '../helpers/chime.ts'
import { eachProfile } from '../helpers/profiles.ts'

type Page = { channel_id: string; messages: MessageJson[]; has_more: boolean; last_seq: string }

t.test('LIST_MESSAGES', async (t) => {
  await eachProfile(t, 'LIST_MESSAGES', async (t, chime) => {
    const act = async <T>(user: TestUser, action: string, data: object): Promise<Envelope<string, T & { code?: string }>> =>
      (await chime.http<Envelope<string, T & { code?: string }>>('POST', '/api/requests', { token: user.token, body: { action, data } })).body
    const [ann, eve] = await Promise.all([chime.register(), chime.register()])
    const server = (await chime.http<{ server_id: string; channel_id: string }>('POST', '/api/servers', { token: ann.token, body: { name: 'pages' } })).body
    const posts = Array.from({ length: 120 }, (_, i) => ({ action: 'POST_MESSAGE', data: { channel_id: server.channel_id, content: `m${i + 1}` } }))
    const replies = (await chime.http<Envelope<string, { delta_id: string }>[]>('POST', '/api/requests', { token: ann.token, body: posts })).body
    await act(ann, 'DELETE_MESSAGE', { message_id: replies[119]!.data.delta_id })

    const newest = (await act<Page>(ann, 'LIST_MESSAGES', { channel_id: server.channel_id })).data
    t.same(newest.messages.map((m) => Number(m.seq)), Array.from({ length: 50 }, (_, i) => 71 + i), 'the newest 50, oldest first')
    t.same([newest.has_more, newest.last_seq], [true, '121'], 'more before them; last_seq counts the delete delta too')
    t.same([newest.messages.at(-1)!.deleted, newest.messages.at(-1)!.content], [true, null], 'a deleted message shows as deleted')
    const older = (await act<Page>(ann, 'LIST_MESSAGES', { channel_id: server.channel_id, before_seq: '71', limit: 50 })).data
    t.same([older.messages[0]!.seq, older.messages.at(-1)!.seq, older.has_more], ['21', '70', true])
    const oldest = (await act<Page>(ann, 'LIST_MESSAGES', { channel_id: server.channel_id, before_seq: '21', limit: 500 })).data
    t.same([oldest.messages.length, oldest.messages[0]!.content, oldest.has_more], [20, 'm1', false], 'the first page back; a limit above 200 is capped')

    t.equal((await act(eve, 'LIST_MESSAGES', { channel_id: server.channel_id })).data.code, 'NOT_A_MEMBER', 'someone who may not read the channel')
    for (const [data, code] of [[{}, 'INVALID_FIELD'], [{ channel_id: server.channel_id, before_seq: '-1' }, 'INVALID_CURSOR'], [{ channel_id: server.channel_id, limit: 0 }, 'INVALID_FIELD']] as const) {
      t.equal((await act(ann, 'LIST_MESSAGES', data)).data.code, code, `${JSON.stringify(data)}: ${code}`)
    }
  })
})
