// Posts the user wrote that the server has not confirmed yet. Each has its client_msg_id from
// the moment it is written, so sending it again (after a reload, a reconnect, a timeout)
// never posts it twice: the server answers the original delta with `duplicate: true`.
import type { ClientStorage } from './storage.ts'

export type OutboxState = 'pending' | 'failed'

export interface OutboxItem {
  client_msg_id: string
  channel_id: string
  /** The POST_MESSAGE data besides channel_id and client_msg_id (content, attachments, reply_to...). */
  data: Record<string, unknown>
  created_at: string
  attempts: number
  state: OutboxState
  /** Why it failed for good (state failed): the error code and message. */
  error?: { code: string; message: string }
}

const KEY = 'outbox'

export class Outbox {
  private items: OutboxItem[] = []
  private saving: Promise<void> = Promise.resolve()

  constructor(private readonly storage: ClientStorage) {}

  async load(): Promise<void> {
    const text = await this.storage.load(KEY)
    const parsed: unknown = text === null ? [] : JSON.parse(text)
    this.items = Array.isArray(parsed) ? (parsed as OutboxItem[]) : []
  }

  list(): OutboxItem[] {
    return this.items.map((i) => ({ ...i }))
  }

  pending(): OutboxItem[] {
    return this.items.filter((i) => i.state === 'pending')
  }

  get(clientMsgId: string): OutboxItem | undefined {
    return this.items.find((i) => i.client_msg_id === clientMsgId)
  }

  async add(item: OutboxItem): Promise<void> {
    this.items.push(item)
    await this.save()
  }

  async update(clientMsgId: string, change: Partial<OutboxItem>): Promise<void> {
    const i = this.items.findIndex((x) => x.client_msg_id === clientMsgId)
    if (i < 0) return
    this.items[i] = { ...this.items[i]!, ...change }
    await this.save()
  }

  async remove(clientMsgId: string): Promise<boolean> {
    const before = this.items.length
    this.items = this.items.filter((i) => i.client_msg_id !== clientMsgId)
    if (this.items.length === before) return false
    await this.save()
    return true
  }

  private save(): Promise<void> {
    const snapshot = JSON.stringify(this.items)
    this.saving = this.saving.then(() => this.storage.save(KEY, snapshot))
    return this.saving
  }
}

/** A client_msg_id: random, printable ASCII, 26 characters. */
export function newClientMsgId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz'
  let out = 'm'
  for (const b of bytes) out += alphabet[b % 36]
  return out + Date.now().toString(36).slice(-9)
}
