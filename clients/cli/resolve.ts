// People type names, Chime takes ids. A <channel> argument is a channel or chat id, a
// "server/channel" pair, "#channel", or a name (a channel's, a group's, or for a 1:1 chat
// the other person's), matched without regard to case; a <server> is an id or a name. A
// name that fits several is refused with the candidates rather than guessed.
import { ChatError } from '../sdk/src/errors.ts'
import type { ChatListItemJson, ChimeHttp, ListChatsResponseData } from '../sdk/src/index.ts'
import type { ServerJson } from '../sdk/src/index.ts'

/** Every channel and chat the user may read (LIST_CHATS, all pages), most recent activity first. */
export async function listAllChats(http: ChimeHttp): Promise<ChatListItemJson[]> {
  const out: ChatListItemJson[] = []
  for (let page = 0; ; page++) {
    const r = await http.request<ListChatsResponseData>('LIST_CHATS', { page, page_size: 100 })
    out.push(...r.chats)
    if (!r.has_more || r.chats.length === 0) return out
  }
}

/** How a channel or chat is shown and typed: "server/channel", or the chat's name. */
export function chatLabel(c: Pick<ChatListItemJson, 'name' | 'server_name' | 'kind'>): string {
  if (c.server_name !== null) return `${c.server_name}/${c.name}`
  return c.kind === 'dm' ? `@${c.name}` : c.name
}

const same = (a: string, b: string): boolean => a.localeCompare(b, undefined, { sensitivity: 'accent' }) === 0

function candidates(list: readonly ChatListItemJson[]): string {
  return list.slice(0, 10).map((c) => `${chatLabel(c)} (${c.channel_id})`).join(', ')
}

/** Finds the channel or chat an argument names among `chats` (see the module comment). */
export function matchChannel(chats: readonly ChatListItemJson[], arg: string): ChatListItemJson {
  const byId = chats.find((c) => c.channel_id === arg)
  if (byId !== undefined) return byId
  const wanted = arg.replace(/^[#@]/, '')
  const slash = chats.filter((c) => c.server_name !== null && same(`${c.server_name}/${c.name}`, wanted))
  if (slash.length === 1) return slash[0]!
  const named = slash.length > 1 ? slash : chats.filter((c) => same(c.name, wanted))
  if (named.length === 1) return named[0]!
  if (named.length > 1) {
    throw new ChatError('INVALID_FIELD', `"${arg}" names ${named.length} channels or chats: ${candidates(named)}; give server/channel or the id`, { field: 'channel', candidates: named.map((c) => c.channel_id) })
  }
  throw new ChatError('CHANNEL_NOT_FOUND', `no channel or chat "${arg}" among yours (see \`chime chats\`)`)
}

/** The channel or chat an argument names, with its server (null for chats). */
export async function resolveChannel(http: ChimeHttp, arg: string): Promise<ChatListItemJson> {
  if (arg.trim() === '') throw new ChatError('INVALID_FIELD', 'the channel must not be empty', { field: 'channel' })
  return matchChannel(await listAllChats(http), arg)
}

/** The server an argument names (id or name) among the user's servers. */
export async function resolveServer(http: ChimeHttp, arg: string): Promise<ServerJson> {
  const { servers } = await http.get<{ servers: ServerJson[] }>('/api/servers')
  const byId = servers.find((s) => s.server_id === arg)
  if (byId !== undefined) return byId
  const named = servers.filter((s) => same(s.name, arg))
  if (named.length === 1) return named[0]!
  if (named.length > 1) {
    throw new ChatError('INVALID_FIELD', `"${arg}" names ${named.length} of your servers: ${named.map((s) => s.server_id).join(', ')}; give the id`, { field: 'server', candidates: named.map((s) => s.server_id) })
  }
  throw new ChatError('SERVER_NOT_FOUND', `no server "${arg}" among yours (see \`chime servers\`)`)
}
