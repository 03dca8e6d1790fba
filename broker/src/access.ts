import { parseFilter, parseTopic, topics } from '../../clients/sdk/src/topics.ts'
import type { Directory } from '../../api/src/store/directory.ts'
import type { Session } from './sessions.ts'

/**
 * Who may subscribe to and publish on which topic (docs/protocol.md, "Topics"). Only the
 * filters the protocol documents are accepted; `#`, `+` and `$SYS` filters are refused.
 */
export class AccessPolicy {
  constructor(private readonly directory: Directory) {}

  async maySubscribe(session: Session, filter: string): Promise<boolean> {
    const t = parseFilter(filter)
    if (t === null) return false
    switch (t.kind) {
      case 'inbox':
      case 'presence':
        return t.userId === session.userId
      case 'server-all':
        return (await this.directory.serverRole(t.serverId, session.userId)) !== null
      case 'server-channel':
      case 'typing':
        return this.mayReadServerChannel(session, t.serverId, t.channelId)
      case 'chat': {
        const chat = await this.directory.findChannel(t.chatId)
        return chat !== null && chat.serverId === null && (await this.directory.canRead(session.userId, chat))
      }
      case 'requests':
        return false
    }
  }

  /** Members publish typing events; a user publishes its own presence. */
  async mayPublish(session: Session, topic: string): Promise<boolean> {
    const t = parseTopic(topic)
    if (t === null) return false
    if (t.kind === 'typing') return this.mayReadServerChannel(session, t.serverId, t.channelId)
    if (t.kind === 'presence') return t.userId === session.userId
    return false
  }

  private async mayReadServerChannel(session: Session, serverId: string, channelId: string): Promise<boolean> {
    const channel = await this.directory.findChannel(channelId)
    return channel !== null && channel.serverId === serverId && (await this.directory.canRead(session.userId, channel))
  }
}

/** Whether a topic is covered by one of the filters granted to a session (exact or server-wide). */
export function grantCovers(granted: ReadonlySet<string>, topic: string): boolean {
  if (granted.has(topic)) return true
  const t = parseTopic(topic)
  return t !== null && (t.kind === 'server-channel' || t.kind === 'typing') && granted.has(topics.serverWildcard(t.serverId))
}
