// HTTP routes of servers, channels, members, invitations and chats (docs/protocol.md,
// "Servers" and "Chats"). Every answer is JSON; every failure a coded error.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Core } from '../services/context.ts'
import * as chats from '../services/chats.ts'
import * as servers from '../services/servers.ts'
import * as exports from '../services/export.ts'
import { doListChatsPage } from '../services/list-chats.ts'
import { body, caller, optionalBody, pathId, pathParam, query } from './inputs.ts'

export function registerSocialRoutes(app: FastifyInstance, core: Core): void {
  const server = (r: Parameters<typeof pathId>[0]): string => pathId(r, 'serverId')

  app.post('/api/servers', async (r) => servers.doCreateServer(core, caller(r), body(r)))
  app.get('/api/servers', async (r) => servers.doListMyServers(core, caller(r)))
  app.get('/api/servers/public', async (r) => (caller(r), servers.doDiscoverServers(core, query(r))))
  app.get('/api/servers/:serverId', async (r) => servers.doGetServer(core, caller(r), server(r)))
  app.patch('/api/servers/:serverId', async (r) => servers.doUpdateServer(core, caller(r), server(r), body(r)))
  app.delete('/api/servers/:serverId', async (r) => servers.doDeleteServer(core, caller(r), server(r)))
  app.post('/api/servers/:serverId/join', async (r) => servers.doJoinServer(core, caller(r), server(r)))
  app.post('/api/servers/:serverId/leave', async (r) => servers.doLeaveServer(core, caller(r), server(r)))
  app.post('/api/servers/:serverId/transfer', async (r) => servers.doTransfer(core, caller(r), server(r), body(r)))

  app.get('/api/servers/:serverId/members', async (r) => servers.doListMembers(core, caller(r), server(r), query(r)))
  app.post('/api/servers/:serverId/members', async (r) => servers.doAddMembers(core, caller(r), server(r), body(r)))
  app.post('/api/servers/:serverId/members/:userId/kick', async (r) => servers.doKick(core, caller(r), server(r), pathId(r, 'userId'), optionalBody(r)))
  app.post('/api/servers/:serverId/members/:userId/mute', async (r) => servers.doMute(core, caller(r), server(r), pathId(r, 'userId'), body(r)))
  app.put('/api/servers/:serverId/members/:userId/role', async (r) => servers.doSetRole(core, caller(r), server(r), pathId(r, 'userId'), body(r)))
  app.get('/api/servers/:serverId/bans', async (r) => servers.doListBans(core, caller(r), server(r)))
  app.post('/api/servers/:serverId/bans', async (r) => servers.doBan(core, caller(r), server(r), body(r)))
  app.delete('/api/servers/:serverId/bans/:userId', async (r) => servers.doUnban(core, caller(r), server(r), pathId(r, 'userId')))

  app.post('/api/servers/:serverId/channels', async (r) => servers.doCreateChannel(core, caller(r), server(r), body(r)))
  app.get('/api/servers/:serverId/channels', async (r) => servers.doListServerChannels(core, caller(r), server(r)))
  app.put('/api/servers/:serverId/channels/order', async (r) => servers.doReorderChannels(core, caller(r), server(r), body(r)))
  app.patch('/api/servers/:serverId/channels/:channelId', async (r) => servers.doRenameChannel(core, caller(r), server(r), pathId(r, 'channelId'), body(r)))
  app.delete('/api/servers/:serverId/channels/:channelId', async (r) => servers.doDeleteChannel(core, caller(r), server(r), pathId(r, 'channelId')))
  app.put('/api/servers/:serverId/channels/:channelId/overrides', async (r) => servers.doSetOverride(core, caller(r), server(r), pathId(r, 'channelId'), body(r)))
  app.post('/api/servers/:serverId/invites', async (r) => servers.doCreateInvite(core, caller(r), { serverId: server(r) }, optionalBody(r)))

  app.get('/api/invites/:code', async (r) => (caller(r), servers.doPreviewInvite(core, servers.inviteCode(pathParam(r, 'code')))))
  app.post('/api/invites/:code/accept', async (r) => servers.doAcceptInvite(core, caller(r), servers.inviteCode(pathParam(r, 'code'))))
  app.delete('/api/invites/:code', async (r) => servers.doRevokeInvite(core, caller(r), servers.inviteCode(pathParam(r, 'code'))))

  const chat = (r: Parameters<typeof pathId>[0]): string => pathId(r, 'chatId')
  app.post('/api/chats', async (r) => chats.doCreateChat(core, caller(r), body(r)))
  app.get('/api/chats', async (r) => chats.doListChats(core, caller(r)))
  // ListChats: channels and chats by recent activity, paged (a static path, matched before :chatId).
  app.get('/api/chats/list', async (r) => doListChatsPage(core, caller(r), query(r)))
  app.get('/api/chats/:chatId', async (r) => chats.doGetChat(core, caller(r), chat(r)))
  app.patch('/api/chats/:chatId', async (r) => chats.doUpdateChat(core, caller(r), chat(r), body(r)))
  app.post('/api/chats/:chatId/members', async (r) => chats.doAddChatMembers(core, caller(r), chat(r), body(r)))
  app.delete('/api/chats/:chatId/members/:userId', async (r) => chats.doRemoveChatMember(core, caller(r), chat(r), pathId(r, 'userId')))
  app.post('/api/chats/:chatId/leave', async (r) => chats.doLeaveChat(core, caller(r), chat(r)))
  app.post('/api/chats/:chatId/end', async (r) => chats.doEndChat(core, caller(r), chat(r)))
  app.post('/api/chats/:chatId/invites', async (r) => servers.doCreateInvite(core, caller(r), { chatId: chat(r) }, optionalBody(r)))

  // Secret chats' timer and chat history export (docs/protocol.md, "Secret chats, broadcast and export").
  app.put('/api/chats/:chatId/timer', async (r) => chats.doSetChatTimer(core, caller(r), chat(r), body(r)))
  const download = (param: string) => async (r: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { eml, filename } = await exports.doExportDownload(core, caller(r), exports.exportRequest(query(r), pathId(r, param)))
    return reply.header('content-type', 'message/rfc822').header('content-disposition', `attachment; filename="${filename}"`).send(eml)
  }
  app.get('/api/channels/:channelId/export', download('channelId'))
  app.get('/api/chats/:chatId/export', download('chatId'))
}
