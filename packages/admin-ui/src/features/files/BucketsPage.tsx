import type { Bucket, BucketRules } from '@bastide/sdk'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate } from '@tanstack/react-router'
import { useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatBytes, formatTime } from '../../lib/format.ts'
import { BucketDialog } from './BucketDialog.tsx'

/** Every bucket: limits, types and rules at a glance; create, edit, delete. */
export function BucketsPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const buckets = useQuery({
    queryKey: ['files', 'buckets'],
    queryFn: ({ signal }) => client.storage.listBuckets({ signal }),
  })
  const [creating, setCreating] = useState(false)
  const [editing, setEditing] = useState<Bucket | null>(null)
  const [deleting, setDeleting] = useState<Bucket | null>(null)
  return (
    <Page
      title="Files"
      subtitle="buckets of objects, each with its limits and rules"
      actions={
        <button type="button" className="btn primary" onClick={() => setCreating(true)}>
          New bucket
        </button>
      }
    >
      <ErrorNote error={buckets.error} />
      {buckets.isPending ? (
        <Loading />
      ) : buckets.data && buckets.data.length === 0 ? (
        <div className="panel stack">
          <p>
            No bucket yet. A bucket groups objects under one set of limits and rules, like “avatars” or
            “invoices”.
          </p>
          <div>
            <button type="button" className="btn primary" onClick={() => setCreating(true)}>
              Create the first bucket
            </button>
          </div>
        </div>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Access</th>
              <th scope="col">Objects</th>
              <th scope="col">Max file size</th>
              <th scope="col">Allowed types</th>
              <th scope="col">Rules</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {buckets.data?.map((b) => (
              <tr key={b.id}>
                <td>
                  <Link to="/files/$bucket" params={{ bucket: b.name }} className="mono">
                    {b.name}
                  </Link>
                </td>
                <td>
                  {b.public ? (
                    <span className="badge ok">public</span>
                  ) : (
                    <span className="badge">private</span>
                  )}
                </td>
                <td className="files-count">
                  <ObjectCount bucket={b.name} />
                </td>
                <td>
                  {b.maxFileSize === null ? (
                    <span className="muted">server limit</span>
                  ) : (
                    formatBytes(b.maxFileSize)
                  )}
                </td>
                <td>
                  {b.allowedMimeTypes.length === 0 ? (
                    <span className="muted">any</span>
                  ) : (
                    <span className="mono">{b.allowedMimeTypes.join(', ')}</span>
                  )}
                </td>
                <td>
                  <RulesSummary rules={b.rules} />
                </td>
                <td>{formatTime(b.updated)}</td>
                <td>
                  <div className="row files-nowrap">
                    <button type="button" className="btn small" onClick={() => setEditing(b)}>
                      Settings<span className="sr-only"> of {b.name}</span>
                    </button>
                    <button type="button" className="btn small danger" onClick={() => setDeleting(b)}>
                      Delete<span className="sr-only"> {b.name}</span>
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {creating ? (
        <BucketDialog
          onClose={() => setCreating(false)}
          onSaved={(b) => void navigate({ to: '/files/$bucket', params: { bucket: b.name } })}
        />
      ) : null}
      {editing ? <BucketDialog bucket={editing} onClose={() => setEditing(null)} /> : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete bucket “${deleting.name}”?`}
          confirmLabel="Delete bucket"
          typeToConfirm={deleting.name}
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await client.storage.deleteBucket(deleting.name)
            await queryClient.invalidateQueries({ queryKey: ['files', 'buckets'] })
          }}
        >
          <p>
            Only an empty bucket can be deleted: the server refuses while it holds objects, or while a
            collection’s file field keeps its files there.
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}

const COUNT_UP_TO = 100

/** How many objects a bucket holds, counted up to 100 with one page of its listing (“100+” beyond). */
function ObjectCount(props: { bucket: string }) {
  const client = useClient()
  const page = useQuery({
    queryKey: ['files', 'objects', props.bucket, 'count'],
    queryFn: ({ signal }) => client.storage.from(props.bucket).list({ limit: COUNT_UP_TO, signal }),
  })
  if (page.isError) return <span className="muted">?</span>
  if (!page.data) return <span className="muted">…</span>
  return (
    <>
      {page.data.items.length}
      {page.data.nextCursor ? '+' : ''}
    </>
  )
}

/** read/write/delete: locked, everyone, or the rule itself (shortened). */
export function RulesSummary(props: { rules: BucketRules }) {
  return (
    <dl className="files-rules-summary">
      {(['read', 'write', 'delete'] as const).map((a) => {
        const r = props.rules[a]
        return (
          <div key={a}>
            <dt>{a}</dt>
            <dd>
              {r === null || r === undefined ? (
                <span className="muted">locked</span>
              ) : r.trim() === '' ? (
                <span className="badge ok">everyone</span>
              ) : (
                <code title={r}>{r.length > 40 ? `${r.slice(0, 39)}…` : r}</code>
              )}
            </dd>
          </div>
        )
      })}
    </dl>
  )
}
