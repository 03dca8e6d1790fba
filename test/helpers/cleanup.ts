import type { Test } from 'tap'

const stacks = new WeakMap<Test, (() => unknown)[]>()

/**
 * Registers a cleanup that runs when the test ends, last registered first (tap runs
 * teardowns in registration order, which would stop Redis before the broker using it).
 */
export function defer(t: Test, fn: () => unknown): void {
  let stack = stacks.get(t)
  if (stack === undefined) {
    const s: (() => unknown)[] = []
    stacks.set(t, s)
    t.teardown(async () => {
      while (s.length > 0) await s.pop()!()
    })
    stack = s
  }
  stack.push(fn)
}
