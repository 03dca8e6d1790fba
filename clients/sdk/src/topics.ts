// The only place that builds or parses Chime topic strings (docs/protocol.md, "Topics").
// No Node-only imports: browsers use this file too.

export const TOPIC_ROOT = 'chime/v1'

export const topics = {
  serverChannel: (serverId: string, channelId: string): string =>
    `${TOPIC_ROOT}/servers/${serverId}/channels/${channelId}`,
  serverWildcard: (serverId: string): string => `${TOPIC_ROOT}/servers/${serverId}/#`,
  typing: (serverId: string, channelId: string): string =>
    `${TOPIC_ROOT}/servers/${serverId}/channels/${channelId}/typing`,
  chat: (chatId: string): string => `${TOPIC_ROOT}/chats/${chatId}`,
  chatTyping: (chatId: string): string => `${TOPIC_ROOT}/chats/${chatId}/typing`,
  inbox: (userId: string): string => `${TOPIC_ROOT}/users/${userId}/inbox`,
  presence: (userId: string): string => `${TOPIC_ROOT}/users/${userId}/presence`,
  requests: (clientId: string): string => `${TOPIC_ROOT}/requests/${clientId}`,
} as const

/** The topic a channel's deltas are published on: server channels and chats differ. */
export function channelTopic(channel: { id: string; serverId: string | null }): string {
  return channel.serverId === null ? topics.chat(channel.id) : topics.serverChannel(channel.serverId, channel.id)
}

/** The typing topic of a channel: server channels and chats differ. */
export function typingTopic(channel: { id: string; serverId: string | null }): string {
  return channel.serverId === null ? topics.chatTyping(channel.id) : topics.typing(channel.serverId, channel.id)
}

/** Whether a topic name is a typing topic (server channel or chat); cheap, for the forward path. */
export function isTypingTopic(topic: string): boolean {
  return topic.endsWith('/typing') && topic.startsWith(TOPIC_ROOT + '/')
}

export type ParsedTopic =
  | { kind: 'server-channel'; serverId: string; channelId: string }
  | { kind: 'typing'; serverId: string; channelId: string }
  | { kind: 'chat'; chatId: string }
  | { kind: 'chat-typing'; chatId: string }
  | { kind: 'inbox'; userId: string }
  | { kind: 'presence'; userId: string }
  | { kind: 'requests'; clientId: string }

// An id segment: no MQTT wildcards, separators or empty strings.
const ID = /^[A-Za-z0-9_-]{1,64}$/

/** Parses a concrete topic name (no wildcards); null when it is not a Chime topic. */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(TOPIC_ROOT + '/')) return null
  const parts = topic.slice(TOPIC_ROOT.length + 1).split('/')
  const [a, b, c, d, e] = parts
  const ok = (s: string | undefined): s is string => s !== undefined && ID.test(s)
  switch (a) {
    case 'servers':
      if (parts.length === 4 && ok(b) && c === 'channels' && ok(d)) return { kind: 'server-channel', serverId: b, channelId: d }
      if (parts.length === 5 && ok(b) && c === 'channels' && ok(d) && e === 'typing') return { kind: 'typing', serverId: b, channelId: d }
      return null
    case 'chats':
      if (parts.length === 2 && ok(b)) return { kind: 'chat', chatId: b }
      if (parts.length === 3 && ok(b) && c === 'typing') return { kind: 'chat-typing', chatId: b }
      return null
    case 'users':
      if (parts.length !== 3 || !ok(b)) return null
      if (c === 'inbox') return { kind: 'inbox', userId: b }
      if (c === 'presence') return { kind: 'presence', userId: b }
      return null
    case 'requests':
      return parts.length === 2 && ok(b) ? { kind: 'requests', clientId: b } : null
    default:
      return null
  }
}

export type ParsedFilter =
  | ParsedTopic
  | { kind: 'server-all'; serverId: string }

/**
 * Parses a subscription filter. Only the wildcard forms the protocol documents are
 * recognised (`chime/v1/servers/{serverId}/#`); every other filter must be a concrete topic.
 */
export function parseFilter(filter: string): ParsedFilter | null {
  const prefix = `${TOPIC_ROOT}/servers/`
  if (filter.startsWith(prefix) && filter.endsWith('/#')) {
    const serverId = filter.slice(prefix.length, -2)
    return ID.test(serverId) ? { kind: 'server-all', serverId } : null
  }
  if (filter.includes('+') || filter.includes('#')) return null
  return parseTopic(filter)
}

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id)
}
