import type { AedesPublishPacket, Client } from 'aedes'
import { grantCovers } from '../access.ts'
import { sessionOf } from '../sessions.ts'
import { skipTypingTo } from '../typing.ts'

/**
 * Every delivery, live or from an offline queue, must be covered by a filter granted to the
 * receiving connection's own user. Synchronous and O(1): a set lookup.
 */
export function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
  const session = sessionOf(client)
  if (session === undefined) return null
  if (!grantCovers(session, packet.topic)) {
    // A presence refused while its grant is re-checked is held, not lost (revoke-grants.ts).
    if (session.presenceOnHold?.has(packet.topic)) session.presenceOnHold.set(packet.topic, { payload: packet.payload })
    return null
  }
  // Typing goes first under load: none to a subscriber whose socket is backed up (typing.ts).
  return skipTypingTo(client, packet.topic) ? null : packet
}
