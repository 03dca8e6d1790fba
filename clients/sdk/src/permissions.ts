// Roles and permission bits of servers (docs/protocol.md, "Roles and permissions").
// No Node-only imports: browsers use this file too.

export const PERMISSIONS = {
  READ: 1 << 0,
  POST: 1 << 1,
  MANAGE_MESSAGES: 1 << 2,
  MANAGE_CHANNELS: 1 << 3,
  MANAGE_MEMBERS: 1 << 4,
  BAN: 1 << 5,
  INVITE: 1 << 6,
  MANAGE_ROLES: 1 << 7,
  MANAGE_SERVER: 1 << 8,
  MENTION_EVERYONE: 1 << 9,
  ATTACH_FILES: 1 << 10,
  ADD_REACTIONS: 1 << 11,
} as const

export type PermissionName = keyof typeof PERMISSIONS
export const ALL_PERMISSIONS = Object.values(PERMISSIONS).reduce((a, b) => a | b, 0)

export const ROLES = ['owner', 'admin', 'moderator', 'member'] as const
export type Role = (typeof ROLES)[number]

/** Rank: a member may act on members of lower rank only. */
export const ROLE_RANK: Record<Role, number> = { owner: 3, admin: 2, moderator: 1, member: 0 }

const P = PERMISSIONS
export const ROLE_PERMISSIONS: Record<Role, number> = {
  owner: ALL_PERMISSIONS,
  admin: ALL_PERMISSIONS,
  moderator: P.READ | P.POST | P.MANAGE_MESSAGES | P.MANAGE_MEMBERS | P.BAN | P.INVITE | P.MENTION_EVERYONE | P.ATTACH_FILES | P.ADD_REACTIONS,
  member: P.READ | P.POST | P.INVITE | P.ATTACH_FILES | P.ADD_REACTIONS,
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

export interface Override {
  targetType: 'role' | 'user'
  target: string
  allow: number
  deny: number
}

/**
 * The permissions of a member in one channel: the role's bits, then the override for the
 * role (deny, then allow), then the override for the user. Owners and admins are not
 * subject to overrides. A muted member loses POST (and so typing) until the mute ends.
 */
export function channelPermissions(role: Role, userId: string, overrides: readonly Override[], muted = false): number {
  let bits = ROLE_PERMISSIONS[role]
  if (role !== 'owner' && role !== 'admin') {
    const forRole = overrides.find((o) => o.targetType === 'role' && o.target === role)
    if (forRole !== undefined) bits = (bits & ~forRole.deny) | forRole.allow
    const forUser = overrides.find((o) => o.targetType === 'user' && o.target === userId)
    if (forUser !== undefined) bits = (bits & ~forUser.deny) | forUser.allow
  }
  if (muted) bits &= ~P.POST
  return bits
}

export function has(bits: number, permission: number): boolean {
  return (bits & permission) === permission
}

/** Permission names of a bit set, for people. */
export function permissionNames(bits: number): PermissionName[] {
  return (Object.keys(PERMISSIONS) as PermissionName[]).filter((k) => (bits & PERMISSIONS[k]) !== 0)
}
