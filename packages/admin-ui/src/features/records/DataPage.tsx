import { type CollectionSchema, ErrorCodes, type FieldSchema, isBastideError } from '@bastide/sdk'
import { useQuery } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { download } from '../../lib/download.ts'
import { plural } from '../../lib/format.ts'
import { type Conflict, ConflictDialog } from './ConflictDialog.tsx'
import { type ExportFormat, exportRecords } from './export-data.ts'
import { FilterBar } from './FilterBar.tsx'
import { fieldPaths, SYSTEM_COLUMNS } from './filter-complete.ts'
import { type Column, Grid } from './Grid.tsx'
import { ImportDialog } from './ImportDialog.tsx'
import { RecordForm } from './RecordForm.tsx'
import { useRecordPages } from './useRecordPages.ts'
import { fieldsOf, type Rec } from './values.ts'

const DEFAULT_SORT = '-created'

const SYSTEM_FIELD: Record<string, FieldSchema> = {
  id: { name: 'id', type: 'text', system: true },
  created: { name: 'created', type: 'date', system: true },
  updated: { name: 'updated', type: 'date', system: true },
  version: { name: 'version', type: 'number', system: true },
}

/** Hidden columns per collection, kept in this browser. */
function useHiddenColumns(collection: string) {
  const key = `bastide.console.records.hidden.${collection}`
  const read = useCallback((): string[] => {
    try {
      const v = JSON.parse(localStorage.getItem(key) ?? '[]')
      return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []
    } catch {
      return []
    }
  }, [key])
  const [hidden, setHidden] = useState<string[]>(read)
  useEffect(() => setHidden(read()), [read])
  const update = (next: string[]) => {
    setHidden(next)
    localStorage.setItem(key, JSON.stringify(next))
  }
  return [hidden, update] as const
}

/** Data: one collection's records in a virtualized, live, editable grid. */
export function DataPage() {
  const client = useClient()
  const { collection: name } = useParams({ strict: false }) as { collection: string }
  const collections = useQuery({
    queryKey: ['collections'],
    queryFn: ({ signal }) => client.admin.collections.list({ signal }),
  })
  const collection = collections.data?.find((c) => c.name === name)
  return (
    <Page
      title={`Data · ${name}`}
      actions={collections.data ? <CollectionSwitcher current={name} collections={collections.data} /> : null}
    >
      <ErrorNote error={collections.error} />
      {collections.isPending ? (
        <Loading />
      ) : !collection ? (
        collections.data ? (
          <p className="error-note" role="alert">
            No collection named “{name}”. <Link to="/data">Pick another</Link>.
          </p>
        ) : null
      ) : (
        <Records key={collection.name} collection={collection} collections={collections.data ?? []} />
      )}
    </Page>
  )
}

function CollectionSwitcher(props: { current: string; collections: readonly CollectionSchema[] }) {
  const navigate = useNavigate()
  return (
    <label className="row">
      <span className="muted">Collection</span>
      <select
        value={props.current}
        onChange={(e) => void navigate({ to: '/data/$collection', params: { collection: e.target.value } })}
      >
        {props.collections.map((c) => (
          <option key={c.id} value={c.name}>
            {c.name}
          </option>
        ))}
      </select>
    </label>
  )
}

function Records(props: { collection: CollectionSchema; collections: readonly CollectionSchema[] }) {
  const client = useClient()
  const { collection } = props
  const [filter, setFilter] = useState('')
  const [sort, setSort] = useState(DEFAULT_SORT)
  const [expand, setExpand] = useState<string[]>([])
  const [hidden, setHidden] = useHiddenColumns(collection.name)
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set())
  const [form, setForm] = useState<{ record?: Rec } | null>(null)
  const [conflict, setConflict] = useState<Conflict | null>(null)
  const [editError, setEditError] = useState<unknown>(null)
  const [importing, setImporting] = useState(false)
  const [deleting, setDeleting] = useState(false)
  const [deleteProgress, setDeleteProgress] = useState<{ done: number; total: number } | null>(null)
  const [exporting, setExporting] = useState<{ done: number; total?: number | undefined } | null>(null)
  const [exportError, setExportError] = useState<unknown>(null)
  const exportAbort = useRef<AbortController | null>(null)

  const query = useMemo(
    () => ({ collection: collection.name, filter, sort, expand }),
    [collection.name, filter, sort, expand],
  )
  const data = useRecordPages(client, query)
  const paths = useMemo(() => fieldPaths(collection, props.collections), [collection, props.collections])
  const relations = fieldsOf(collection).filter((f) => f.type === 'relation')

  const allColumns: Column[] = useMemo(
    () => [
      { name: 'id', field: SYSTEM_FIELD.id!, system: true },
      ...fieldsOf(collection).map((f) => ({ name: f.name, field: f })),
      ...SYSTEM_COLUMNS.filter((s) => s !== 'id').map((s) => ({
        name: s,
        field: SYSTEM_FIELD[s]!,
        system: true,
      })),
    ],
    [collection],
  )
  const columns = useMemo(
    () => allColumns.filter((c) => c.name === 'id' || !hidden.includes(c.name)),
    [allColumns, hidden],
  )

  const onSort = (col: string) =>
    setSort((s) => (s === col ? `-${col}` : s === `-${col}` ? (col === 'created' ? col : DEFAULT_SORT) : col))

  const coll = client.collection<Rec>(collection.name)
  const readOpts = expand.length ? { expand: expand as never[] } : {}
  const onEdit = async (row: Rec, field: string, value: unknown) => {
    setEditError(null)
    // Optimistic: the cell shows the new value at once, and goes back if the server says no.
    data.putRow({ ...row, [field]: value })
    try {
      data.putRow(
        (await coll.update(row.id, { [field]: value } as never, {
          ...readOpts,
          version: row.version,
        })) as Rec,
      )
    } catch (e) {
      data.putRow(row)
      if (isBastideError(e, ErrorCodes.VERSION_MISMATCH)) {
        try {
          const server = (await coll.getOne(row.id, readOpts)) as Rec
          setConflict({
            base: row,
            mine: { [field]: value },
            server,
            retry: async (version) =>
              (await coll.update(row.id, { [field]: value } as never, { ...readOpts, version })) as Rec,
          })
        } catch (e2) {
          setEditError(e2)
        }
      } else setEditError(e)
    }
  }

  const loadedIds = data
    .loaded()
    .filter((r) => !data.deleted.has(r.id))
    .map((r) => r.id)
  const allSelected = loadedIds.length > 0 && loadedIds.every((id) => selected.has(id))
  const toggle = (id: string) =>
    setSelected((s) => {
      const n = new Set(s)
      if (n.has(id)) n.delete(id)
      else n.add(id)
      return n
    })

  const deleteSelected = async () => {
    const ids = [...selected]
    const done: string[] = []
    setDeleteProgress({ done: 0, total: ids.length })
    try {
      for (let i = 0; i < ids.length; i += 100) {
        const chunk = ids.slice(i, i + 100)
        await client.batch((b) => {
          for (const id of chunk) b.collection(collection.name).delete(id)
        })
        done.push(...chunk)
        setDeleteProgress({ done: done.length, total: ids.length })
      }
    } finally {
      // What was deleted leaves the selection; a refused batch stays selected, with the server's message.
      setSelected((s) => new Set([...s].filter((id) => !done.includes(id))))
      setDeleteProgress(null)
      if (done.length > 0) data.refresh()
    }
  }

  const runExport = async (format: ExportFormat) => {
    const ctl = new AbortController()
    exportAbort.current = ctl
    setExportError(null)
    setExporting({ done: 0 })
    try {
      const blob = await exportRecords(client, collection, {
        filter,
        sort,
        format,
        signal: ctl.signal,
        onProgress: (done, total) => setExporting({ done, total }),
      })
      download(blob, `${collection.name}.${format}`)
    } catch (e) {
      if (!ctl.signal.aborted) setExportError(e)
    } finally {
      setExporting(null)
    }
  }

  return (
    <div className="stack records-page">
      <div className="row records-toolbar">
        <button type="button" className="btn primary" onClick={() => setForm({})}>
          New record
        </button>
        <details className="records-menu">
          <summary className="btn">Columns ({columns.length - 1})</summary>
          <fieldset className="records-popover">
            <legend>Shown columns</legend>
            {allColumns
              .filter((c) => c.name !== 'id')
              .map((c) => (
                <label key={c.name} className="check">
                  <input
                    type="checkbox"
                    checked={!hidden.includes(c.name)}
                    onChange={(e) =>
                      setHidden(e.target.checked ? hidden.filter((h) => h !== c.name) : [...hidden, c.name])
                    }
                  />
                  {c.name}
                </label>
              ))}
          </fieldset>
        </details>
        {relations.length > 0 ? (
          <details className="records-menu">
            <summary className="btn">Expand ({expand.length})</summary>
            <fieldset className="records-popover">
              <legend>Show related records</legend>
              {relations.map((f) => (
                <label key={f.name} className="check">
                  <input
                    type="checkbox"
                    checked={expand.includes(f.name)}
                    onChange={(e) =>
                      setExpand(e.target.checked ? [...expand, f.name] : expand.filter((x) => x !== f.name))
                    }
                  />
                  {f.name} <span className="muted">→ {f.options?.collection}</span>
                </label>
              ))}
            </fieldset>
          </details>
        ) : null}
        <button type="button" className="btn" onClick={() => setImporting(true)}>
          Import
        </button>
        <details className="records-menu">
          <summary className="btn">Export</summary>
          <div className="records-popover stack">
            <button
              type="button"
              className="btn"
              disabled={exporting !== null}
              onClick={() => void runExport('csv')}
            >
              Export CSV
            </button>
            <button
              type="button"
              className="btn"
              disabled={exporting !== null}
              onClick={() => void runExport('json')}
            >
              Export JSON
            </button>
          </div>
        </details>
        <button type="button" className="btn" onClick={data.refresh}>
          Refresh
        </button>
        {selected.size > 0 ? (
          <button type="button" className="btn danger" onClick={() => setDeleting(true)}>
            Delete {selected.size} selected
          </button>
        ) : null}
        <span className="grow" />
        <span className="muted" role="status" aria-live="polite">
          {data.total !== undefined ? plural(data.total + data.freshCount, 'record') : 'Counting…'}
          {selected.size > 0 ? ` · ${selected.size} selected` : ''}
        </span>
      </div>
      <FilterBar value={filter} paths={paths} error={data.error} onApply={setFilter} />
      {exporting ? (
        <div className="row" role="status">
          <span>
            Exporting… {exporting.done.toLocaleString()}
            {exporting.total !== undefined ? ` of ${exporting.total.toLocaleString()}` : ''} rows
          </span>
          <progress aria-label="Export progress" max={exporting.total || 1} value={exporting.done} />
          <button type="button" className="btn small" onClick={() => exportAbort.current?.abort()}>
            Stop
          </button>
        </div>
      ) : null}
      <ErrorNote error={exportError} title="Export failed" />
      <ErrorNote error={editError} title="Not saved" />
      {data.error && !isBastideError(data.error, ErrorCodes.INVALID_FILTER) ? (
        <ErrorNote error={data.error} />
      ) : null}
      {data.error && isBastideError(data.error, ErrorCodes.INVALID_FILTER) ? (
        <ErrorNote error={data.error} title="Filter" />
      ) : null}
      <Grid
        collection={collection}
        collections={props.collections}
        columns={columns}
        rowCount={data.error && data.total === undefined ? 0 : data.rowCount}
        rowAt={data.rowAt}
        ensureRows={data.ensureRows}
        deleted={data.deleted}
        freshCount={data.freshCount}
        sort={sort}
        onSort={onSort}
        selected={selected}
        onToggle={toggle}
        onToggleAll={() => setSelected(allSelected ? new Set() : new Set(loadedIds))}
        allSelected={allSelected}
        expand={expand}
        onEdit={onEdit}
        onOpen={(record) => setForm({ record })}
      />
      <p className="muted records-help">
        Arrows move between cells; Enter or double-click edits a cell (or opens the record); Escape cancels;
        Space selects the row. {data.total === 0 && !filter ? 'No record yet.' : ''}
      </p>
      {form ? (
        <RecordForm
          collection={collection}
          collections={props.collections}
          expand={expand}
          {...(form.record ? { record: form.record } : {})}
          onSaved={(rec, created) => data.putRow(rec, created)}
          onConflict={setConflict}
          onClose={() => setForm(null)}
        />
      ) : null}
      {conflict ? (
        <ConflictDialog
          conflict={conflict}
          onResolved={(rec) => data.putRow(rec)}
          onClose={() => setConflict(null)}
        />
      ) : null}
      {importing ? (
        <ImportDialog collection={collection} onClose={() => setImporting(false)} onDone={data.refresh} />
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${selected.size} record${selected.size === 1 ? '' : 's'}?`}
          confirmLabel={`Delete ${selected.size}`}
          danger
          onClose={() => setDeleting(false)}
          onConfirm={deleteSelected}
        >
          <p>
            Their files are deleted with them, and relations run their on-delete actions. This cannot be
            undone.
          </p>
          {deleteProgress ? (
            <div className="stack" role="status">
              <span>
                Deleted {deleteProgress.done} of {deleteProgress.total}
              </span>
              <progress aria-label="Delete progress" max={deleteProgress.total} value={deleteProgress.done} />
            </div>
          ) : null}
        </ConfirmDialog>
      ) : null}
    </div>
  )
}
