import type { StorageObject } from '@bastide/sdk'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams, useSearch } from '@tanstack/react-router'
import { type DragEvent, type FormEvent, useCallback, useId, useRef, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading, Page, Pager } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatBytes, formatTime } from '../../lib/format.ts'
import { BucketDialog } from './BucketDialog.tsx'
import { DeleteObjectsDialog } from './DeleteObjectsDialog.tsx'
import { acceptAttribute, isPreviewableImage, mimeAllowed } from './mime.ts'
import { ObjectDialog } from './ObjectDialog.tsx'
import { ObjectImage } from './ObjectImage.tsx'
import { breadcrumb, collectFolderPage, normalizePrefix, uploadKey, type ViewCursor } from './paths.ts'
import { UploadsPanel } from './UploadsPanel.tsx'
import { useUploads } from './use-uploads.ts'

const PER_PAGE = 50

/** One bucket's objects, browsed by prefix like folders; uploads by drag-and-drop or the file picker. */
export function BucketPage() {
  const { bucket = '' } = useParams({ strict: false }) as { bucket?: string }
  const search = useSearch({ strict: false }) as { prefix?: unknown }
  const prefix = normalizePrefix(
    typeof search.prefix === 'string' ? search.prefix : String(search.prefix ?? ''),
  )
  const client = useClient()
  const queryClient = useQueryClient()
  const info = useQuery({
    queryKey: ['files', 'bucket', bucket],
    queryFn: ({ signal }) => client.storage.getBucket(bucket, { signal }),
  })
  const [settings, setSettings] = useState(false)
  const refresh = useCallback(
    () => queryClient.invalidateQueries({ queryKey: ['files', 'objects', bucket] }),
    [queryClient, bucket],
  )
  const uploads = useUploads(() => void refresh())
  const b = info.data
  return (
    <Page
      title={bucket}
      subtitle={
        b ? (
          <>
            {b.public ? 'public' : 'private'} ·{' '}
            {b.maxFileSize === null ? 'server size limit' : `up to ${formatBytes(b.maxFileSize)}`} ·{' '}
            {b.allowedMimeTypes.length ? b.allowedMimeTypes.join(', ') : 'any type'}
          </>
        ) : undefined
      }
      actions={
        <>
          <Link to="/files" className="btn">
            All buckets
          </Link>
          <button type="button" className="btn" onClick={() => void refresh()}>
            Refresh
          </button>
          <button type="button" className="btn" disabled={!b} onClick={() => setSettings(true)}>
            Settings
          </button>
        </>
      }
    >
      <ErrorNote error={info.error} />
      <Breadcrumb bucket={bucket} prefix={prefix} />
      <DropZone
        prefix={prefix}
        accept={acceptAttribute(b?.allowedMimeTypes ?? [])}
        onFiles={(files) =>
          uploads.add(
            client.storage.from(bucket),
            files.flatMap((file) => {
              const key = uploadKey(prefix, file.webkitRelativePath || file.name)
              if (!key) return []
              const allowed = b?.allowedMimeTypes ?? []
              const note =
                file.type && !mimeAllowed(file.type, allowed)
                  ? `The browser calls this ${file.type}, which the bucket does not list (${allowed.join(', ')}); the server checks the bytes.`
                  : undefined
              return [{ file, key, note }]
            }),
          )
        }
      />
      <UploadsPanel uploads={uploads} bucket={bucket} />
      {/* A new prefix starts a new cursor chain: the listing below is keyed by it. */}
      {info.isError ? null : <ObjectList key={`${bucket}/${prefix}`} bucket={bucket} prefix={prefix} />}
      {settings && b ? (
        <BucketDialog
          bucket={b}
          onClose={() => setSettings(false)}
          onSaved={() => void queryClient.invalidateQueries({ queryKey: ['files', 'bucket', bucket] })}
        />
      ) : null}
    </Page>
  )
}

function Breadcrumb(props: { bucket: string; prefix: string }) {
  const navigate = useNavigate()
  const [folder, setFolder] = useState('')
  const inputId = useId()
  const crumbs = breadcrumb(props.prefix)
  const open = (e: FormEvent) => {
    e.preventDefault()
    // Cleaned like an upload's key: no empty, `.` or `..` segments.
    const key = uploadKey(props.prefix, folder.trim())
    if (key === undefined) return
    const next = normalizePrefix(key)
    setFolder('')
    void navigate({ to: '/files/$bucket', params: { bucket: props.bucket }, search: { prefix: next } })
  }
  return (
    <div className="row files-toolbar">
      <nav aria-label="Folder path" className="files-crumbs grow">
        <ol>
          {crumbs.map((c, i) => (
            <li key={c.prefix}>
              {i === crumbs.length - 1 ? (
                <span aria-current="location" className="mono">
                  {c.label || `${props.bucket}/`}
                </span>
              ) : (
                <Link
                  to="/files/$bucket"
                  params={{ bucket: props.bucket }}
                  search={c.prefix ? { prefix: c.prefix } : {}}
                  className="mono"
                >
                  {c.label || `${props.bucket}/`}
                </Link>
              )}
            </li>
          ))}
        </ol>
      </nav>
      <form className="row" onSubmit={open}>
        <label htmlFor={inputId} className="sr-only">
          Folder to open or create
        </label>
        <input
          id={inputId}
          type="text"
          value={folder}
          placeholder="new or existing folder"
          onChange={(e) => setFolder(e.target.value)}
          autoComplete="off"
        />
        <button type="submit" className="btn small" disabled={!folder.trim()}>
          Open folder
        </button>
      </form>
    </div>
  )
}

function DropZone(props: { prefix: string; accept: string | undefined; onFiles: (files: File[]) => void }) {
  const inputRef = useRef<HTMLInputElement>(null)
  const inputId = useId()
  const [over, setOver] = useState(false)
  const onDrop = (e: DragEvent) => {
    e.preventDefault()
    setOver(false)
    const files = [...(e.dataTransfer?.files ?? [])]
    if (files.length) props.onFiles(files)
  }
  return (
    // biome-ignore lint/a11y/useSemanticElements: a drop target, not a form group; the picker inside is the keyboard path
    <div
      role="region"
      aria-label="Upload files"
      className={`files-drop${over ? ' over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault()
        if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'
        setOver(true)
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <span>
        Drop files here to upload them to <code>{props.prefix || '/'}</code>, or
      </span>
      <input
        ref={inputRef}
        id={inputId}
        type="file"
        multiple
        accept={props.accept}
        tabIndex={-1}
        className="sr-only"
        onChange={(e) => {
          const files = [...(e.target.files ?? [])]
          e.target.value = ''
          if (files.length) props.onFiles(files)
        }}
      />
      <label htmlFor={inputId} className="sr-only">
        Choose files to upload
      </label>
      <button type="button" className="btn small" onClick={() => inputRef.current?.click()}>
        choose files…
      </button>
      <span className="muted">Files over 8 MB upload resumably (pause and resume).</span>
    </div>
  )
}

function ObjectList(props: { bucket: string; prefix: string }) {
  const { bucket, prefix } = props
  const client = useClient()
  const queryClient = useQueryClient()
  // cursors[i] opens page i+1 ({}: the first page).
  const [cursors, setCursors] = useState<ViewCursor[]>([{}])
  const [page, setPage] = useState(1)
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set())
  const [details, setDetails] = useState<StorageObject | null>(null)
  const [deleting, setDeleting] = useState<{ keys: readonly string[] } | { prefix: string } | null>(null)
  const at = cursors[page - 1] ?? {}
  const list = useQuery({
    queryKey: ['files', 'objects', bucket, prefix, at.after ?? null, at.continuing ?? null],
    queryFn: ({ signal }) => {
      const api = client.storage.from(bucket)
      return collectFolderPage(
        (after, limit) => api.list({ prefix, limit, signal, ...(after ? { after } : {}) }),
        prefix,
        at,
        { want: PER_PAGE },
      )
    },
    placeholderData: (prev) => prev,
  })
  const view = list.data ?? { folders: [], files: [], next: null }
  const fileKeys = view.files.map((f) => f.item.key)
  const allSelected = fileKeys.length > 0 && fileKeys.every((k) => selected.has(k))
  const toggle = (key: string, on: boolean) =>
    setSelected((s) => {
      const next = new Set(s)
      if (on) next.add(key)
      else next.delete(key)
      return next
    })
  return (
    <div className="stack">
      <ErrorNote error={list.error} />
      <div className="row">
        <span className="muted grow" role="status">
          {list.isFetching ? 'Loading…' : null}
        </span>
        <button
          type="button"
          className="btn small danger"
          disabled={selected.size === 0}
          onClick={() => setDeleting({ keys: [...selected] })}
        >
          Delete selected ({selected.size})
        </button>
      </div>
      {list.isPending ? (
        <Loading />
      ) : view.folders.length === 0 && view.files.length === 0 ? (
        <p className="muted panel">
          {prefix ? 'Nothing in this folder yet: upload files to create it.' : 'This bucket is empty.'}
        </p>
      ) : (
        <table className="table files-table">
          <thead>
            <tr>
              <th scope="col" className="files-check">
                <input
                  type="checkbox"
                  aria-label="Select every file on this page"
                  checked={allSelected}
                  disabled={fileKeys.length === 0}
                  onChange={(e) =>
                    setSelected((s) => {
                      const next = new Set(s)
                      for (const k of fileKeys) e.target.checked ? next.add(k) : next.delete(k)
                      return next
                    })
                  }
                />
              </th>
              <th scope="col">
                <span className="sr-only">Preview</span>
              </th>
              <th scope="col">Name</th>
              <th scope="col">Size</th>
              <th scope="col">Type</th>
              <th scope="col">Modified</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {view.folders.map((f) => (
              <tr key={f.prefix}>
                <td />
                <td>
                  <span className="files-folder-icon" aria-hidden="true" />
                </td>
                <td colSpan={4}>
                  <Link
                    to="/files/$bucket"
                    params={{ bucket }}
                    search={{ prefix: f.prefix }}
                    className="mono"
                    aria-label={`Folder ${f.name}`}
                  >
                    {f.name}/
                  </Link>
                </td>
                <td>
                  <button
                    type="button"
                    className="btn small danger"
                    onClick={() => setDeleting({ prefix: f.prefix })}
                  >
                    Delete<span className="sr-only"> folder {f.name}</span>
                  </button>
                </td>
              </tr>
            ))}
            {view.files.map(({ name, item }) => (
              <tr key={item.key} aria-selected={selected.has(item.key)}>
                <td className="files-check">
                  <input
                    type="checkbox"
                    aria-label={`Select ${name}`}
                    checked={selected.has(item.key)}
                    onChange={(e) => toggle(item.key, e.target.checked)}
                  />
                </td>
                <td className="files-thumb-cell">
                  {isPreviewableImage(item.mimeType) ? (
                    <ObjectImage
                      object={item}
                      transform={{ width: 80, height: 80, fit: 'cover', format: 'webp' }}
                      alt={`Preview of ${name}`}
                      className="files-thumb"
                    />
                  ) : (
                    <span className="files-type-icon" aria-hidden="true">
                      {typeLabel(item.mimeType)}
                    </span>
                  )}
                </td>
                <td>
                  <button type="button" className="btn link mono files-name" onClick={() => setDetails(item)}>
                    {name}
                  </button>
                </td>
                <td className="files-nowrap">{formatBytes(item.size)}</td>
                <td className="mono">{item.mimeType}</td>
                <td className="files-nowrap">{formatTime(item.updated)}</td>
                <td>
                  <button
                    type="button"
                    className="btn small danger"
                    onClick={() => setDeleting({ keys: [item.key] })}
                  >
                    Delete<span className="sr-only"> {name}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        label="Object pages"
        page={page}
        hasNext={Boolean(view.next)}
        onPage={(p) => {
          const next = view.next
          if (p > page && next) setCursors((c) => [...c.slice(0, page), next])
          setPage(p)
        }}
      />
      {details ? <ObjectDialog object={details} onClose={() => setDetails(null)} /> : null}
      {deleting ? (
        <DeleteObjectsDialog
          api={client.storage.from(bucket)}
          target={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            const gone = 'keys' in deleting ? deleting.keys : []
            setSelected((s) => {
              const next = new Set(s)
              for (const k of gone) next.delete(k)
              return next
            })
            void queryClient.invalidateQueries({ queryKey: ['files', 'objects', bucket] })
          }}
        />
      ) : null}
    </div>
  )
}

/** A short badge for a type without a preview: PDF, ZIP, TXT… */
function typeLabel(mime: string): string {
  const sub = mime.split('/')[1]?.split(/[;+.-]/)[0] ?? ''
  if (mime.startsWith('text/')) return 'TXT'
  if (sub === 'octet') return 'BIN'
  return (sub.slice(0, 4) || 'FILE').toUpperCase()
}
