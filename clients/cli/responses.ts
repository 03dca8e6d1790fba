// Answers of docs/protocol.md that the SDK does not type (REST routes and reads), as the
// CLI reads them.
import type { MessageJson } from '../sdk/src/index.ts'

/** LIST_MESSAGES_RESPONSE data. */
export interface ListMessagesResponseData {
  channel_id: string
  /** Oldest first. */
  messages: MessageJson[]
  has_more: boolean
  last_seq: string
}

/** An item of GET /api/servers. */
export interface ServerJson {
  server_id: string
  name: string
  description: string | null
  is_public: boolean
  icon_file_id: string | null
  member_count: number
  owner_id: string
  role: string
}

/** GET /api/servers/{serverId}/channels. */
export interface ServerChannelsJson {
  server_id: string
  channels: { channel_id: string; name: string; type: string; position: number; private: boolean; permissions: number }[]
}
