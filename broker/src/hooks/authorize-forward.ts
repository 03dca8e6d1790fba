import type { AedesPublishPacket, Client } from 'aedes'
import { grantCovers } from '../access.ts'
import { sessionOf } from '../sessions.ts'

/**
 * Every delivery, live or from an offline queue, must be covered by a filter granted to the
 * receiving connection's own user. Synchronous and O(1): a set lookup.
 */
export function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
  const session = sessionOf(client)
  return session !== undefined && grantCovers(session, packet.topic) ? packet : null
}
