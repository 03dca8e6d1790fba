import type { DeltaType } from '../../../clients/sdk/src/protocol.ts'

export interface UserRecord {
  id: string
  username: string
  passwordHash: string
  displayName: string
  createdAt: Date
}

export type ServerRole = 'owner' | 'admin' | 'moderator' | 'member'
export type ChannelKind = 'text' | 'voice' | 'dm' | 'group'

export interface ChannelRecord {
  id: string
  /** null for a chat (1:1 or group). */
  serverId: string | null
  kind: ChannelKind
  name: string
}

export interface ServerRecord {
  id: string
  name: string
  ownerId: string
  isPublic: boolean
}

/** One delta to append; the sequencer assigns delta_id and seq. */
export interface AppendInput {
  channelId: string
  userId: string
  type: DeltaType
  content: string | null
  clientMsgId?: string | undefined
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
