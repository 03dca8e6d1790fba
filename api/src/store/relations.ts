// Favorites and blocks between users, through Prisma. Other modules ask `isBlocked` and
// `blockedEither` before letting one user reach another (chats, messages, presence).
import type { Database } from '../db/open-database.ts'

export interface RelationRow {
  userId: string
  since: Date
}

export class Relations {
  constructor(private readonly db: Database) {}

  /** Whether blockerId has blocked blockedId. */
  async isBlocked(blockerId: string, blockedId: string): Promise<boolean> {
    if (blockerId === blockedId) return false
    const row = await this.db.prisma.block.findUnique({ where: { userId_blockedId: { userId: blockerId, blockedId } }, select: { userId: true } })
    return row !== null
  }

  /** Whether either of the two users has blocked the other. */
  async blockedEither(a: string, b: string): Promise<boolean> {
    if (a === b) return false
    const row = await this.db.prisma.block.findFirst({
      where: { OR: [{ userId: a, blockedId: b }, { userId: b, blockedId: a }] },
      select: { userId: true },
    })
    return row !== null
  }

  /** The users userId has blocked, newest first. */
  async blocked(userId: string): Promise<RelationRow[]> {
    const rows = await this.db.prisma.block.findMany({ where: { userId }, orderBy: [{ createdAt: 'desc' }, { blockedId: 'asc' }], select: { blockedId: true, createdAt: true } })
    return rows.map((r) => ({ userId: r.blockedId, since: r.createdAt }))
  }

  /** Blocks (again is a no-op); true when the block is new. */
  block(userId: string, blockedId: string): Promise<boolean> {
    return this.insertIgnoringDuplicate(() => this.db.prisma.block.create({ data: { userId, blockedId } }))
  }

  /** Unblocks; true when there was a block. */
  async unblock(userId: string, blockedId: string): Promise<boolean> {
    return (await this.db.prisma.block.deleteMany({ where: { userId, blockedId } })).count > 0
  }

  /** The favorites of userId, newest first. */
  async favorites(userId: string): Promise<RelationRow[]> {
    const rows = await this.db.prisma.favorite.findMany({ where: { userId }, orderBy: [{ createdAt: 'desc' }, { favoriteId: 'asc' }], select: { favoriteId: true, createdAt: true } })
    return rows.map((r) => ({ userId: r.favoriteId, since: r.createdAt }))
  }

  async isFavorite(userId: string, favoriteId: string): Promise<boolean> {
    return (await this.db.prisma.favorite.findUnique({ where: { userId_favoriteId: { userId, favoriteId } }, select: { userId: true } })) !== null
  }

  /** Adds a favorite (again is a no-op); true when it is new. */
  addFavorite(userId: string, favoriteId: string): Promise<boolean> {
    return this.insertIgnoringDuplicate(() => this.db.prisma.favorite.create({ data: { userId, favoriteId } }))
  }

  /** Removes a favorite; true when there was one. */
  async removeFavorite(userId: string, favoriteId: string): Promise<boolean> {
    return (await this.db.prisma.favorite.deleteMany({ where: { userId, favoriteId } })).count > 0
  }

  private async insertIgnoringDuplicate(insert: () => Promise<unknown>): Promise<boolean> {
    try {
      await insert()
      return true
    } catch (err) {
      if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002') return false
      throw err
    }
  }
}
