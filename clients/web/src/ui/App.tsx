// Signed out: the sign-in screen. Signed in: the app model for the account and its screens.
import { useEffect, useState } from 'preact/hooks'
import type { Session } from '../../../sdk/src/index.ts'
import { AppModel } from '../lib/model.ts'
import { ChatError } from '../lib/sdk.ts'
import { keepSession, freshSession, tabClientId } from '../lib/session.ts'
import { SignIn } from './SignIn.tsx'
import { Shell } from './Shell.tsx'

type Phase = { name: 'starting' } | { name: 'signed-out' } | { name: 'unreachable'; session: Session } | { name: 'signed-in'; model: AppModel }

export function App() {
  const [phase, setPhase] = useState<Phase>({ name: 'starting' })

  const enter = async (session: Session): Promise<void> => {
    let model: AppModel | undefined
    try {
      model = await AppModel.open(session, await tabClientId(session.user_id), () => signOut(model!, false))
      setPhase({ name: 'signed-in', model })
    } catch (err) {
      if (err instanceof ChatError && (err.code === 'UNAVAILABLE' || err.code === 'RATE_LIMITED' || err.code === 'INTERNAL')) {
        setPhase({ name: 'unreachable', session })
        return
      }
      keepSession(null)
      setPhase({ name: 'signed-out' })
    }
  }

  const signOut = (model: AppModel, tellServer: boolean): void => {
    void (async () => {
      if (tellServer) await model.http.logout().catch(() => undefined)
      await model.stop()
      keepSession(null)
      setPhase({ name: 'signed-out' })
    })()
  }

  useEffect(() => {
    void freshSession().then((s) => (s === null ? setPhase({ name: 'signed-out' }) : enter(s)))
  }, [])

  if (phase.name === 'starting') return <p class="splash" role="status">Loading Chime…</p>
  if (phase.name === 'unreachable') {
    return (
      <main class="splash">
        <div>
          <p role="alert">Chime cannot be reached right now.</p>
          <button type="button" class="primary" onClick={() => { setPhase({ name: 'starting' }); void enter(phase.session) }}>Try again</button>
        </div>
      </main>
    )
  }
  if (phase.name === 'signed-out') return <SignIn onSignedIn={(s) => enter(s)} />
  return <Shell model={phase.model} onSignOut={() => signOut(phase.model, true)} />
}
