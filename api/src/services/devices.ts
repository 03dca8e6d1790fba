// The device registry (docs/protocol.md, "Devices"): the broker records every client id a
// user connects with; users name their devices, list them and revoke them. A revoked client
// id is disconnected everywhere and refused at CONNECT until it is registered again.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { announce, identityOf } from '../auth/identity.ts'
import { requireId, requireString, type Data } from '../requests/fields.ts'
import type { DeviceRow } from '../store/accounts.ts'
import type { Caller, Core } from './context.ts'

const PLATFORM = /^[a-z0-9][a-z0-9_.-]{0,31}$/

export interface DeviceJson {
  client_id: string
  platform: string
  name: string | null
  first_seen: string
  last_seen: string
  revoked: boolean
  revoked_at: string | null
  /** Present when the answering process runs the broker: whether the device is connected to it now. */
  online?: boolean
}

/** Whether a client id of userId is connected to a broker in this process (undefined: not known here). */
export type OnlineCheck = (clientId: string, userId: string) => boolean

function deviceJson(d: DeviceRow, online?: OnlineCheck): DeviceJson {
  return {
    client_id: d.clientId,
    platform: d.platform,
    name: d.name,
    first_seen: d.firstSeen.toISOString(),
    last_seen: d.lastSeen.toISOString(),
    revoked: d.revokedAt !== null,
    revoked_at: d.revokedAt?.toISOString() ?? null,
    ...(online !== undefined ? { online: online(d.clientId, d.userId) } : {}),
  }
}

/** Registers (or renames) one of the caller's devices; a revoked one may connect again. */
export async function doRegisterDevice(core: Core, caller: Caller, data: Data, online?: OnlineCheck): Promise<DeviceJson> {
  const clientId = requireId(data, 'client_id')
  const platform = data['platform'] === undefined ? 'unknown' : requireString(data, 'platform', { min: 1, max: 32 }).toLowerCase()
  if (!PLATFORM.test(platform)) throw new ChatError('INVALID_FIELD', 'platform must be 1 to 32 of a-z 0-9 _ . - (ios, android, web, desktop, iot ...)', { field: 'platform' })
  let name: string | null | undefined
  if (data['name'] === null) name = null
  else if (data['name'] !== undefined) name = requireString(data, 'name', { max: 128 }).trim() || null
  const { accounts } = identityOf(core)
  const existing = await accounts.findDevice(clientId)
  if (existing !== null && existing.userId !== caller.userId) throw new ChatError('CLIENT_ID_TAKEN')
  return deviceJson(await accounts.registerDevice(caller.userId, clientId, platform, name), online)
}

export async function doListDevices(core: Core, caller: Caller, online?: OnlineCheck): Promise<{ devices: DeviceJson[] }> {
  return { devices: (await identityOf(core).accounts.listDevices(caller.userId)).map((d) => deviceJson(d, online)) }
}

/** Revokes one of the caller's devices and closes its connections on every broker node. */
export async function doRevokeDevice(core: Core, caller: Caller, clientId: string): Promise<{ client_id: string; revoked: true }> {
  if (!(await identityOf(core).accounts.revokeDevice(caller.userId, clientId))) throw new ChatError('DEVICE_NOT_FOUND')
  await announce(core, [{ type: 'sessions-revoked', userId: caller.userId, clientIds: [clientId] }])
  return { client_id: clientId, revoked: true }
}
