import type { AdminUser } from '@bastide/sdk'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { type FormEvent, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { SecretOnce } from '../../components/ui/SecretOnce.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { describePreview, needsTypedConfirmation } from './delete-preview.ts'
import { isBanned, UserBadges } from './UserBadges.tsx'

/** Columns shown in their own places (or never): the rest are the users collection's profile fields. */
const SHOWN_APART = new Set(['id', 'email', 'verified', 'emailVerified', 'banned', 'banReason', 'banExpires'])

const showValue = (v: unknown): string =>
  v === null || v === undefined || v === '' ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v)

/** One user: profile, verification, ban, sessions, impersonation, delete with a preview. */
export function UserPage() {
  const { id = '' } = useParams({ strict: false }) as { id?: string }
  const client = useClient()
  const user = useQuery({
    queryKey: ['users', 'one', id],
    queryFn: ({ signal }) => client.admin.users.get(id, { signal }),
  })
  const u = user.data
  return (
    <Page title={u?.email ?? 'User'} subtitle={<Link to="/users">← All users</Link>}>
      <ErrorNote error={user.error} />
      {user.isPending ? <Loading /> : u ? <UserDetail user={u} /> : null}
    </Page>
  )
}

type Dialogs = 'ban' | 'unban' | 'revoke' | 'impersonate' | 'delete' | 'edit' | null

function UserDetail(props: { user: AdminUser }) {
  const u = props.user
  const client = useClient()
  const queryClient = useQueryClient()
  const [open, setOpen] = useState<Dialogs>(null)
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['users'] })
  const verify = useMutation({ mutationFn: () => client.admin.users.verify(u.id), onSuccess: refresh })
  const banned = isBanned(u)
  const verified = u.verified === true || u.emailVerified === true
  // Who they are first, bookkeeping (times, version) last.
  const LAST = ['created', 'updated', 'version']
  const rank = (k: string) =>
    k === 'name' ? -2 : k === 'role' ? -1 : LAST.includes(k) ? 1 + LAST.indexOf(k) : 0
  const profile = Object.entries(u)
    .filter(([k]) => !SHOWN_APART.has(k))
    .sort(([a], [b]) => rank(a) - rank(b))
  return (
    <>
      <div className="panel">
        <div className="row">
          <h2 className="grow">Profile</h2>
          <UserBadges user={u} />
          <button type="button" className="btn small" onClick={() => setOpen('edit')}>
            Edit name
          </button>
        </div>
        <dl className="users-fields">
          <dt>ID</dt>
          <dd className="mono">{u.id}</dd>
          <dt>Email</dt>
          <dd>{u.email ?? '—'}</dd>
          {profile.map(([k, v]) => (
            <FieldRow
              key={k}
              name={k}
              value={k === 'created' || k === 'updated' ? formatTime(String(v)) : showValue(v)}
            />
          ))}
        </dl>
      </div>

      <div className="panel stack">
        <h2>Access</h2>
        <div className="row">
          <span className="grow">
            {verified ? 'The email address is verified.' : 'The email address is not verified yet.'}
          </span>
          {verified ? null : (
            <button type="button" className="btn" disabled={verify.isPending} onClick={() => verify.mutate()}>
              {verify.isPending ? 'Verifying…' : 'Mark email verified'}
            </button>
          )}
        </div>
        <ErrorNote error={verify.error} />
        <div className="row">
          <span className="grow">
            {banned ? (
              <>
                Banned{u.banReason ? ` (${u.banReason})` : ''}
                {u.banExpires ? ` until ${formatTime(u.banExpires)}` : ', with no end'}. They cannot sign in.
              </>
            ) : (
              'Not banned.'
            )}
          </span>
          {banned ? (
            <button type="button" className="btn" onClick={() => setOpen('unban')}>
              Unban
            </button>
          ) : (
            <button type="button" className="btn danger" onClick={() => setOpen('ban')}>
              Ban…
            </button>
          )}
        </div>
        <div className="row">
          <span className="grow">
            Impersonate: a short session acting as this user, to see what they see. It is recorded in the
            audit log.
          </span>
          <button type="button" className="btn" disabled={banned} onClick={() => setOpen('impersonate')}>
            Impersonate…
          </button>
        </div>
      </div>

      <Sessions userId={u.id} onRevoke={() => setOpen('revoke')} />

      <div className="panel row">
        <span className="grow">
          Delete this user, their sessions and sign-in methods, and what their relations take with them.
        </span>
        <button type="button" className="btn danger" onClick={() => setOpen('delete')}>
          Delete user…
        </button>
      </div>

      {open === 'edit' ? <EditNameDialog user={u} onClose={() => setOpen(null)} /> : null}
      {open === 'ban' ? <BanDialog user={u} onClose={() => setOpen(null)} /> : null}
      {open === 'unban' ? (
        <ConfirmDialog
          title={`Unban ${u.email ?? u.id}?`}
          confirmLabel="Unban"
          onClose={() => setOpen(null)}
          onConfirm={async () => {
            await client.admin.users.unban(u.id)
            await refresh()
          }}
        >
          <p>They can sign in again.</p>
        </ConfirmDialog>
      ) : null}
      {open === 'revoke' ? (
        <ConfirmDialog
          title="Revoke every session?"
          confirmLabel="Revoke all sessions"
          danger
          onClose={() => setOpen(null)}
          onConfirm={async () => {
            await client.admin.users.revokeSessions(u.id)
            await refresh()
          }}
        >
          <p>They are signed out everywhere, at once; they can sign in again.</p>
        </ConfirmDialog>
      ) : null}
      {open === 'impersonate' ? <ImpersonateDialog user={u} onClose={() => setOpen(null)} /> : null}
      {open === 'delete' ? <DeleteDialog user={u} onClose={() => setOpen(null)} /> : null}
    </>
  )
}

function FieldRow(props: { name: string; value: string }) {
  return (
    <>
      <dt>{props.name}</dt>
      <dd>{props.value}</dd>
    </>
  )
}

function Sessions(props: { userId: string; onRevoke: () => void }) {
  const client = useClient()
  const sessions = useQuery({
    queryKey: ['users', 'sessions', props.userId],
    queryFn: ({ signal }) => client.admin.users.sessions(props.userId, { signal }),
  })
  const items = sessions.data ?? []
  return (
    <div className="panel stack">
      <div className="row">
        <h2 className="grow">Sessions</h2>
        <button type="button" className="btn danger" disabled={items.length === 0} onClick={props.onRevoke}>
          Revoke all
        </button>
      </div>
      <ErrorNote error={sessions.error} />
      {sessions.isPending ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">No live session.</p>
      ) : (
        <table className="table" aria-label="Sessions">
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Expires</th>
              <th scope="col">IP address</th>
              <th scope="col">Client</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id}>
                <td>
                  {formatTime(s.createdAt)}{' '}
                  {s.impersonatedBy ? <span className="badge">impersonation</span> : null}
                </td>
                <td>{formatTime(s.expiresAt)}</td>
                <td className="mono">{s.ipAddress || '—'}</td>
                <td className="users-ua">{s.userAgent || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

function EditNameDialog(props: { user: AdminUser; onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const [name, setName] = useState(String(props.user.name ?? ''))
  const save = useMutation({
    mutationFn: () => client.admin.users.update(props.user.id, { name }),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['users'] })
      props.onClose()
    },
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    save.mutate()
  }
  return (
    <Dialog title="Edit name" onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <TextField label="Name" value={name} onChange={setName} autoComplete="off" />
        <ErrorNote error={save.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : 'Save'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function BanDialog(props: { user: AdminUser; onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const [reason, setReason] = useState('')
  const [until, setUntil] = useState('')
  const ban = useMutation({
    mutationFn: () =>
      client.admin.users.ban(props.user.id, {
        ...(reason.trim() ? { reason: reason.trim() } : {}),
        ...(until ? { expiresAt: new Date(until).toISOString() } : {}),
      }),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['users'] })
      props.onClose()
    },
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    ban.mutate()
  }
  return (
    <Dialog title={`Ban ${props.user.email ?? props.user.id}`} onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <p>Their sessions end at once and they cannot sign in until the ban ends or is lifted.</p>
        <TextField
          label="Reason"
          value={reason}
          onChange={setReason}
          maxLength={500}
          hint="Kept with the ban and in the audit log."
        />
        <TextField
          label="Until"
          type="datetime-local"
          value={until}
          onChange={setUntil}
          hint="Leave empty for a ban with no end."
        />
        <ErrorNote error={ban.error} />
        <div className="row">
          <button type="submit" className="btn danger" disabled={ban.isPending}>
            {ban.isPending ? 'Banning…' : 'Ban user'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function ImpersonateDialog(props: { user: AdminUser; onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const [minutes, setMinutes] = useState('15')
  const start = useMutation({
    mutationFn: () => client.admin.users.impersonate(props.user.id, { minutes: Number(minutes) }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['users', 'sessions', props.user.id] }),
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    start.mutate()
  }
  if (start.data) {
    const token = start.data.token
    return (
      <Dialog
        title="Impersonation session"
        onClose={props.onClose}
        footer={
          <button type="button" className="btn primary" onClick={props.onClose}>
            Done
          </button>
        }
      >
        <SecretOnce label="Session token" value={token}>
          This token signs in as {props.user.email ?? 'this user'} until {formatTime(start.data.expiresAt)}.
          It is shown this once. Anyone holding it acts as the user: use it only to reproduce what they see
          (as a bearer token, or in an app build pointing at this server), never share it, and revoke the
          user’s sessions when done.
        </SecretOnce>
      </Dialog>
    )
  }
  return (
    <Dialog title={`Impersonate ${props.user.email ?? props.user.id}`} onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <p>
          Creates a session acting as this user, marked as an impersonation and recorded in the audit log with
          your name. Their own sessions are not touched.
        </p>
        <TextField
          label="Minutes"
          type="number"
          min={1}
          max={60}
          required
          value={minutes}
          onChange={setMinutes}
          hint="1 to 60."
        />
        <ErrorNote error={start.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={start.isPending}>
            {start.isPending ? 'Starting…' : 'Start impersonation'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function DeleteDialog(props: { user: AdminUser; onClose: () => void }) {
  const { user } = props
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [typed, setTyped] = useState('')
  const preview = useQuery({
    queryKey: ['users', 'delete-preview', user.id],
    queryFn: ({ signal }) => client.admin.users.deletePreview(user.id, { signal }),
    staleTime: 0,
    gcTime: 0,
  })
  const remove = useMutation({
    mutationFn: () => client.admin.users.delete(user.id),
    onSuccess: async () => {
      props.onClose()
      queryClient.removeQueries({ queryKey: ['users', 'one', user.id] })
      await queryClient.invalidateQueries({ queryKey: ['users', 'list'] })
      await navigate({ to: '/users' })
    },
  })
  const p = preview.data
  const word = user.email ?? user.id
  const mustType = p ? needsTypedConfirmation(p) : false
  const ready = p && !p.blocked && (!mustType || typed === word)
  return (
    <Dialog
      title={`Delete ${word}?`}
      onClose={props.onClose}
      wide
      footer={
        <>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="btn danger"
            disabled={!ready || remove.isPending}
            onClick={() => remove.mutate()}
          >
            {remove.isPending ? 'Deleting…' : 'Delete user'}
          </button>
        </>
      }
    >
      <div className="stack">
        <ErrorNote error={preview.error} />
        {preview.isPending ? <Loading label="Working out what goes with them…" /> : null}
        {p ? (
          <>
            {p.blocked ? (
              <p className="error-note">
                This user cannot be deleted yet: restrict relations still point at them.
              </p>
            ) : (
              <p>This cannot be undone. Deleting this user:</p>
            )}
            <ul className="users-preview" aria-label="What the delete does">
              {describePreview(p).map((l) => (
                <li key={l.text} className={`users-preview-${l.tone}`}>
                  {l.text}
                </li>
              ))}
            </ul>
            {mustType && !p.blocked ? (
              <TextField
                label={`Type “${word}” to confirm`}
                value={typed}
                onChange={setTyped}
                autoComplete="off"
              />
            ) : null}
          </>
        ) : null}
        <ErrorNote error={remove.error} />
      </div>
    </Dialog>
  )
}
