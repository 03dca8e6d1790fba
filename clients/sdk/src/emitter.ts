// A small typed event emitter that runs in browsers and Node alike (no node:events).

export type Listener<T> = (value: T) => void

export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>()

  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, (set = new Set()))
    set.add(fn as Listener<never>)
    return () => this.off(event, fn)
  }

  once<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(event, (v) => {
      off()
      fn(v)
    })
    return off
  }

  off<K extends keyof Events>(event: K, fn: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(fn as Listener<never>)
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        ;(fn as Listener<Events[K]>)(value)
      } catch (err) {
        // A listener that throws must not stop the others, nor the client's own work.
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
}
