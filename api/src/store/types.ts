import type { DeltaType, MessageKind } from '../../../clients/sdk/src/protocol.ts'

export interface UserRecord {
  id: string
  username: string
  passwordHash: string
  displayName: string
  createdAt: Date
}

export type { Role as ServerRole } from '../../../clients/sdk/src/permissions.ts'
import type { Role } from '../../../clients/sdk/src/permissions.ts'
/** text and voice: channels of a server; server: a server's own log; dm and group: chats. */
export type ChannelKind = 'text' | 'voice' | 'server' | 'dm' | 'group'

export interface MemberRecord {
  role: Role
  mutedUntil: Date | null
}

export interface ChannelRecord {
  id: string
  /** null for a chat (1:1 or group). */
  serverId: string | null
  kind: ChannelKind
  name: string
  /** A deleted channel or an ended group. */
  closed: boolean
  /** Secret chats: messages expire this many seconds after they are sent (null: never). */
  messageTtlSeconds?: number | null
}

export interface ServerRecord {
  id: string
  name: string
  ownerId: string
  isPublic: boolean
}

/** The current-state row a `message` delta creates (the messages table). */
export interface MessageFields {
  kind: MessageKind
  replyTo: bigint | null
  expiresAt: Date | null
  /** Mention targets: user ids, "role:<role>", "everyone". */
  mentions: readonly string[]
  /** The files it carries, in order: one attachments row each (written with the message). */
  fileIds?: readonly string[]
}

/** One delta to append; the sequencer assigns delta_id and seq. */
export interface AppendInput {
  channelId: string
  userId: string
  type: DeltaType
  content: string | null
  clientMsgId?: string | undefined
  /** The message this delta is about (edit, delete, reaction, pin, vote, expiry). */
  targetId?: bigint | undefined
  /** Type-specific fields, as JSON text (docs/protocol.md, "Messages"). */
  meta?: string | undefined
  /** File references of a message, as JSON text. */
  attachments?: string | undefined
  /** Set on `message` deltas: what its messages row holds besides the content. */
  message?: MessageFields | undefined
}

export interface DeltaRecord {
  deltaId: bigint
  channelId: string
  serverId: string | null
  seq: bigint
  type: DeltaType
  userId: string
  content: string | null
  clientMsgId: string | null
  targetId: bigint | null
  meta: string | null
  attachments: string | null
  isPartitionHead: boolean
  createdAt: Date
}

export interface AppendResult {
  delta: DeltaRecord
  /** true when (user, client_msg_id) had been committed before: nothing new was written. */
  duplicate: boolean
}

export interface PartitionLimits {
  maxDeltas: number
  maxBytes: number
}
