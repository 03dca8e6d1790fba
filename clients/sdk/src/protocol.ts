// Envelopes and payloads of the Chime protocol (docs/protocol.md). Every message over MQTT
// and HTTP is {"action": ..., "data": {...}}; ids are strings.
import type { ErrorCode } from './errors.ts'

export const ACTIONS = {
  SYNC: 'SYNC',
  SYNC_RESPONSE: 'SYNC_RESPONSE',
  POST_MESSAGE: 'POST_MESSAGE',
  POST_MESSAGE_RESPONSE: 'POST_MESSAGE_RESPONSE',
  PUBLISH_DELTA: 'PUBLISH_DELTA',
  RESTORE_HISTORY: 'RESTORE_HISTORY',
  RESTORE_HISTORY_RESPONSE: 'RESTORE_HISTORY_RESPONSE',
  MEMBERSHIP: 'MEMBERSHIP',
  ERROR: 'ERROR',
} as const

/** Actions a client may send as a request. */
export const REQUEST_ACTIONS = [
  'SYNC', 'POST_MESSAGE', 'RESTORE_HISTORY',
  // membership actions a client takes in real time; each answers <ACTION>_RESPONSE
  'CREATE_CHAT', 'JOIN_SERVER', 'LEAVE_SERVER', 'ACCEPT_INVITE', 'LEAVE_CHAT',
  // changes to messages and reads of their current state
  'EDIT_MESSAGE', 'DELETE_MESSAGE', 'ADD_REACTION', 'REMOVE_REACTION', 'PIN_MESSAGE', 'UNPIN_MESSAGE',
  'VOTE_POLL', 'RETRACT_VOTE', 'CLOSE_POLL', 'GET_MESSAGE', 'LIST_PINS',
] as const
export type RequestAction = (typeof REQUEST_ACTIONS)[number]

export interface Envelope<A extends string = string, D = object> {
  action: A
  data: D
  /** Set on requests sent over MQTT and echoed on their reply. */
  request_id?: string
}

/** Message deltas, then the changes of who-may-see-what recorded in server logs and chats. */
export const DELTA_TYPES = [
  'message', 'edit', 'delete',
  'reaction_added', 'reaction_removed', 'pinned', 'unpinned', 'poll_vote', 'poll_retracted', 'poll_closed', 'expired',
  'server_created', 'server_updated', 'server_deleted',
  'member_joined', 'member_left', 'member_kicked', 'member_banned', 'member_unbanned', 'member_muted', 'member_role', 'owner_transferred',
  'channel_created', 'channel_updated', 'channel_deleted', 'channels_reordered', 'channel_permissions',
  'chat_created', 'chat_updated', 'chat_member_added', 'chat_member_removed', 'chat_member_left', 'chat_admin', 'chat_ended',
] as const
export type DeltaType = (typeof DELTA_TYPES)[number]

/** Deltas that change an earlier message; their target_id is that message's id. */
export const MESSAGE_UPDATE_TYPES = [
  'edit', 'delete', 'reaction_added', 'reaction_removed', 'pinned', 'unpinned', 'poll_vote', 'poll_retracted', 'poll_closed', 'expired',
] as const satisfies readonly DeltaType[]

/** What a message is (docs/protocol.md, "Message kinds"). */
export const MESSAGE_KINDS = ['text', 'file', 'card', 'poll', 'forward'] as const
export type MessageKind = (typeof MESSAGE_KINDS)[number]

/** A file reference of a message (the file service answers its links). */
export interface AttachmentJson {
  file_id: string
  name: string
  mime_type: string
  size: number
  width?: number
  height?: number
}

/** The original of a reply, as it was when replied to. */
export interface QuotedMessageJson {
  message_id: string
  user_id: string
  content: string | null
  kind: MessageKind
  timestamp: string
}

export interface PollJson {
  question: string
  options: string[]
  multiple: boolean
  /** When voting stops (ISO time); absent: until closed by its author. */
  closes_at?: string
}

export interface ContactCardJson {
  user_id: string
  username: string
  display_name: string
}

/** The type-specific fields of a delta (DeltaJson.meta). */
export interface DeltaMetaJson {
  /** message: what it is. */
  kind?: MessageKind
  /** message: mention targets found in the content (user ids, "role:<role>", "everyone"). */
  mentions?: string[]
  /** message: the original it replies to, as it was then. */
  reply_to?: QuotedMessageJson
  /** message (kind forward): where the forwarded original came from. */
  forwarded_from?: { message_id: string; channel_id: string; user_id: string; timestamp: string }
  /** message (kind card): a user's contact card. */
  card?: ContactCardJson
  /** message (kind poll). */
  poll?: PollJson
  /** message: when its content is purged (secret chats). */
  expires_at?: string
  /** reaction_added, reaction_removed. */
  emoji?: string
  /** poll_vote: the chosen option indexes. */
  options?: number[]
  /** delete: "author" or "moderator". */
  by?: 'author' | 'moderator'
}

/** Poll results folded from the log (GET_MESSAGE). */
export interface PollResultsJson {
  /** Votes per option, in option order. */
  counts: number[]
  /** Users whose vote counts. */
  voters: number
  closed: boolean
  /** The caller's chosen options. */
  my_votes: number[]
}

/** A message's current state (GET_MESSAGE, LIST_PINS). */
export interface MessageJson {
  message_id: string
  channel_id: string
  seq: string
  user_id: string
  kind: MessageKind
  /** null once deleted or expired. */
  content: string | null
  timestamp: string
  meta?: Omit<DeltaMetaJson, 'reply_to'>
  attachments?: AttachmentJson[]
  /** The quote as it was when replied to; `original` says whether it still links anywhere. */
  reply_to?: QuotedMessageJson & { original: 'available' | 'deleted' }
  edited_at?: string
  expires_at?: string
  deleted?: true
  pinned?: { at: string; by: string }
  reactions: { emoji: string; count: number; me: boolean }[]
  poll?: PollResultsJson
}

/**
 * Published on chime/v1/users/{userId}/inbox when the user's membership changes, so its
 * clients subscribe or unsubscribe without polling.
 */
export interface MembershipEventData {
  change: 'joined' | 'left' | 'kicked' | 'banned' | 'unbanned' | 'muted' | 'role' | 'added' | 'removed' | 'ended'
  server_id?: string
  chat_id?: string
  role?: string
  by?: string
  reason?: string
  until?: string | null
  delta_id?: string
}

/** A delta as it travels in PUBLISH_DELTA, SYNC_RESPONSE and RESTORE_HISTORY_RESPONSE. */
export interface DeltaJson {
  delta_id: string
  seq: string
  type: DeltaType
  channel_id: string
  /** Set for deltas of a server channel; absent for chats. */
  server_id?: string
  user_id: string
  content: string | null
  timestamp: string
  client_msg_id?: string
  /** The message an update refers to (MESSAGE_UPDATE_TYPES). */
  target_id?: string
  meta?: DeltaMetaJson
  attachments?: AttachmentJson[]
  is_partition_head?: boolean
}

export interface PostMessageData {
  channel_id?: string
  /** The seed's spelling, accepted too. */
  'channel-id'?: string
  content: string
  client_msg_id?: string
}

export interface PostMessageResponseData {
  status: 'success'
  /** true when this was a retry of an already committed client_msg_id. */
  duplicate: boolean
  delta: DeltaJson
  delta_id: string
  seq: string
  channel_id: string
  timestamp: string
  client_msg_id?: string
}

export interface SyncData {
  /** Last delta id the client has (exclusive lower bound). */
  client_delta_id?: string
  channel_id?: string
  server_id?: string
  /** With channel_id: last per-channel seq the client has, instead of client_delta_id. */
  client_seq?: string
  limit?: number
}

export interface SyncResponseData {
  server_delta_id: string
  missing_deltas: DeltaJson[]
  /** More deltas follow: SYNC again from next_client_delta_id. */
  has_more: boolean
  next_client_delta_id: string
  /** true when missing_deltas (with earlier pages) hold everything the client missed. */
  recovered: boolean
}

export interface RestoreHistoryData {
  channel_id: string
  /** Continue after this seq (paging). */
  after_seq?: string
  limit?: number
}

export interface RestoreHistoryResponseData {
  channel_id: string
  deltas: DeltaJson[]
  has_more: boolean
  next_after_seq: string
  last_seq: string
}

export interface ErrorData {
  code: ErrorCode
  message: string
  request_id?: string
  details?: Record<string, unknown>
}
