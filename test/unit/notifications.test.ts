// Notification rules without a server: which level and mute apply, which push endpoints and
// keys are accepted, and that handing published deltas to the notifier never waits for the
// notification work (the sequencer and the post's acknowledgement do not depend on it).
import t from 'tap'
import { createECDH, randomBytes } from 'node:crypto'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import { effectiveSetting } from '../../api/src/services/notifications.ts'
import { Notifier } from '../../api/src/services/notifier.ts'
import { checkPushSubscription, doRegisterPush, doVapidPublicKey } from '../../api/src/services/push.ts'
import type { Core } from '../../api/src/services/context.ts'
import type { DeltaPublisher } from '../../api/src/sequencer/sequencer.ts'
import type { Store } from '../../api/src/store/store.ts'
import type { DeltaRecord } from '../../api/src/store/types.ts'

t.test('the setting in force: the channel’s, else the default (at most mentions in servers), else built in', async (t) => {
  const now = Date.now()
  const later = new Date(now + 60_000)
  const earlier = new Date(now - 60_000)
  t.same(effectiveSetting('chat', undefined, undefined, now), { level: 'all', mutedUntil: null, source: 'built-in' })
  t.same(effectiveSetting('server-channel', undefined, undefined, now), { level: 'mentions', mutedUntil: null, source: 'built-in' })
  t.same(effectiveSetting('chat', undefined, { level: 'none', mutedUntil: null }, now), { level: 'none', mutedUntil: null, source: 'default' })
  t.same(effectiveSetting('server-channel', undefined, { level: 'all', mutedUntil: null }, now).level, 'mentions', 'a default of all is mentions in a server channel')
  t.same(effectiveSetting('server-channel', { level: 'all', mutedUntil: null }, { level: 'none', mutedUntil: null }, now), { level: 'all', mutedUntil: null, source: 'channel' })
  t.same(effectiveSetting('chat', { level: 'all', mutedUntil: earlier }, undefined, now).mutedUntil, null, 'a mute in the past is over')
  t.same(effectiveSetting('chat', { level: 'all', mutedUntil: null }, { level: 'all', mutedUntil: later }, now).mutedUntil, later, 'a muted default holds everywhere')
})

t.test('push subscriptions: https push services; this machine only when allowed; real keys', async (t) => {
  const keys = { p256dh: createECDH('prime256v1').generateKeys().toString('base64url'), auth: randomBytes(16).toString('base64url') }
  t.same(checkPushSubscription({ endpoint: 'https://push.example/send/abc', keys }, false), { endpoint: 'https://push.example/send/abc', ...keys })
  const field = (data: object, loopback: boolean): unknown => {
    try {
      checkPushSubscription(data as Record<string, unknown>, loopback)
      return 'accepted'
    } catch (err) {
      return (err as ChatError).details?.['field']
    }
  }
  t.equal(field({ endpoint: 'http://127.0.0.1:9/p', keys }, false), 'endpoint', 'this machine is refused by default')
  t.equal(field({ endpoint: 'https://localhost/p', keys }, false), 'endpoint', 'over https too')
  t.equal(field({ endpoint: 'http://127.0.0.1:9/p', keys }, true), 'accepted', 'and accepted with CHIME_PUSH_ALLOW_LOOPBACK=1')
  t.equal(field({ endpoint: 'http://[::1]:9/p', keys }, true), 'accepted')
  t.equal(field({ endpoint: 'http://push.example/p', keys }, true), 'endpoint', 'plain http elsewhere never')
  t.equal(field({ endpoint: 'https://push.example/p', keys: { ...keys, auth: keys.p256dh } }, false), 'keys.auth')
  t.equal(field({ endpoint: 'https://push.example/p', keys: { p256dh: 42, auth: keys.auth } }, false), 'keys.p256dh')
  t.equal(field({ endpoint: 'https://push.example/p', keys: 'k' }, false), 'keys')
})

t.test('publishing never waits for notification work, and the queue is bounded', async (t) => {
  // A store whose every read hangs: notification work can never finish.
  const hanging = new Promise<never>(() => {})
  const store = { directory: { findChannel: () => hanging }, db: { prisma: {} } } as unknown as Store
  const notifier = new Notifier(store, null, 3, { warn: () => {}, error: () => {} })
  notifier.attach({ inbox: { notify: () => hanging } } as unknown as Core)
  const published: bigint[] = []
  const publisher: DeltaPublisher = {
    publish: async (deltas) => void published.push(...deltas.map((d) => d.deltaId)),
    announce: async () => {},
    publishInbox: async () => {},
  }
  const wrapped = notifier.wrap(publisher)
  const delta = (id: number, type: DeltaRecord['type'] = 'message'): DeltaRecord => ({
    deltaId: BigInt(id), channelId: 'C', serverId: null, seq: BigInt(id), type, userId: 'U', content: 'x', clientMsgId: null, targetId: null, meta: null, attachments: null, isPartitionHead: false, createdAt: new Date(),
  })
  const started = Date.now()
  await wrapped.publish([delta(1), delta(2), delta(3, 'edit')])
  await wrapped.publish([delta(4), delta(5), delta(6)])
  t.ok(Date.now() - started < 1000, 'publish resolved while the notification work hangs')
  t.same(published, [1n, 2n, 3n, 4n, 5n, 6n], 'every delta was published, in order')
  t.equal(notifier.stats.dropped, 2, 'beyond the queue bound (3) new messages are dropped and counted; edits are not notified')
})

t.test('without VAPID keys Web Push answers PUSH_NOT_CONFIGURED', async (t) => {
  const core = { config: { pushAllowLoopback: 0 } } as unknown as Core
  t.throws(() => doVapidPublicKey(core), { code: 'PUSH_NOT_CONFIGURED' })
  await t.rejects(doRegisterPush(core, { userId: 'U', username: 'u' }, {}), { code: 'PUSH_NOT_CONFIGURED' })
})
