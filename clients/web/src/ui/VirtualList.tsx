// A scrolling list that renders only the items in and near the viewport (a channel may hold
// 10,000 messages or more). Heights are measured once rendered and estimated before; the
// space of items not rendered is two spacers. The list keeps what the reader looks at in
// place when items are added above (older pages) or change height (a picture loads), and
// follows new items while the reader is at the bottom (unless told not to: a window of
// history that newer pages extend). A jump brings an item into view, keeps it there while
// the items around it are measured, then gives it the focus.
import type { ComponentChild } from 'preact'
import { useLayoutEffect, useRef, useState } from 'preact/hooks'

export interface VirtualListProps<T> {
  items: readonly T[]
  keyOf: (item: T) => string
  render: (item: T) => ComponentChild
  label: string
  /** Height assumed for an item not measured yet. */
  estimate?: number
  /** Called when the reader comes near the top (load older items). */
  onNearTop?: () => void
  /** A new value scrolls to the bottom (after the user sent something). */
  bottomSignal?: number
  /** Called when the reader comes near the bottom (load newer items). */
  onNearBottom?: () => void
  /** Whether the list sticks to its end while the reader is there (default true). */
  follow?: boolean
  /** Scroll this item into view and focus it (a new object each time). */
  jumpTo?: { key: string } | null
}

const OVERSCAN_PX = 800
const NEAR_TOP_PX = 600
const NEAR_BOTTOM_PX = 600
/** Renders a jump may take to settle (heights measured around its item) before it gives up. */
const JUMP_TRIES = 12
const BOTTOM_SLACK_PX = 24

/** The first index whose offset is >= value. */
function lowerBound(offsets: Float64Array, value: number): number {
  let lo = 0
  let hi = offsets.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (offsets[mid]! < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function VirtualList<T>({ items, keyOf, render, label, estimate = 64, onNearTop, onNearBottom, follow = true, bottomSignal, jumpTo }: VirtualListProps<T>) {
  const scroller = useRef<HTMLDivElement>(null)
  const heights = useRef(new Map<string, number>())
  const view = useRef({
    top: 0, height: 0, atBottom: jumpTo == null, anchor: null as { key: string; delta: number } | null,
    jump: jumpTo == null ? null : { key: jumpTo.key, tries: 0 } as { key: string; tries: number } | null,
  })
  const [, setTick] = useState(0)
  const rerender = (): void => setTick((n) => n + 1)
  const observer = useRef<ResizeObserver | null>(null)
  const frame = useRef<number | null>(null)
  /** The item jumped to last: focusable by script (it gets the focus once in view). */
  const focusKey = useRef<string | null>(jumpTo?.key ?? null)

  const n = items.length
  const keys = items.map(keyOf)
  const offsets = new Float64Array(n + 1)
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + (heights.current.get(keys[i]!) ?? estimate)
  const total = offsets[n]!
  const { height } = view.current
  const sticky = follow && view.current.atBottom
  // Following the bottom: the window is the end of the list (so the first render of a long
  // channel already shows its newest items).
  const top = sticky ? Math.max(0, total - (height || 1000)) : view.current.top
  const start = Math.max(0, lowerBound(offsets, top - OVERSCAN_PX) - 1)
  const end = Math.min(n, lowerBound(offsets, top + (height || 1000) + OVERSCAN_PX) + 1)

  const offsetOf = (key: string): number | null => {
    const i = keys.indexOf(key)
    return i < 0 ? null : offsets[i]!
  }

  /** Remembers where the reader is: the first visible item and how far into it. */
  const note = (el: HTMLDivElement): void => {
    const v = view.current
    v.top = el.scrollTop
    v.height = el.clientHeight
    v.atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK_PX
    const i = Math.min(n - 1, Math.max(0, lowerBound(offsets, el.scrollTop + 1) - 1))
    v.anchor = n === 0 ? null : { key: keys[i]!, delta: offsets[i]! - el.scrollTop }
  }

  /** Stores measured heights; true when one changed. */
  const measure = (): boolean => {
    const el = scroller.current
    if (el === null) return false
    let changed = false
    for (const child of Array.from(el.querySelectorAll<HTMLElement>(':scope > [data-vkey]'))) {
      const key = child.dataset['vkey']!
      const h = child.getBoundingClientRect().height
      if (Math.abs((heights.current.get(key) ?? -1) - h) > 0.5) {
        heights.current.set(key, h)
        changed = true
      }
    }
    return changed
  }

  useLayoutEffect(() => {
    const el = scroller.current
    if (el === null) return
    observer.current ??= new ResizeObserver(() => {
      if (measure() || el.clientHeight !== view.current.height) {
        view.current.height = el.clientHeight
        rerender()
      }
    })
    const ro = observer.current
    ro.disconnect()
    ro.observe(el)
    for (const child of Array.from(el.querySelectorAll<HTMLElement>(':scope > [data-vkey]'))) ro.observe(child)
    if (measure()) {
      rerender()
      return
    }
    const v = view.current
    if (v.jump !== null) {
      // The item a third of the way down, again after each measuring, until it stays there.
      const at = offsetOf(v.jump.key)
      if (at === null || ++v.jump.tries > JUMP_TRIES) v.jump = null
      else {
        const want = Math.max(0, Math.min(at - el.clientHeight / 3, el.scrollHeight - el.clientHeight))
        const target = Array.from(el.querySelectorAll<HTMLElement>(':scope > [data-vkey]')).find((c) => c.dataset['vkey'] === v.jump!.key)
        if (Math.abs(el.scrollTop - want) > 1 || target === undefined) {
          el.scrollTop = want
          note(el)
          rerender()
          return
        }
        v.jump = null
        target.focus({ preventScroll: true })
      }
    } else if (sticky) {
      if (Math.abs(el.scrollTop - (el.scrollHeight - el.clientHeight)) > 1) el.scrollTop = el.scrollHeight
    } else if (v.anchor !== null) {
      const at = offsetOf(v.anchor.key)
      if (at !== null && Math.abs(el.scrollTop - (at - v.anchor.delta)) > 1) el.scrollTop = at - v.anchor.delta
    }
    const before = { top: v.top, height: v.height }
    note(el)
    // Moving the scroll may bring other items into the window.
    if (Math.abs(before.top - v.top) > 1 || before.height !== v.height) rerender()
    else {
      if (v.top < NEAR_TOP_PX && el.scrollHeight > el.clientHeight) onNearTop?.()
      if (el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX) onNearBottom?.()
    }
  })

  useLayoutEffect(() => () => observer.current?.disconnect(), [])

  useLayoutEffect(() => {
    if (bottomSignal === undefined) return
    view.current.atBottom = true
    rerender()
  }, [bottomSignal])

  useLayoutEffect(() => {
    if (jumpTo === null || jumpTo === undefined) return
    if (offsetOf(jumpTo.key) === null) return
    view.current.jump = { key: jumpTo.key, tries: 0 }
    focusKey.current = jumpTo.key
    view.current.atBottom = false
    rerender()
  }, [jumpTo])

  const onScroll = (): void => {
    const el = scroller.current
    if (el === null) return
    note(el)
    if (frame.current !== null) return
    frame.current = requestAnimationFrame(() => {
      frame.current = null
      rerender()
      if (view.current.top < NEAR_TOP_PX) onNearTop?.()
      const el2 = scroller.current
      if (el2 !== null && el2.scrollHeight - el2.scrollTop - el2.clientHeight < NEAR_BOTTOM_PX) onNearBottom?.()
    })
  }

  return (
    <div ref={scroller} class="vlist" role="log" aria-label={label} tabIndex={0} onScroll={onScroll}>
      <div class="vspacer" style={{ height: `${offsets[start]}px` }} aria-hidden="true" />
      {items.slice(start, end).map((item, i) => (
        <div key={keys[start + i]} data-vkey={keys[start + i]} class="vitem" tabIndex={focusKey.current === keys[start + i] ? -1 : undefined}>{render(item)}</div>
      ))}
      <div class="vspacer" style={{ height: `${total - offsets[end]!}px` }} aria-hidden="true" />
    </div>
  )
}
