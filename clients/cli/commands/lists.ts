// servers, channels <server>, chats: what the user is in. --json prints the API's answer.
import type { Ctx } from '../context.ts'
import { EXIT } from '../exit-codes.ts'
import { table } from '../format.ts'
import { chatLabel, listAllChats, resolveServer } from '../resolve.ts'
import type { ServerChannelsJson, ServerJson } from '../../sdk/src/index.ts'
import { safeText } from '../terminal-text.ts'
import type { Values } from './spec.ts'

const cell = (s: string): string => safeText(s, { singleLine: true })

export async function servers(ctx: Ctx): Promise<number> {
  const { http } = await ctx.session()
  const answer = await http.get<{ servers: ServerJson[] }>('/api/servers')
  if (ctx.json) {
    ctx.printJson(answer)
    return EXIT.OK
  }
  if (answer.servers.length === 0) {
    ctx.print('No servers yet.')
    return EXIT.OK
  }
  for (const line of table(answer.servers.map((s) => [cell(s.name), s.role, String(s.member_count), s.is_public ? 'public' : 'private', s.server_id]), ['SERVER', 'ROLE', 'MEMBERS', 'ACCESS', 'ID'])) ctx.print(line)
  return EXIT.OK
}

export async function channels(ctx: Ctx, [serverArg]: string[]): Promise<number> {
  const { http } = await ctx.session()
  const server = await resolveServer(http, serverArg!)
  const answer = await http.get<ServerChannelsJson>(`/api/servers/${encodeURIComponent(server.server_id)}/channels`)
  if (ctx.json) {
    ctx.printJson(answer)
    return EXIT.OK
  }
  const rows = answer.channels.map((c) => [`#${cell(c.name)}`, c.type + (c.private ? ', private' : ''), c.channel_id])
  for (const line of table(rows, ['CHANNEL', 'TYPE', 'ID'])) ctx.print(line)
  return EXIT.OK
}

/** Every channel and chat, most recent activity first, with unread counts (LIST_CHATS). */
export async function chats(ctx: Ctx, _args: string[], values: Values): Promise<number> {
  const { http } = await ctx.session()
  let list = await listAllChats(http)
  if (values['unread'] === true) list = list.filter((c) => c.unread > 0)
  if (ctx.json) {
    ctx.printJson({ chats: list, total: list.length })
    return EXIT.OK
  }
  if (list.length === 0) {
    ctx.print(values['unread'] === true ? 'Nothing unread.' : 'No channels or chats yet.')
    return EXIT.OK
  }
  const rows = list.map((c) => {
    const unread = c.unread === 0 ? '' : `${c.unread}${c.unread_capped ? '+' : ''}${c.mentions > 0 ? ` (@${c.mentions}${c.mentions_capped ? '+' : ''})` : ''}`
    const last = c.last_message === null ? '' : c.last_message.preview === null ? `${cell(c.last_message.sender_name)}: [deleted]` : `${cell(c.last_message.sender_name)}: ${cell(c.last_message.preview)}`
    return [cell(chatLabel(c)) + (c.closed ? ' (closed)' : ''), unread, last.length > 60 ? [...last].slice(0, 59).join('') + '…' : last, c.channel_id]
  })
  for (const line of table(rows, ['CHAT', 'UNREAD', 'LAST MESSAGE', 'ID'])) ctx.print(line)
  return EXIT.OK
}
