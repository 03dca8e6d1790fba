// ClientStorage in one JSON file (Node): written to a temporary file and renamed, so a crash
// leaves the old state or the new one, never half of it. Writes are serialised.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { ClientStorage } from './storage.ts'

export class FileStorage implements ClientStorage {
  private state: Promise<Record<string, string>> | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(readonly path: string) {}

  private read(): Promise<Record<string, string>> {
    this.state ??= readFile(this.path, 'utf8').then(
      (text) => {
        const parsed: unknown = JSON.parse(text)
        return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {}
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return {}
        throw err
      },
    )
    return this.state
  }

  private persist(state: Record<string, string>): Promise<void> {
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true })
      const temp = `${this.path}.${process.pid}.tmp`
      await writeFile(temp, JSON.stringify(state), { mode: 0o600 })
      await rename(temp, this.path)
    })
    return this.writing
  }

  async load(key: string): Promise<string | null> {
    return (await this.read())[key] ?? null
  }
  async save(key: string, value: string): Promise<void> {
    const state = await this.read()
    state[key] = value
    await this.persist(state)
  }
  async remove(key: string): Promise<void> {
    const state = await this.read()
    delete state[key]
    await this.persist(state)
  }
}
