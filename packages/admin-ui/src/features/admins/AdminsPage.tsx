import type { ConsoleAdminInfo } from '@bastide/sdk'
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { type FormEvent, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { Loading, Page, Pager } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { useSession } from '../../lib/session.tsx'
import { passphrase } from './passphrase.ts'

type AdminInfo = ConsoleAdminInfo

const PER_PAGE = 25

/** The console's admins: who can sign in here, with which factors; add one, remove one (never yourself). */
export function AdminsPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const session = useSession()
  const [page, setPage] = useState(1)
  const [creating, setCreating] = useState(false)
  const [removing, setRemoving] = useState<AdminInfo | null>(null)
  const admins = useQuery({
    queryKey: ['admins', page],
    queryFn: ({ signal }) => client.admin.admins.list({ page, perPage: PER_PAGE, signal }),
    placeholderData: keepPreviousData,
  })
  const me = session?.admin.id
  return (
    <Page
      title="Admins"
      subtitle="people who can sign in to this console"
      actions={
        <button type="button" className="btn primary" onClick={() => setCreating(true)}>
          New admin
        </button>
      }
    >
      <ErrorNote error={admins.error} />
      {admins.isPending ? (
        <Loading />
      ) : admins.data ? (
        <div className="stack">
          <table className="table">
            <caption className="sr-only">Console admins</caption>
            <thead>
              <tr>
                <th scope="col">Admin</th>
                <th scope="col">Sign-in</th>
                <th scope="col">Added</th>
                <th scope="col">Last sign-in</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {admins.data.items.map((a) => (
                <tr key={a.id}>
                  <td>
                    <div className="admins-who">
                      <span>{a.name || a.email}</span>
                      {a.id === me ? <span className="badge ok">you</span> : null}
                    </div>
                    {a.name ? <div className="muted mono admins-email">{a.email}</div> : null}
                  </td>
                  <td>
                    <div className="admins-factors">
                      <span className="badge">password</span>
                      {a.twoFactorEnabled ? (
                        <span className="badge ok">TOTP</span>
                      ) : (
                        <span className="badge">no TOTP</span>
                      )}
                      {a.passkeys > 0 ? (
                        <span className="badge ok">
                          {a.passkeys} passkey{a.passkeys === 1 ? '' : 's'}
                        </span>
                      ) : null}
                    </div>
                  </td>
                  <td>{formatTime(a.created)}</td>
                  <td>{a.lastSignIn ? formatTime(a.lastSignIn) : <span className="muted">not yet</span>}</td>
                  <td className="admins-actions">
                    {a.id === me ? (
                      <Link to="/account" className="btn small">
                        Your account
                      </Link>
                    ) : (
                      <button type="button" className="btn small danger" onClick={() => setRemoving(a)}>
                        Delete<span className="sr-only"> {a.email}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            page={page}
            totalPages={admins.data.totalPages}
            hasNext={page < admins.data.totalPages}
            onPage={setPage}
            label="Admin pages"
          />
          <p className="muted">
            {admins.data.totalItems} admin{admins.data.totalItems === 1 ? '' : 's'}. Each signs in with their
            own password, and can add TOTP and passkeys on their account page.
          </p>
        </div>
      ) : null}
      {creating ? <CreateAdminDialog onClose={() => setCreating(false)} /> : null}
      {removing ? (
        <ConfirmDialog
          title={`Delete the admin ${removing.email}?`}
          confirmLabel="Delete admin"
          typeToConfirm={removing.email}
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await client.admin.admins.remove(removing.id)
            if (admins.data?.items.length === 1 && page > 1) setPage(page - 1)
            await queryClient.invalidateQueries({ queryKey: ['admins'] })
          }}
        >
          <p>
            They are signed out everywhere and can no longer sign in; their TOTP and passkeys go with them.
            The console refuses to delete its last admin.
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}

function CreateAdminDialog(props: { onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [shown, setShown] = useState(false)
  const create = useMutation({
    mutationFn: () => client.admin.admins.create({ email, password, ...(name.trim() ? { name } : {}) }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['admins'] }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate()
  }
  if (create.data) {
    return (
      <Dialog
        title="Admin created"
        onClose={props.onClose}
        footer={
          <button type="button" className="btn primary" onClick={props.onClose}>
            Done
          </button>
        }
      >
        <div className="stack">
          <p className="ok-note" role="status">
            {create.data.email} can sign in now.
          </p>
          <p>
            Give them their password through a channel you trust; they can then turn on TOTP and add passkeys
            on their account page.
          </p>
        </div>
      </Dialog>
    )
  }
  return (
    <Dialog title="New admin" onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <TextField label="Email" type="email" required autoComplete="off" value={email} onChange={setEmail} />
        <TextField label="Name" value={name} onChange={setName} autoComplete="off" hint="Optional." />
        <div className="admins-password">
          <TextField
            label="Password"
            type={shown ? 'text' : 'password'}
            required
            minLength={12}
            autoComplete="new-password"
            value={password}
            onChange={setPassword}
            className={shown ? 'mono' : undefined}
            hint="12 characters at least; not their email address."
          />
          <div className="row">
            <button
              type="button"
              className="btn small"
              onClick={() => {
                setPassword(passphrase())
                setShown(true)
              }}
            >
              Generate a passphrase
            </button>
            <button type="button" className="btn small" onClick={() => setShown(!shown)}>
              {shown ? 'Hide password' : 'Show password'}
            </button>
            {shown && password ? (
              <button
                type="button"
                className="btn small"
                onClick={() => void navigator.clipboard?.writeText(password)}
              >
                Copy password
              </button>
            ) : null}
          </div>
        </div>
        <ErrorNote error={create.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create admin'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}
