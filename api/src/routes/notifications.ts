// HTTP routes of notification settings, the preferred device and Web Push (docs/protocol.md,
// "Typing and notifications"); the same actions also go through /api/requests and MQTT.
import type { FastifyInstance } from 'fastify'
import type { Core } from '../services/context.ts'
import { doGetNotifications, doSetNotifications, doSetPreferredDevice } from '../services/notifications.ts'
import { doRegisterPush, doUnregisterPush, doVapidPublicKey } from '../services/push.ts'
import { body, caller, query } from './inputs.ts'

export function registerNotificationRoutes(app: FastifyInstance, core: Core): void {
  app.get('/api/notifications', async (request) => {
    const q = query(request)
    return doGetNotifications(core, caller(request), q['channel_id'] === undefined ? {} : { channel_id: q['channel_id'] })
  })
  app.put('/api/notifications', async (request) => doSetNotifications(core, caller(request), body(request)))
  app.put('/api/devices/preferred', async (request) => doSetPreferredDevice(core, caller(request), body(request)))
  // The web app needs the public key before it subscribes; it is public, so no token.
  app.get('/api/push/vapid-public-key', async () => doVapidPublicKey(core))
  app.post('/api/push/subscriptions', async (request) => doRegisterPush(core, caller(request), body(request)))
  app.delete('/api/push/subscriptions', async (request) => doUnregisterPush(core, caller(request), body(request)))
}
