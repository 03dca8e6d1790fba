// Guards the subscription store of Aedes's persistence, for two faults of aedes 1.x with
// its persistences (both reproduced by test/e2e/persistent-subscribe.test.ts):
//  - On a SUBSCRIBE of several filters by a persistent session (clean = false), aedes calls
//    addSubscriptions(client, allFiltersOfThePacket) once per filter, concurrently.
//    aedes-persistence's broadcast waits for its own echo under a key made of the client id
//    and the first filter, so the concurrent calls overwrite each other's waiter and one of
//    them never resolves: the SUBACK is never sent.
//  - Each of those calls stores every filter of the packet, including the ones our
//    authorizeSubscribe refused, so a refused `#` would still fill the session's offline
//    queue with every QoS 1 message.
// The guard stores only filters granted to the connection, each once per connection (and
// qos), so no two calls carry the same first filter.
import type { Aedes, Client } from 'aedes'
import { sessionOf } from './sessions.ts'

interface Sub {
  topic: string
  qos: number
}

interface SubscriptionStore {
  addSubscriptions(client: Client, subs: Sub[]): Promise<unknown>
  removeSubscriptions(client: Client, topics: string[]): Promise<unknown>
}

export function guardSubscriptionStore(aedes: Aedes): void {
  const persistence = (aedes as unknown as { persistence: SubscriptionStore }).persistence
  const add = persistence.addSubscriptions.bind(persistence)
  const remove = persistence.removeSubscriptions.bind(persistence)
  const stored = new WeakMap<Client, Set<string>>()
  const key = (s: Sub): string => `${s.topic}\u0000${s.qos}`
  persistence.addSubscriptions = async (client, subs) => {
    const granted = sessionOf(client)?.granted
    let mine = stored.get(client)
    if (mine === undefined) stored.set(client, (mine = new Set()))
    const fresh = subs.filter((s) => granted?.has(s.topic) === true && !mine.has(key(s)))
    for (const s of fresh) mine.add(key(s))
    if (fresh.length === 0) return client
    return add(client, fresh)
  }
  persistence.removeSubscriptions = async (client, topics) => {
    const mine = stored.get(client)
    if (mine !== undefined) for (const k of [...mine]) if (topics.includes(k.slice(0, k.indexOf('\u0000')))) mine.delete(k)
    return remove(client, topics)
  }
}
