import { browserSupportsPasskeys, isBastideError } from '@bastide/sdk'
import { useQuery } from '@tanstack/react-query'
import { Navigate, useNavigate } from '@tanstack/react-router'
import { type FormEvent, useEffect, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { useClient } from '../../lib/client.tsx'
import { useSession } from '../../lib/session.tsx'

/** Email and password, then a TOTP code when the admin turned it on; or a passkey, which is both factors. */
export function SignInPage() {
  const client = useClient()
  const session = useSession()
  const navigate = useNavigate()
  const setup = useQuery({ queryKey: ['setup-needed'], queryFn: () => client.admin.setupNeeded() })
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [code, setCode] = useState('')
  const [useBackup, setUseBackup] = useState(false)
  const [step, setStep] = useState<'password' | 'totp'>('password')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [cancelled, setCancelled] = useState(false)
  useEffect(() => {
    document.title = 'Sign in · Bastide console'
  }, [])

  if (setup.data === true) return <Navigate to="/setup" />
  if (session) return <Navigate to="/" />

  const withPasskey = async () => {
    setBusy(true)
    setError(null)
    setCancelled(false)
    try {
      await client.admin.auth.signInWithPasskey()
      await navigate({ to: '/' })
    } catch (err) {
      // Closing the browser's prompt is a choice, not a failure.
      if (isBastideError(err, 'PASSKEY_CANCELLED')) setCancelled(true)
      else setError(err)
    } finally {
      setBusy(false)
    }
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    setCancelled(false)
    try {
      if (step === 'password') {
        const r = await client.admin.auth.signIn({ email, password })
        if (r.twoFactorRequired) setStep('totp')
        else await navigate({ to: '/' })
      } else {
        await client.admin.auth.verifyTotp(code.trim(), { backupCode: useBackup })
        await navigate({ to: '/' })
      }
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <main className="auth-card panel">
      <form className="stack" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Sign in to the console</h1>
        {step === 'password' ? (
          <>
            <TextField
              label="Email"
              type="email"
              autoComplete="username"
              required
              value={email}
              onChange={setEmail}
            />
            <TextField
              label="Password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={setPassword}
            />
          </>
        ) : (
          <>
            <p className="muted">
              {useBackup
                ? 'Enter one of your backup codes.'
                : 'Enter the 6-digit code from your authenticator app.'}
            </p>
            <TextField
              label={useBackup ? 'Backup code' : 'Authentication code'}
              autoComplete="one-time-code"
              inputMode={useBackup ? 'text' : 'numeric'}
              required
              autoFocus
              value={code}
              onChange={setCode}
            />
            <button type="button" className="btn link" onClick={() => setUseBackup(!useBackup)}>
              {useBackup ? 'Use the authenticator app' : 'Use a backup code'}
            </button>
          </>
        )}
        <ErrorNote error={error} />
        {cancelled ? (
          <p className="muted" role="status">
            The passkey prompt was closed: nothing was sent.
          </p>
        ) : null}
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Signing in…' : step === 'password' ? 'Sign in' : 'Verify'}
        </button>
        {step === 'password' && browserSupportsPasskeys() ? (
          <>
            <p className="muted auth-or" aria-hidden="true">
              or
            </p>
            <button type="button" className="btn" disabled={busy} onClick={() => void withPasskey()}>
              Sign in with a passkey
            </button>
          </>
        ) : null}
      </form>
    </main>
  )
}
