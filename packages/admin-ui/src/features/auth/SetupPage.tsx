import { useQuery } from '@tanstack/react-query'
import { Navigate, useNavigate } from '@tanstack/react-router'
import { type FormEvent, useEffect, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'

/** First run: the first console admin, with the one-time setup token the server printed in its log. */
export function SetupPage() {
  const client = useClient()
  const navigate = useNavigate()
  const setup = useQuery({ queryKey: ['setup-needed'], queryFn: () => client.admin.setupNeeded() })
  const [setupToken, setSetupToken] = useState('')
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    document.title = 'Create the first admin · Bastide console'
  }, [])

  if (setup.isPending) return <Loading />
  if (setup.data === false) return <Navigate to="/sign-in" />

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await client.admin.setup({ setupToken: setupToken.trim(), email, password, ...(name ? { name } : {}) })
      await setup.refetch()
      await navigate({ to: '/' })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <main className="auth-card panel">
      <form className="stack" onSubmit={submit} aria-labelledby="setup-title">
        <h1 id="setup-title">Create the first admin</h1>
        <p className="muted">
          The server printed a setup token (<code>bst_setup_…</code>) in its log when it started. It works
          once, until the first admin exists. <code>bastide setup-token</code> prints it again.
        </p>
        <ErrorNote error={setup.error} />
        <TextField
          label="Setup token"
          required
          autoComplete="off"
          spellCheck={false}
          value={setupToken}
          onChange={setSetupToken}
        />
        <TextField label="Name" autoComplete="name" value={name} onChange={setName} />
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
          autoComplete="new-password"
          required
          value={password}
          onChange={setPassword}
        />
        <ErrorNote error={error} />
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create admin and sign in'}
        </button>
      </form>
    </main>
  )
}
