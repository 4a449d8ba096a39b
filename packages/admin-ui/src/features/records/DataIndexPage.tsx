import { useQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'

/** Data: pick a collection to browse. */
export function DataIndexPage() {
  const client = useClient()
  const collections = useQuery({
    queryKey: ['collections'],
    queryFn: ({ signal }) => client.admin.collections.list({ signal }),
  })
  return (
    <Page title="Data" subtitle="browse, filter, edit, import and export records">
      <ErrorNote error={collections.error} />
      {collections.isPending ? (
        <Loading />
      ) : collections.data?.length === 0 ? (
        <p className="muted">No collection yet: create one first.</p>
      ) : (
        <ul className="records-picker" aria-label="Collections">
          {collections.data?.map((c) => (
            <li key={c.id}>
              <Link to="/data/$collection" params={{ collection: c.name }} className="panel records-pick">
                <strong>{c.name}</strong>
                <span className="muted">
                  {c.fields.length} field{c.fields.length === 1 ? '' : 's'}
                  {c.system ? ' · built in' : ''}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </Page>
  )
}
