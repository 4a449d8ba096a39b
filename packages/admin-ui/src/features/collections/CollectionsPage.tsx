import type { CollectionRules, CollectionSchema } from '@bastide/protocol'
import { useQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { useMemo, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page, Pager } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { collectionsKey, listCollections } from './queries.ts'

const PER_PAGE = 25

/** A compact view of the five rules: L(ocked) / E(veryone) / R(ule) per action. */
function RulesSummary(props: { rules: CollectionRules }) {
  const actions = ['list', 'view', 'create', 'update', 'delete'] as const
  const label = (r: string | null) => (r === null ? 'locked' : r.trim() === '' ? 'everyone' : 'rule')
  const text = actions.map((a) => `${a}: ${label(props.rules[a])}`).join(', ')
  return (
    <span className="cl-rules" title={text}>
      <span className="sr-only">{text}</span>
      {actions.map((a) => {
        const l = label(props.rules[a])
        return (
          <span key={a} className={`cl-rule cl-rule-${l}`} aria-hidden="true">
            {a}
          </span>
        )
      })}
    </span>
  )
}

/** Every collection: name, field count, rules at a glance, system badge; search and paging. */
export function CollectionsPage() {
  const client = useClient()
  const list = useQuery({ queryKey: collectionsKey, queryFn: listCollections(client) })
  const [search, setSearch] = useState('')
  const [page, setPage] = useState(1)
  const filtered = useMemo(() => {
    const s = search.trim().toLowerCase()
    const all = [...(list.data ?? [])].sort(
      (a, b) => Number(!!b.system) - Number(!!a.system) || a.name.localeCompare(b.name),
    )
    return s
      ? all.filter(
          (c: CollectionSchema) =>
            c.name.toLowerCase().includes(s) || c.fields.some((f) => f.name.toLowerCase().includes(s)),
        )
      : all
  }, [list.data, search])
  const pages = Math.max(1, Math.ceil(filtered.length / PER_PAGE))
  const shown = filtered.slice((page - 1) * PER_PAGE, page * PER_PAGE)
  return (
    <Page
      title="Collections"
      subtitle="tables with typed fields, relations and access rules"
      actions={
        <Link to="/collections/new" className="btn primary">
          New collection
        </Link>
      }
    >
      <ErrorNote error={list.error} />
      <div className="row cl-toolbar">
        <label className="sr-only" htmlFor="collection-search">
          Search collections
        </label>
        <input
          id="collection-search"
          type="search"
          placeholder="Search by collection or field name"
          value={search}
          onChange={(e) => {
            setSearch(e.target.value)
            setPage(1)
          }}
        />
        <span className="muted">{list.data ? `${filtered.length} of ${list.data.length}` : ''}</span>
      </div>
      {list.isPending ? (
        <Loading />
      ) : shown.length === 0 ? (
        <p className="muted">{search ? 'No collection matches.' : 'No collection yet.'}</p>
      ) : (
        <table className="table cl-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Fields</th>
              <th scope="col">Rules</th>
              <th scope="col">
                <span className="sr-only">Data</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.id}>
                <td>
                  <Link to="/collections/$name" params={{ name: c.name }} className="mono">
                    {c.name}
                  </Link>{' '}
                  {c.system ? <span className="badge">system</span> : null}
                </td>
                <td>
                  {c.fields.length}
                  <span className="muted cl-field-names">
                    {' '}
                    {c.fields
                      .slice(0, 5)
                      .map((f) => f.name)
                      .join(', ')}
                    {c.fields.length > 5 ? '…' : ''}
                  </span>
                </td>
                <td>
                  <RulesSummary rules={c.rules} />
                </td>
                <td>
                  <Link to="/data/$name" params={{ name: c.name }} className="btn small">
                    Data<span className="sr-only"> of {c.name}</span>
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pages > 1 ? (
        <Pager
          page={page}
          totalPages={pages}
          hasNext={page < pages}
          onPage={setPage}
          label="Collection pages"
        />
      ) : null}
    </Page>
  )
}
