// Authors are user ids in deltas and messages; people read names. Looked up once per user
// (GET /api/users/{id}) and kept for the life of the command.
import type { ChimeHttp, UserProfileJson } from '../sdk/src/index.ts'

export class Names {
  private readonly known = new Map<string, string>()
  private readonly asking = new Map<string, Promise<string>>()

  constructor(private readonly http: ChimeHttp) {}

  /** The name now if known, else a short form of the id. */
  peek(userId: string): string {
    return this.known.get(userId) ?? userId.slice(-6)
  }

  has(userId: string): boolean {
    return this.known.has(userId)
  }

  set(userId: string, name: string): void {
    this.known.set(userId, name)
  }

  /** The user's display name (its username when it has none); the short id when the lookup fails. */
  get(userId: string): Promise<string> {
    const known = this.known.get(userId)
    if (known !== undefined) return Promise.resolve(known)
    let p = this.asking.get(userId)
    if (p === undefined) {
      p = this.http.get<UserProfileJson>(`/api/users/${encodeURIComponent(userId)}`).then(
        (u) => {
          const name = u.display_name !== '' ? u.display_name : (u.username ?? userId)
          this.known.set(userId, name)
          return name
        },
        () => this.peek(userId),
      )
      this.asking.set(userId, p)
    }
    return p
  }

  /** Looks up every id of a list at once. */
  async load(userIds: Iterable<string>): Promise<void> {
    await Promise.all([...new Set(userIds)].map((id) => this.get(id)))
  }
}
