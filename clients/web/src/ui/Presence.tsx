// Other users' presence: a dot (green online, amber away, grey offline) with its word as its
// accessible name and tooltip. Showing one watches the user's presence; a user this one may
// not watch (nothing in common) shows no dot.
import { useEffect } from 'preact/hooks'
import type { PresenceEvent } from '../../../sdk/src/index.ts'
import type { AppModel } from '../lib/model.ts'
import { useStore } from '../lib/store.ts'

/** The word for a presence, with its text when there is one: "away: at lunch". */
export function presenceWord(p: PresenceEvent | undefined): string | null {
  if (p === undefined) return null
  return p.text !== undefined && p.text !== '' && p.status !== 'offline' ? `${p.status}: ${p.text}` : p.status
}

/** The user's latest known presence (undefined: unknown); watches it while shown. */
export function usePresence(model: AppModel, userId: string | null | undefined): PresenceEvent | undefined {
  const p = useStore(model.state, (s) => (userId === null || userId === undefined ? undefined : s.presence[userId]), [userId])
  useEffect(() => {
    if (userId !== null && userId !== undefined) model.watchPresence(userId)
  }, [userId])
  return p
}

/**
 * The dot. `inline` sits in a line of text (an author, a member); otherwise it sits on the
 * corner of an avatar. `hidden`: its word is said elsewhere (a row's own label).
 */
export function PresenceDot({ model, userId, inline = false, hidden = false }: { model: AppModel; userId: string; inline?: boolean; hidden?: boolean }) {
  const p = usePresence(model, userId)
  const word = presenceWord(p)
  if (p === undefined || word === null) return null
  return hidden
    ? <span class={`presence ${p.status}`} data-presence={p.status} title={word} aria-hidden="true" />
    : <span class={`presence ${p.status} ${inline ? 'inline' : ''}`} data-presence={p.status} role="img" aria-label={word} title={word} />
}
