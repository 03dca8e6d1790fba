// Sign-ins (auth_sessions), the device registry (devices) and account deletion, through
// Prisma. The broker reads the same rows at CONNECT (broker/src/hooks/authenticate.ts).
import { createHash, randomBytes } from 'node:crypto'
import type { Database } from '../db/open-database.ts'
import { newId } from '../ids.ts'

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002'
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/**
 * A refresh token is `<session id>.<32 random bytes, base64url>`; only its SHA-256 is stored.
 * The session id lets a token that was already rotated be recognised (and its sign-in revoked).
 */
export function newRefreshToken(sessionId: string): string {
  return `${sessionId}.${randomBytes(32).toString('base64url')}`
}

/** The session id of a well-formed refresh token, or null. */
export function refreshTokenSession(token: string): string | null {
  const m = /^([0-9A-Z]{26})\.([A-Za-z0-9_-]{43})$/.exec(token)
  return m === null ? null : m[1]!
}

/** The username a deleted account keeps: unique, and never a valid username to register. */
export function tombstoneUsername(userId: string): string {
  return `deleted_${userId}`
}

export interface SessionRow {
  id: string
  userId: string
  refreshHash: string
  expiresAt: Date
  revokedAt: Date | null
}

export interface DeviceRow {
  clientId: string
  userId: string
  platform: string
  name: string | null
  firstSeen: Date
  lastSeen: Date
  revokedAt: Date | null
}

export interface ProfileRow {
  id: string
  username: string
  passwordHash: string
  displayName: string
  statusText: string | null
  timezone: string | null
  iconFileId: string | null
  /** Others are not told when this user read their messages (receipts: docs/protocol.md). */
  hideReadReceipts: boolean
  deletedAt: Date | null
  createdAt: Date
}

/** Why a CONNECT is refused, or null when it may go on. */
export type ConnectVerdict = null | 'session-revoked' | 'user-deleted' | 'device-revoked' | 'client-id-taken'

export class AccountStore {
  constructor(private readonly db: Database) {}

  // ---- sign-ins

  /** A new sign-in of userId; answers its id and its first refresh token. */
  async createSession(userId: string, ttlSeconds: number): Promise<{ sessionId: string; refreshToken: string }> {
    const sessionId = newId()
    const refreshToken = newRefreshToken(sessionId)
    await this.db.prisma.authSession.create({
      data: { id: sessionId, userId, refreshHash: sha256Hex(refreshToken), expiresAt: new Date(Date.now() + ttlSeconds * 1000) },
    })
    return { sessionId, refreshToken }
  }

  findSession(sessionId: string): Promise<SessionRow | null> {
    return this.db.prisma.authSession.findUnique({ where: { id: sessionId }, select: { id: true, userId: true, refreshHash: true, expiresAt: true, revokedAt: true } })
  }

  /**
   * Replaces the refresh token of a live sign-in, only if `oldHash` is still its current one
   * (one of two concurrent refreshes with the same token wins). Answers the new token, or
   * null when the token was no longer current.
   */
  async rotate(sessionId: string, oldHash: string, ttlSeconds: number): Promise<string | null> {
    const refreshToken = newRefreshToken(sessionId)
    const { count } = await this.db.prisma.authSession.updateMany({
      where: { id: sessionId, refreshHash: oldHash, revokedAt: null },
      data: { refreshHash: sha256Hex(refreshToken), expiresAt: new Date(Date.now() + ttlSeconds * 1000) },
    })
    return count === 1 ? refreshToken : null
  }

  /** Revokes one sign-in (again is a no-op). */
  async revokeSession(sessionId: string): Promise<void> {
    await this.db.prisma.authSession.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date() } })
  }

  /** Whether the sign-in exists, belongs to userId and is not revoked (expiry is the refresh token's business). */
  async sessionLive(sessionId: string, userId: string): Promise<boolean> {
    const row = await this.db.prisma.authSession.findUnique({ where: { id: sessionId }, select: { userId: true, revokedAt: true } })
    return row !== null && row.userId === userId && row.revokedAt === null
  }

  /** Sets a new password hash and revokes every other live sign-in of the user, in one transaction; answers their ids. */
  async changePassword(userId: string, passwordHash: string, keepSessionId: string | undefined): Promise<string[]> {
    const others = await this.db.prisma.authSession.findMany({
      where: { userId, revokedAt: null, ...(keepSessionId !== undefined ? { id: { not: keepSessionId } } : {}) },
      select: { id: true },
    })
    const ids = others.map((o) => o.id)
    const now = new Date()
    await this.db.prisma.$transaction([
      this.db.prisma.user.update({ where: { id: userId }, data: { passwordHash } }),
      this.db.prisma.authSession.updateMany({ where: { userId, revokedAt: null, ...(keepSessionId !== undefined ? { id: { not: keepSessionId } } : {}) }, data: { revokedAt: now } }),
    ])
    return ids
  }

  /** Revokes every live sign-in of the user; answers their ids. */
  async revokeAllSessions(userId: string): Promise<string[]> {
    const live = await this.db.prisma.authSession.findMany({ where: { userId, revokedAt: null }, select: { id: true } })
    await this.db.prisma.authSession.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: new Date() } })
    return live.map((s) => s.id)
  }

  // ---- CONNECT (broker)

  /**
   * What the broker checks at CONNECT, in one round of primary-key reads: the sign-in is
   * live, its user is not deleted, the client id is not a device this user revoked.
   */
  async checkConnect(userId: string, sessionId: string, clientId: string): Promise<{ verdict: ConnectVerdict; device: DeviceRow | null }> {
    const [session, user, device] = await Promise.all([
      this.db.prisma.authSession.findUnique({ where: { id: sessionId }, select: { userId: true, revokedAt: true } }),
      this.db.prisma.user.findUnique({ where: { id: userId }, select: { deletedAt: true } }),
      clientId === '' ? null : this.db.prisma.device.findUnique({ where: { clientId } }),
    ])
    if (user === null || user.deletedAt !== null) return { verdict: 'user-deleted', device }
    if (session === null || session.userId !== userId || session.revokedAt !== null) return { verdict: 'session-revoked', device }
    // A client id belongs to the user whose device it is: on any node, another user's
    // CONNECT with it would take over (or, across nodes, close) that user's session.
    if (device !== null && device.userId !== userId) return { verdict: 'client-id-taken', device }
    if (device !== null && device.revokedAt !== null) return { verdict: 'device-revoked', device }
    return { verdict: null, device }
  }

  /**
   * Records the first CONNECT of a client id in the device registry (checkConnect refused
   * other users' client ids). The CONNECTs of known devices move last_seen through
   * recordSeen, in batches (broker/src/device-seen.ts).
   */
  async recordNewDevice(userId: string, clientId: string): Promise<void> {
    if (clientId === '') return
    const now = new Date()
    try {
      await this.db.prisma.device.create({ data: { clientId, userId, firstSeen: now, lastSeen: now } })
    } catch (err) {
      if (!isUniqueViolation(err)) throw err
      await this.db.prisma.device.updateMany({ where: { clientId, userId }, data: { lastSeen: now } })
    }
  }

  /** Sets last_seen of these devices (one statement a slice, under SQLite's parameter limit). */
  async recordSeen(clientIds: readonly string[], at: Date): Promise<void> {
    for (let i = 0; i < clientIds.length; i += 500) {
      await this.db.prisma.device.updateMany({ where: { clientId: { in: clientIds.slice(i, i + 500) } }, data: { lastSeen: at } })
    }
  }

  // ---- devices (HTTP)

  findDevice(clientId: string): Promise<DeviceRow | null> {
    return this.db.prisma.device.findUnique({ where: { clientId } })
  }

  listDevices(userId: string): Promise<DeviceRow[]> {
    return this.db.prisma.device.findMany({ where: { userId }, orderBy: [{ lastSeen: 'desc' }, { clientId: 'asc' }] })
  }

  /** Creates or updates the user's device and clears its revocation. */
  async registerDevice(userId: string, clientId: string, platform: string, name: string | null | undefined): Promise<DeviceRow> {
    const now = new Date()
    const named = name === undefined ? {} : { name }
    try {
      return await this.db.prisma.device.upsert({
        where: { clientId },
        create: { clientId, userId, platform, name: name ?? null, firstSeen: now, lastSeen: now },
        update: { userId, platform, ...named, revokedAt: null },
      })
    } catch (err) {
      if (!isUniqueViolation(err)) throw err
      return this.db.prisma.device.update({ where: { clientId }, data: { userId, platform, ...named, revokedAt: null } })
    }
  }

  /** Marks the user's device revoked; false when the client id is not one of the user's devices. */
  async revokeDevice(userId: string, clientId: string): Promise<boolean> {
    const { count } = await this.db.prisma.device.updateMany({ where: { clientId, userId }, data: { revokedAt: new Date() } })
    return count === 1
  }

  // ---- users

  findUser(userId: string): Promise<ProfileRow | null> {
    return this.db.prisma.user.findUnique({ where: { id: userId } })
  }

  findUsers(userIds: readonly string[]): Promise<ProfileRow[]> {
    return userIds.length === 0 ? Promise.resolve([]) : this.db.prisma.user.findMany({ where: { id: { in: [...userIds] } } })
  }

  findUserByUsername(username: string): Promise<ProfileRow | null> {
    return this.db.prisma.user.findUnique({ where: { username } })
  }

  async updateProfile(userId: string, patch: { displayName?: string; statusText?: string | null; timezone?: string | null; iconFileId?: string | null; hideReadReceipts?: boolean }): Promise<ProfileRow> {
    return this.db.prisma.user.update({ where: { id: userId }, data: patch })
  }
}
