// Sign in and register (seed 004's launch and sign-in screens).
import { useState } from 'preact/hooks'
import type { Session } from '../../../sdk/src/index.ts'
import { describe } from '../lib/model.ts'
import { signIn } from '../lib/session.ts'

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => Promise<void> }) {
  const [mode, setMode] = useState<'login' | 'register'>('login')
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await onSignedIn(await signIn(mode, username.trim(), password))
    } catch (err) {
      setError(describe(err))
      setBusy(false)
    }
  }

  const registering = mode === 'register'
  return (
    <main class="signin">
      <div class="signin-card">
        <div class="brand" aria-hidden="true"><span class="brand-mark">C</span></div>
        <h1>{registering ? 'Create your Chime account' : 'Sign in to Chime'}</h1>
        <form onSubmit={submit} aria-describedby={error !== null ? 'signin-error' : undefined}>
          <label for="username">Username</label>
          <input id="username" name="username" autocomplete="username" required minLength={3} maxLength={32} pattern="[A-Za-z0-9_.\-]+"
            value={username} onInput={(e) => setUsername(e.currentTarget.value)} autoFocus />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete={registering ? 'new-password' : 'current-password'} required minLength={8} maxLength={256}
            value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          {registering && <p class="hint">3 to 32 letters, digits, dots, dashes or underscores; a password of at least 8 characters.</p>}
          {error !== null && <p id="signin-error" class="error" role="alert">{error}</p>}
          <button type="submit" class="primary" disabled={busy}>{registering ? 'Create account' : 'Sign in'}</button>
        </form>
        <p class="switch">
          {registering ? 'Already have an account?' : 'New to Chime?'}{' '}
          <button type="button" class="link" onClick={() => { setMode(registering ? 'login' : 'register'); setError(null) }}>
            {registering ? 'Sign in' : 'Create an account'}
          </button>
        </p>
      </div>
    </main>
  )
}
