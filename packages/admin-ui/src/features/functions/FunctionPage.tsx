import { useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { useCallback, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { functionsApi, functionsKey } from './api.ts'
import { TriggerBadges } from './badges.tsx'
import { InvocationsPanel } from './InvocationsPanel.tsx'
import { SecretsPanel } from './SecretsPanel.tsx'
import { SourcePanel } from './SourcePanel.tsx'
import { TestRunPanel } from './TestRunPanel.tsx'
import { triggerKind, triggersOf } from './triggers.ts'
import { VersionsPanel } from './VersionsPanel.tsx'
import './functions.css'

type Tab = 'source' | 'versions' | 'secrets' | 'invocations' | 'test'
const TABS: readonly [Tab, string][] = [
  ['source', 'Source'],
  ['versions', 'Versions'],
  ['secrets', 'Secrets'],
  ['invocations', 'Invocations'],
  ['test', 'Test run'],
]

/** One function: its source in an editor and deploys, versions and rollback, secrets, invocations, test runs. */
export function FunctionPage() {
  const { name = '' } = useParams({ strict: false }) as { name?: string }
  const client = useClient()
  const queryClient = useQueryClient()
  const navigate = useNavigate()
  const [tab, setTabNow] = useState<Tab>('source')
  /** Tabs shown at least once stay mounted: the editor keeps its draft while another tab is open. */
  const [seen, setSeen] = useState<readonly Tab[]>(['source'])
  const setTab = (t: Tab) => {
    setTabNow(t)
    setSeen((s) => (s.includes(t) ? s : [...s, t]))
  }
  const [deleting, setDeleting] = useState(false)
  const [startFrom, setStartFrom] = useState<{ source: string; version: number } | null>(null)
  const onStarted = useCallback(() => setStartFrom(null), [])
  const fn = useQuery({
    queryKey: [...functionsKey, name],
    queryFn: ({ signal }) => functionsApi(client).get(name, { signal }),
  })
  const d = fn.data
  const http = d ? triggersOf(d.manifest).some((t) => triggerKind(t) === 'http') : false
  return (
    <Page
      title={`Function ${name}`}
      subtitle={
        d ? (
          <span className="row">
            <TriggerBadges manifest={d.manifest} />
            <span>
              v{d.version}, deployed <time dateTime={d.deployedAt}>{formatTime(d.deployedAt)}</time>
            </span>
          </span>
        ) : undefined
      }
      actions={
        <>
          <Link to="/functions" className="btn">
            All functions
          </Link>
          <button type="button" className="btn danger" onClick={() => setDeleting(true)} disabled={!d}>
            Delete function
          </button>
        </>
      }
    >
      <ErrorNote error={fn.error} />
      {fn.isPending ? <Loading /> : null}
      {d ? (
        <>
          {http ? (
            <p className="muted">
              Answers at{' '}
              <a href={`/api/functions/${d.name}`} target="_blank" rel="noreferrer" className="mono">
                /api/functions/{d.name}
              </a>{' '}
              and every path under it.
            </p>
          ) : null}
          <div className="tabs" role="tablist" aria-label="Function views">
            {TABS.map(([id, label], n) => (
              <button
                key={id}
                type="button"
                role="tab"
                id={`fn-tab-${id}`}
                aria-selected={tab === id}
                aria-controls={`fn-panel-${id}`}
                tabIndex={tab === id ? 0 : -1}
                onClick={() => setTab(id)}
                onKeyDown={(e) => {
                  if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return
                  const step = e.key === 'ArrowRight' ? 1 : TABS.length - 1
                  const next = TABS[(n + step) % TABS.length]![0]
                  setTab(next)
                  document.getElementById(`fn-tab-${next}`)?.focus()
                }}
              >
                {label}
                {id === 'secrets' && d.secrets.length > 0 ? ` (${d.secrets.length})` : ''}
              </button>
            ))}
          </div>
          {TABS.map(([id]) => (
            <div
              key={id}
              role="tabpanel"
              id={`fn-panel-${id}`}
              aria-labelledby={`fn-tab-${id}`}
              hidden={tab !== id}
            >
              {!seen.includes(id) ? null : id === 'source' ? (
                <SourcePanel fn={d} startFrom={startFrom} onStarted={onStarted} />
              ) : id === 'versions' ? (
                <VersionsPanel
                  fn={d}
                  onEdit={(from) => {
                    setStartFrom(from)
                    setTab('source')
                  }}
                />
              ) : id === 'secrets' ? (
                <SecretsPanel fn={d} />
              ) : id === 'invocations' ? (
                <InvocationsPanel name={d.name} />
              ) : (
                <TestRunPanel fn={d} />
              )}
            </div>
          ))}
        </>
      ) : null}
      {deleting && d ? (
        <ConfirmDialog
          title={`Delete the function ${d.name}?`}
          confirmLabel="Delete function"
          danger
          typeToConfirm={d.name}
          onConfirm={async () => {
            await functionsApi(client).remove(d.name)
            await queryClient.invalidateQueries({ queryKey: functionsKey, exact: true })
            await navigate({ to: '/functions' })
            queryClient.removeQueries({ queryKey: [...functionsKey, d.name] })
          }}
          onClose={() => setDeleting(false)}
        >
          <p>
            Every version, secret and recorded invocation of <code>{d.name}</code> is deleted; its triggers
            stop at once and <code>/api/functions/{d.name}</code> answers 404.
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}
