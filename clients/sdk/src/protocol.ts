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
  // receipts (read markers) and the chat list with unread counts
  'MARK_RECEIVED', 'MARK_READ', 'LIST_CHATS',
  // notification settings, the preferred device and Web Push subscriptions
  'SET_NOTIFICATIONS', 'GET_NOTIFICATIONS', 'SET_PREFERRED_DEVICE', 'REGISTER_PUSH', 'UNREGISTER_PUSH',
  // full-text search over the messages the caller may read
  'SEARCH',
  // secret chats' timer, broadcast and chat history export
  'SET_CHAT_TIMER', 'BROADCAST_MESSAGE', 'EXPORT_CHAT',
  // catch-up of one channel or chat as the final state of what changed (seed 004's fetchDelta)
  'FETCH_DELTA',
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
/** A file a message carries, as the server recorded it (docs/protocol.md, "Files"). */
export interface AttachmentJson {
  file_id: string
  name: string
  /** Sniffed from the bytes, not the type the uploader announced. */
  mime_type: string
  size: number
  width?: number
  height?: number
  /** A thumbnail exists (DOWNLOAD_FILE with `thumbnail: true`). */
  thumbnail?: true
}

// ---- files (docs/protocol.md, "Files")

export interface FileJson {
  file_id: string
  name: string
  mime_type: string
  size: number
  sha256: string
  status: 'pending' | 'ready'
  channel_id: string
  uploader_id: string
  /** Served as itself (pictures, audio, video); anything else downloads as an attachment. */
  inline: boolean
  width?: number
  height?: number
  thumbnail?: { width: number; height: number }
  created_at: string
}

export interface UploadPartJson {
  part_number: number
  size: number
  upload_url: string
}

export interface UploadFileResponseData {
  response: 'OK'
  file_id: string
  method: 'PUT'
  /** The links and the pending upload expire then. */
  expires_at: string
  /** One PUT of the whole file; null for a multipart upload (see `parts`). */
  upload_url: string | null
  part_size?: number
  part_count?: number
  /** The parts still to send (all of them at first; after a resume only the missing ones). */
  parts?: UploadPartJson[]
}

export interface CompleteUploadResponseData {
  response: 'OK'
  file: FileJson
}

export interface DownloadFileResponseData {
  response: 'OK'
  file_id: string
  download_url: string
  expires_at: string
  name: string
  mime_type: string
  size: number
  sha256: string
  /** Whether the link serves the file inline (else as an attachment). */
  inline: boolean
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
  /**
   * true when the client misses more than CHIME_SYNC_MAX_BEHIND deltas: missing_deltas is
   * empty and the client catches up channel by channel (FETCH_DELTA or RESTORE_HISTORY).
   */
  restore_required: boolean
  /** With restore_required: the channels seen behind, with how many deltas each misses (at least). */
  behind?: { channel_id: string; missing: string }[]
  /** With channel_id and client_seq: the seq to SYNC from next. */
  next_client_seq?: string
}

/** FETCH_DELTA (also POST /api/sync/delta): one channel's or chat's missed deltas, folded. */
export interface FetchDeltaData {
  channel_id: string
  /** The last seq the client has; "0" or absent: from the start. */
  client_seq?: string
  /** Deltas examined per page, at most CHIME_MAX_PAGE_SIZE. */
  limit?: number
}

export interface FetchDeltaResponseData {
  channel_id: string
  /** The channel's last seq in the snapshot the page was read from. */
  last_seq: string
  /** Messages created in the page's window, as they are now; deleted and expired ones left out. */
  new_messages: MessageJson[]
  /** Older messages changed in the window, as they are now (`deleted: true` without content once gone). */
  updates: MessageJson[]
  /** The window's deltas that are not about messages (membership, the channel), as they are. */
  deltas: DeltaJson[]
  has_more: boolean
  /** Ask from here next (FETCH_DELTA while has_more, then SYNC or live deltas). */
  next_client_seq: string
  /** true when the client now has everything up to last_seq. */
  recovered: boolean
}

export interface RestoreHistoryData {
  channel_id: string
  /** Continue after this seq (paging). */
  after_seq?: string
  limit?: number
}

/** Where a partition lies in its channel's log. */
export interface PartitionRangeJson {
  partition_no: number
  start_seq: string
  end_seq: string
  start_delta_id: string
  end_delta_id: string
  delta_count: number
}

/** The first line of a history archive file (docs/protocol.md, "History archive files"). */
export interface ArchiveHeaderJson extends PartitionRangeJson {
  format: 'chime-history/1'
  channel_id: string
  server_id?: string
}

/** A sealed partition of a channel's log, archived as gzip NDJSON (docs/protocol.md, "History archive files"). */
export interface ArchivedPartitionJson extends PartitionRangeJson {
  /** Bytes of the compressed file. */
  size: string
  /** Hex SHA-256 of the compressed file. */
  sha256: string
  /** GET it before expires_at (Range requests work). */
  url: string
  expires_at: string
}

export interface RestoreHistoryResponseData {
  channel_id: string
  /** Archive files covering seq after_seq + 1 onwards, in order; deltas continue after the last. */
  partitions: ArchivedPartitionJson[]
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

// ---- receipts, unread counts and ListChats (docs/protocol.md, "Receipts, unread counts and ListChats")

/** MARK_RECEIVED and MARK_READ: the caller's watermark in a channel or chat rises to seq. */
export interface MarkReceiptData {
  channel_id: string
  /** A decimal string, at most the channel's last seq. */
  seq: string
}

/** The MARKER event on the user's inbox, after one of its markers moved. */
export interface MarkerEventData {
  channel_id: string
  read_seq: string
  received_seq: string
  unread: number
  mentions: number
  /** true when there are more than `unread` unread messages (counting stops at the cap). */
  unread_capped: boolean
  mentions_capped: boolean
}

export interface MarkReceiptResponseData extends MarkerEventData {
  /** false when the marker already was at or past seq: nothing changed and no event went out. */
  changed: boolean
}

/** The RECEIPT event on a chat author's inbox: `user_id` received or read the chat up to seq. */
export interface ReceiptEventData {
  channel_id: string
  user_id: string
  status: 'received' | 'read'
  seq: string
}

export interface ListChatsData {
  /** 0-based, default 0. */
  page?: number
  /** 1 to 100, default 50. */
  page_size?: number
}

export interface ChatListMessageJson {
  message_id: string
  user_id: string
  sender_name: string
  /** The first 100 characters of the content; null when deleted. */
  preview: string | null
  kind: MessageKind
  timestamp: string
  /** Set when the message was deleted or has expired. */
  deleted?: true
}

export interface ChatListItemJson {
  channel_id: string
  kind: 'text' | 'voice' | 'dm' | 'group'
  /** For a 1:1 chat, the other user's display name. */
  name: string
  /** For a 1:1 chat, the other user's id (absent otherwise). */
  peer_id?: string
  server_id: string | null
  server_name: string | null
  /** The thumbnail: the channel's icon, else its server's, else (1:1) the other user's. */
  icon_file_id: string | null
  last_message: ChatListMessageJson | null
  unread: number
  mentions: number
  unread_capped: boolean
  mentions_capped: boolean
  read_seq: string
  received_seq: string
  last_seq: string
  /** A deleted channel or an ended group (history stays readable). */
  closed: boolean
  last_activity_at: string | null
}

export interface ListChatsResponseData {
  chats: ChatListItemJson[]
  page: number
  page_size: number
  total: number
  has_more: boolean
}

/**
 * Published on chime/v1/{servers/{serverId}/channels/{channelId}|chats/{chatId}}/typing by the
 * broker, QoS 0, never retained; clients publish {"action":"TYPING","data":{"state"}}.
 */
export interface TypingEventData {
  /** The publisher, as the broker knows it (never taken from the payload). */
  user_id: string
  state: 'typing' | 'stopped'
  /** Show "typing" this long unless a newer event comes. */
  expires_in_ms: number
}

/** A notification setting: channel_id "*" is the user's default; level null means none set. */
export interface NotificationSettingJson {
  channel_id: string
  level: 'all' | 'mentions' | 'none' | null
  muted_until: string | null
}

/** {"action":"NOTIFICATION","data":...} on chime/v1/users/{userId}/inbox (QoS 1), and as the Web Push payload. */
export interface NotificationData {
  channel_id: string
  /** Set for server channels. */
  server_id?: string
  message_id: string
  sender_id: string
  sender_name: string
  /** The first 100 characters of the content; null for messages that expire (secret chats). */
  preview: string | null
  /** Whether the message mentions the user (directly, @everyone or the user's role). */
  mention: boolean
  /** The client id of the device that should alert (the preferred one, else the most recently seen); null: any. */
  device: string | null
}

/** SEARCH (docs/protocol.md, "Search"); also GET /api/search?q=... with the same fields. */
export interface SearchData {
  /** 1 to 200 characters of plain words: all must occur; the last one also as a word's start. */
  query: string
  channel_id?: string
  server_id?: string
  author_id?: string
  /** true: only messages with attachments; false: only without. */
  has_file?: boolean
  /** ISO 8601 (`2026-11-24` or `2026-11-24T10:00:00Z`): sent strictly before / after. */
  before?: string
  after?: string
  /** 1 to 50, default 20. */
  limit?: number
  /** next_cursor of the previous page of the same search. */
  cursor?: string
}

export interface SearchResultJson {
  message_id: string
  channel_id: string
  /** Set for messages of a server's channels; absent for chats. */
  server_id?: string
  user_id: string
  content: string
  /** Content longer than 160 characters: the part around the first matching word. */
  snippet?: string
  timestamp: string
  kind: MessageKind
}

/** Newest first; next_cursor null on the last page. */
export interface SearchResponseData {
  results: SearchResultJson[]
  next_cursor: string | null
}

// ---- secret chats, broadcast and export (docs/protocol.md, "Secret chats, broadcast and export")

/** SET_CHAT_TIMER (also PUT /api/chats/{chatId}/timer): 5 to 604,800 seconds, or null to turn it off. */
export interface SetChatTimerData {
  chat_id: string
  message_ttl_seconds: number | null
}

export interface SetChatTimerResponseData {
  chat_id: string
  message_ttl_seconds: number | null
  /** false when the chat already had this timer (nothing was recorded). */
  changed: boolean
}

/** BROADCAST_MESSAGE: POST_MESSAGE's message fields (no reply_to) for 2 to 20 targets. */
export interface BroadcastMessageData {
  channel_ids: string[]
  content?: string
  /** 1 to 60 printable ASCII characters; the message to channel_ids[i] gets `<client_msg_id>:<i>`. */
  client_msg_id?: string
  attachments?: AttachmentJson[]
  expires_in?: number
  forward_of?: string
  card_user_id?: string
  poll?: PollJson
}

export interface BroadcastMessageResponseData {
  status: 'success'
  /** true when this retried a broadcast already committed: nothing new was written. */
  duplicate: boolean
  client_msg_id?: string
  /** One per target, in the order of channel_ids. */
  messages: { channel_id: string; delta_id: string; seq: string; message_id: string; timestamp: string }[]
}

/** EXPORT_CHAT: a range of a channel's messages as an email (.eml). */
export interface ExportChatData {
  channel_id: string
  from_seq?: string
  to_seq?: string
  /** true: send it to `to` through the deployment's SMTP server; false: answer the download path. */
  email?: boolean
  to?: string
}

export type ExportChatResponseData =
  | { channel_id: string; email: false; download: string }
  | {
    channel_id: string
    email: true
    sent_to: string
    email_message_id: string | null
    from_seq: string
    to_seq: string
    messages: number
    truncated: boolean
    next_from_seq: string | null
  }

// ---- presence (docs/protocol.md, "Presence")

export const PRESENCE_STATUSES = ['online', 'away', 'offline'] as const
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number]

/** {"action":"PRESENCE","data":...} retained on chime/v1/users/{userId}/presence (the will says offline). */
export interface PresenceData {
  status: PresenceStatus
  /** At most 256 characters. */
  text?: string
}

// ---- answers of REST routes and reads that the clients share (docs/protocol.md)

/** LIST_MESSAGES_RESPONSE data. */
export interface ListMessagesResponseData {
  channel_id: string
  /** Oldest first. */
  messages: MessageJson[]
  has_more: boolean
  /** The channel's seq when the page was read: follow the channel from there. */
  last_seq: string
}

export type ServerRole = 'owner' | 'admin' | 'moderator' | 'member'

/** An item of GET /api/servers: a server the caller is a member of. */
export interface ServerJson {
  server_id: string
  name: string
  description: string | null
  is_public: boolean
  icon_file_id: string | null
  member_count: number
  owner_id: string
  role: ServerRole
}

/** A channel of GET /api/servers/{serverId}/channels, with the caller's permission bits in it. */
export interface ChannelJson {
  channel_id: string
  name: string
  type: 'text' | 'voice'
  position: number
  private: boolean
  permissions: number
}

/** GET /api/servers/{serverId}/channels: the channels the caller may read, in order. */
export interface ServerChannelsJson {
  server_id: string
  channels: ChannelJson[]
}

/** A public profile: GET /api/users/{userId}, GET /api/users?username=, GET /api/users/me (plus created_at). */
export interface UserProfileJson {
  user_id: string
  /** null for a deleted account. */
  username: string | null
  display_name: string
  status_text: string | null
  timezone?: string | null
  icon_file_id?: string | null
  deleted?: true
}

/** An item of GET /api/servers/{serverId}/members. */
export interface ServerMemberJson {
  user_id: string
  username: string | null
  display_name: string
  role: ServerRole
  muted_until: string | null
  joined_at: string
}

/** GET /api/servers/{serverId}/members (pages by user id). */
export interface ServerMembersJson {
  members: ServerMemberJson[]
  next_after: string | null
}

/** A member of GET /api/chats/{chatId}. */
export interface ChatMemberJson {
  user_id: string
  username: string | null
  display_name: string
  role: 'admin' | 'member'
}

/** GET /api/chats/{chatId}. */
export interface ChatJson {
  chat_id: string
  type: 'dm' | 'group'
  name: string | null
  icon_file_id: string | null
  ended: boolean
  last_seq: string
  secret: boolean
  message_ttl_seconds: number | null
  members: ChatMemberJson[]
}

/** GET /api/invites/{code}: what an invitation is for. */
export interface InvitePreviewJson {
  code: string
  server_id?: string
  chat_id?: string
  name: string | null
  icon_file_id: string | null
  member_count?: number
  expires_at: string | null
}
