// A small observable value for app-wide state, and the hook that re-renders a component when
// the part of it the component reads changes.
import { useEffect, useState } from 'preact/hooks'

export class Store<T extends object> {
  private listeners = new Set<() => void>()

  constructor(private state: T) {}

  get(): T {
    return this.state
  }

  /** Replaces the given fields; listeners run once per call. */
  set(change: Partial<T>): void {
    this.state = { ...this.state, ...change }
    for (const fn of [...this.listeners]) fn()
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }
}

/**
 * The selected part of a store's state; re-renders only when it is a different value.
 * `deps`: what the selector reads besides the state (a prop), so a new one selects anew.
 */
export function useStore<T extends object, S>(store: Store<T>, select: (state: T) => S, deps: readonly unknown[] = []): S {
  const [value, setValue] = useState(() => select(store.get()))
  useEffect(() => {
    const update = (): void => setValue(() => select(store.get()))
    update()
    return store.subscribe(update)
  }, [store, ...deps])
  return value
}
