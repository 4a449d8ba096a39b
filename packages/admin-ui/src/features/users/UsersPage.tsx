import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate } from '@tanstack/react-router'
import { type FormEvent, useEffect, useState } from 'react'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { Loading, Page, Pager } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { UserBadges } from './UserBadges.tsx'

const PER_PAGE = 25

/** What is typed settles for this long before the list is asked again. */
function useDebounced<T>(value: T, ms = 250): T {
  const [v, setV] = useState(value)
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms)
    return () => clearTimeout(t)
  }, [value, ms])
  return v
}

/** App users: search by email, name or id; a page at a time; a new user with a password. */
export function UsersPage() {
  const client = useClient()
  const [search, setSearch] = useState('')
  const [page, setPage] = useState(1)
  const [creating, setCreating] = useState(false)
  const q = useDebounced(search.trim())
  const users = useQuery({
    queryKey: ['users', 'list', q, page],
    queryFn: ({ signal }) =>
      client.admin.users.list({ search: q || undefined, page, perPage: PER_PAGE, signal }),
    placeholderData: keepPreviousData,
  })
  const data = users.data
  return (
    <Page
      title="Users"
      subtitle={data ? (q ? `${data.totalItems} matching` : `${data.totalItems} in all`) : undefined}
      actions={
        <button type="button" className="btn primary" onClick={() => setCreating(true)}>
          New user
        </button>
      }
    >
      <div className="users-toolbar">
        <label className="users-search">
          <span className="sr-only">Search users</span>
          <input
            type="search"
            placeholder="Search by email or name…"
            value={search}
            onChange={(e) => {
              setSearch(e.target.value)
              setPage(1)
            }}
          />
        </label>
        {users.isFetching && !users.isPending ? (
          <span className="muted" role="status">
            Searching…
          </span>
        ) : null}
      </div>
      <ErrorNote error={users.error} />
      {users.isPending ? (
        <Loading />
      ) : data && data.items.length === 0 ? (
        <p className="muted">{q ? `No user matches “${q}”.` : 'No user yet.'}</p>
      ) : data ? (
        <>
          <DataTable label="Users" columns={['Email', 'Name', 'Status', 'Created']}>
            {data.items.map((u) => (
              <tr key={u.id}>
                <td>
                  <Link to="/users/$id" params={{ id: u.id }}>
                    {u.email ?? <span className="muted">(no email)</span>}
                  </Link>
                </td>
                <td>{u.name || <span className="muted">—</span>}</td>
                <td>
                  <UserBadges user={u} />
                </td>
                <td>{formatTime(u.created)}</td>
              </tr>
            ))}
          </DataTable>
          <Pager
            page={page}
            totalPages={data.totalPages}
            hasNext={page < data.totalPages}
            onPage={setPage}
            label="User pages"
          />
        </>
      ) : null}
      {creating ? <CreateUserDialog onClose={() => setCreating(false)} /> : null}
    </Page>
  )
}

function CreateUserDialog(props: { onClose: () => void }) {
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [email, setEmail] = useState('')
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [verified, setVerified] = useState(true)
  const create = useMutation({
    mutationFn: () =>
      client.admin.users.create({ email, password, verified, ...(name.trim() ? { name: name.trim() } : {}) }),
    onSuccess: async (u) => {
      await queryClient.invalidateQueries({ queryKey: ['users'] })
      props.onClose()
      await navigate({ to: '/users/$id', params: { id: u.id } })
    },
  })
  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate()
  }
  return (
    <Dialog title="New user" onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <TextField label="Email" type="email" required value={email} onChange={setEmail} autoComplete="off" />
        <TextField label="Name" value={name} onChange={setName} autoComplete="off" />
        <TextField
          label="Password"
          type="password"
          required
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          hint="The password policy applies, as at sign-up. Give it to the user through a safe channel."
        />
        <label className="check">
          <input type="checkbox" checked={verified} onChange={(e) => setVerified(e.target.checked)} />
          Email already verified
        </label>
        <ErrorNote error={create.error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create user'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}
