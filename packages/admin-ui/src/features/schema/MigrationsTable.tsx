import { useQuery } from '@tanstack/react-query'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'

export const migrationsKey = ['schema', 'migrations'] as const

/** The migrations `bastide migrations up` applied to this instance, in id order. */
export function MigrationsTable() {
  const client = useClient()
  const q = useQuery({
    queryKey: migrationsKey,
    queryFn: ({ signal }) => client.admin.schema.migrations({ signal }),
  })
  if (q.isPending) return <Loading />
  if (q.error) return <ErrorNote error={q.error} />
  if (q.data.length === 0) return <p className="muted">No migration has been applied to this instance.</p>
  return (
    <table className="table" aria-label="Applied migrations">
      <thead>
        <tr>
          <th scope="col">Migration</th>
          <th scope="col">Checksum</th>
          <th scope="col">Applied at</th>
          <th scope="col">Applied by</th>
        </tr>
      </thead>
      <tbody>
        {q.data.map((m) => (
          <tr key={m.id}>
            <td className="mono">{m.id}</td>
            <td className="mono" title={m.checksum}>
              {m.checksum.slice(0, 12)}
            </td>
            <td>
              <time dateTime={m.appliedAt}>{formatTime(m.appliedAt)}</time>
            </td>
            <td className="mono">{m.appliedBy}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
