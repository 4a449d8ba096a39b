import {
  type BastideClient,
  type CollectionSchema,
  ErrorCodes,
  type FieldSchema,
  f as filter,
  isBastideError,
} from '@bastide/sdk'
import { useQuery } from '@tanstack/react-query'
import { type FormEvent, useId, useState } from 'react'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Field } from '../../components/ui/Field.tsx'
import { useClient } from '../../lib/client.tsx'
import { download } from '../../lib/download.ts'
import { formatBytes, formatTime } from '../../lib/format.ts'
import type { Conflict } from './ConflictDialog.tsx'
import {
  cellText,
  displayField,
  editText,
  fieldsOf,
  fileName,
  isMultiple,
  parseValue,
  type Rec,
  ValueError,
} from './values.ts'

type Draft = Record<string, string | boolean | string[]>

/** What the form holds for a value: text for inputs, a boolean for checkboxes, a list for multiple values. */
function draftOf(f: FieldSchema, v: unknown): string | boolean | string[] {
  if (f.type === 'bool') return v === true
  if (isMultiple(f)) return Array.isArray(v) ? v.map(String) : []
  if (f.type === 'relation' || f.type === 'select' || f.type === 'file') return typeof v === 'string' ? v : ''
  return editText(f, v)
}

function fieldValue(f: FieldSchema, d: string | boolean | string[]): unknown {
  if (typeof d === 'boolean') return d
  if (Array.isArray(d)) return d
  if (f.type === 'relation' || f.type === 'select' || f.type === 'file') return d === '' ? null : d
  return parseValue(f, d, { dateIsLocal: true })
}

/**
 * A record's form, one control per field type: create (no `record`) or edit. Files upload with the write,
 * with progress. A 409 on edit goes to `onConflict`.
 */
export function RecordForm(props: {
  collection: CollectionSchema
  collections: readonly CollectionSchema[]
  record?: Rec
  expand: readonly string[]
  onSaved: (rec: Rec, created: boolean) => void
  onConflict: (c: Conflict) => void
  onClose: () => void
}) {
  const client = useClient()
  const { collection, record } = props
  const fields = fieldsOf(collection).filter((f) => !f.system)
  const [draft, setDraft] = useState<Draft>(() =>
    Object.fromEntries(fields.map((f) => [f.name, draftOf(f, record?.[f.name])])),
  )
  const [files, setFiles] = useState<Record<string, File[]>>({})
  const [problems, setProblems] = useState<Record<string, string>>({})
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [progress, setProgress] = useState<{ loaded: number; total: number } | null>(null)
  const set = (name: string, v: string | boolean | string[]) => {
    setDraft((d) => ({ ...d, [name]: v }))
    setProblems(({ [name]: _, ...rest }) => rest)
  }

  /** A stored file of this record, fetched with the admin's credentials and offered as a download. */
  const downloadFile = async (field: string, key: string) => {
    if (!record) return
    setError(null)
    try {
      const res = await client.http.send(client.collection(collection.name).fileUrl(record, field, key))
      download(await res.blob(), fileName(key))
    } catch (err) {
      setError(err)
    }
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const data: Record<string, unknown> = {}
    const bad: Record<string, string> = {}
    for (const f of fields) {
      const newFiles = files[f.name] ?? []
      try {
        const v = fieldValue(f, draft[f.name]!)
        const before = record ? fieldValue(f, draftOf(f, record[f.name])) : undefined
        const changed = !record || JSON.stringify(v) !== JSON.stringify(before)
        if (f.type === 'file') {
          if (newFiles.length > 0) {
            // Uploads take a single field's place, or append to a multiple one (when its value is not sent).
            if (isMultiple(f) && record && changed) {
              bad[f.name] = 'Save the removed files first, then add new ones.'
              continue
            }
            data[f.name] = isMultiple(f) ? newFiles : newFiles[0]
          } else if (record && changed) data[f.name] = v
          continue
        }
        if (!changed) continue
        if (!record && (v === null || (Array.isArray(v) && v.length === 0)) && !f.required) continue
        data[f.name] = v
      } catch (err) {
        if (err instanceof ValueError) bad[f.name] = err.message
        else throw err
      }
    }
    setProblems(bad)
    if (Object.keys(bad).length > 0) return
    setBusy(true)
    setError(null)
    const hasFiles = Object.values(files).some((l) => l.length > 0)
    const onProgress = hasFiles
      ? (p: { loaded: number; total: number | undefined }) =>
          setProgress({ loaded: p.loaded, total: p.total ?? 0 })
      : undefined
    const coll = client.collection<Rec>(collection.name)
    const opts = {
      ...(props.expand.length ? { expand: props.expand as never[] } : {}),
      ...(onProgress ? { onProgress } : {}),
    }
    try {
      if (record) {
        const saved = (await coll.update(record.id, data as never, {
          ...opts,
          version: record.version,
        })) as Rec
        props.onSaved(saved, false)
      } else {
        props.onSaved((await coll.create(data as never, opts)) as Rec, true)
      }
      props.onClose()
    } catch (err) {
      if (record && isBastideError(err, ErrorCodes.VERSION_MISMATCH)) {
        const server = (await coll.getOne(record.id, opts.expand ? { expand: opts.expand } : {})) as Rec
        props.onConflict({
          base: record,
          mine: data,
          server,
          retry: async (version) =>
            (await coll.update(record.id, data as never, { ...opts, version })) as Rec,
        })
        props.onClose()
        return
      }
      setError(err)
    } finally {
      setBusy(false)
      setProgress(null)
    }
  }

  return (
    <Dialog title={record ? `Edit record` : `New ${collection.name} record`} wide onClose={props.onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        {record ? (
          <p className="muted records-meta">
            <span className="mono">{record.id}</span> · version {record.version} · created{' '}
            {formatTime(record.created)} · updated {formatTime(record.updated)}
          </p>
        ) : null}
        {fields.map((f) => (
          <FieldControl
            key={f.name}
            field={f}
            collections={props.collections}
            value={draft[f.name]!}
            onChange={(v) => set(f.name, v)}
            problem={problems[f.name]}
            files={files[f.name] ?? []}
            onFiles={(list) => setFiles((all) => ({ ...all, [f.name]: list }))}
            client={client}
            {...(record ? { onDownload: (key: string) => void downloadFile(f.name, key) } : {})}
          />
        ))}
        {progress ? (
          <div className="stack" role="status">
            <span>
              Uploading… {formatBytes(progress.loaded)} of {formatBytes(progress.total)}
            </span>
            <progress
              className="records-progress"
              aria-label="Upload progress"
              max={progress.total || 1}
              value={progress.loaded}
            />
          </div>
        ) : null}
        <ErrorNote error={error} />
        <div className="row">
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? 'Saving…' : record ? 'Save changes' : 'Create record'}
          </button>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function FieldControl(props: {
  field: FieldSchema
  collections: readonly CollectionSchema[]
  value: string | boolean | string[]
  onChange: (v: string | boolean | string[]) => void
  problem: string | undefined
  files: File[]
  onFiles: (files: File[]) => void
  client: BastideClient
  onDownload?: (key: string) => void
}) {
  const { field: f, value } = props
  const label = `${f.name}${f.required ? ' *' : ''}`
  const hint = (
    <>
      {f.type}
      {isMultiple(f) ? ' (multiple)' : ''}
      {f.hidden ? ' · hidden' : ''}
      {props.problem ? <span className="records-problem"> — {props.problem}</span> : null}
    </>
  )
  const invalid = props.problem ? true : undefined
  if (f.type === 'bool')
    return (
      <label className="check">
        <input type="checkbox" checked={value === true} onChange={(e) => props.onChange(e.target.checked)} />
        {f.name}
      </label>
    )
  if (f.type === 'select' && isMultiple(f)) {
    const list = value as string[]
    return (
      <fieldset className="records-fieldset">
        <legend>{label}</legend>
        <div className="row">
          {(f.options?.values ?? []).map((v) => (
            <label key={v} className="check">
              <input
                type="checkbox"
                checked={list.includes(v)}
                onChange={(e) =>
                  props.onChange(e.target.checked ? [...list, v] : list.filter((x) => x !== v))
                }
              />
              {v}
            </label>
          ))}
        </div>
      </fieldset>
    )
  }
  if (f.type === 'relation') return <RelationPicker {...props} label={label} />
  if (f.type === 'file') return <FilePicker {...props} label={label} />
  return (
    <Field label={label} hint={hint}>
      {({ id, describedBy }) =>
        f.type === 'select' ? (
          <select
            id={id}
            aria-describedby={describedBy}
            value={value as string}
            onChange={(e) => props.onChange(e.target.value)}
          >
            <option value="">(none)</option>
            {(f.options?.values ?? []).map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        ) : f.type === 'json' ? (
          <JsonInput
            id={id}
            describedBy={describedBy}
            value={value as string}
            onChange={props.onChange}
            invalid={invalid}
          />
        ) : (
          <input
            id={id}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            type={
              f.type === 'number'
                ? 'number'
                : f.type === 'date'
                  ? 'datetime-local'
                  : f.type === 'email'
                    ? 'email'
                    : f.type === 'url'
                      ? 'url'
                      : 'text'
            }
            step={f.type === 'number' ? (f.options?.integer ? 1 : 'any') : undefined}
            value={value as string}
            onChange={(e) => props.onChange(e.target.value)}
          />
        )
      }
    </Field>
  )
}

function JsonInput(props: {
  id: string
  describedBy: string | undefined
  value: string
  onChange: (v: string) => void
  invalid: true | undefined
}) {
  let problem: string | null = null
  if (props.value.trim() !== '') {
    try {
      JSON.parse(props.value)
    } catch (e) {
      problem = (e as Error).message
    }
  }
  return (
    <>
      <textarea
        id={props.id}
        aria-describedby={props.describedBy}
        aria-invalid={problem || props.invalid ? true : undefined}
        rows={5}
        spellCheck={false}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {problem ? <span className="records-problem">Not valid JSON: {problem}</span> : null}
    </>
  )
}

/** Picks related records by searching the related collection on its display field. */
function RelationPicker(props: {
  field: FieldSchema
  collections: readonly CollectionSchema[]
  value: string | boolean | string[]
  onChange: (v: string | string[]) => void
  client: BastideClient
  label: string
}) {
  const { field: f } = props
  const target = props.collections.find((c) => c.name === f.options?.collection)
  const shown = displayField(target)
  const [q, setQ] = useState('')
  const ids = (
    Array.isArray(props.value) ? props.value : props.value ? [props.value as string] : []
  ) as string[]
  const searchId = useId()
  const results = useQuery({
    queryKey: ['records-pick', target?.name, shown, q],
    enabled: target !== undefined,
    queryFn: ({ signal }) =>
      props.client.collection<Rec>(target!.name).list({
        perPage: 8,
        ...(q.trim() && shown !== 'id' ? { filter: filter(`${shown} ~ {:q}`, { q: q.trim() }) } : {}),
        signal,
      }),
  })
  const chosen = useQuery({
    queryKey: ['records-chosen', target?.name, ids.join(',')],
    enabled: target !== undefined && ids.length > 0,
    queryFn: ({ signal }) =>
      props.client.collection<Rec>(target!.name).list({
        perPage: ids.length,
        filter: filter(
          ids.map((_, i) => `id = {:i${i}}`).join(' || '),
          Object.fromEntries(ids.map((id, i) => [`i${i}`, id])),
        ),
        signal,
      }),
  })
  const nameOf = (id: string) => {
    const r = chosen.data?.items.find((x) => x.id === id) ?? results.data?.items.find((x) => x.id === id)
    return r ? cellText(r[shown]) || id : id
  }
  const pick = (id: string) => {
    if (isMultiple(f)) props.onChange(ids.includes(id) ? ids : [...ids, id])
    else props.onChange(id)
  }
  const remove = (id: string) => props.onChange(isMultiple(f) ? ids.filter((x) => x !== id) : '')
  return (
    <fieldset className="records-fieldset">
      <legend>
        {props.label} <span className="muted">→ {f.options?.collection}</span>
      </legend>
      <div className="row">
        {ids.length === 0 ? <span className="muted">none</span> : null}
        {ids.map((id) => (
          <span key={id} className="badge records-chip">
            {nameOf(id)}
            <button
              type="button"
              className="btn link"
              onClick={() => remove(id)}
              aria-label={`Remove ${nameOf(id)}`}
            >
              ✕
            </button>
          </span>
        ))}
      </div>
      <label htmlFor={searchId} className="sr-only">
        Search {f.options?.collection} for {f.name}
      </label>
      <input
        id={searchId}
        type="search"
        placeholder={`Search ${f.options?.collection} by ${shown}…`}
        value={q}
        onChange={(e) => setQ(e.target.value)}
      />
      <ErrorNote error={results.error} />
      <ul className="records-options" aria-label={`Matching ${f.options?.collection}`}>
        {results.data?.items.map((r) => (
          <li key={r.id}>
            <button
              type="button"
              className="btn small"
              onClick={() => pick(r.id)}
              aria-pressed={ids.includes(r.id)}
            >
              {cellText(r[shown]) || r.id}
            </button>{' '}
            <span className="mono muted">{r.id.slice(0, 8)}…</span>
          </li>
        ))}
        {results.data?.items.length === 0 ? <li className="muted">No match.</li> : null}
      </ul>
    </fieldset>
  )
}

/** The files a record holds (uncheck to remove) and new ones to upload with the save. */
function FilePicker(props: {
  field: FieldSchema
  value: string | boolean | string[]
  onChange: (v: string | string[]) => void
  files: File[]
  onFiles: (files: File[]) => void
  onDownload?: (key: string) => void
  label: string
}) {
  const { field: f } = props
  const inputId = useId()
  const keys = (
    Array.isArray(props.value) ? props.value : props.value ? [props.value as string] : []
  ) as string[]
  return (
    <fieldset className="records-fieldset">
      <legend>
        {props.label} <span className="muted">bucket {f.options?.bucket}</span>
      </legend>
      <div className="row">
        {keys.map((k) => (
          <span key={k} className="badge records-chip">
            <span className="badge">file</span> {fileName(k)}
            {props.onDownload ? (
              <button
                type="button"
                className="btn link"
                aria-label={`Download ${fileName(k)}`}
                onClick={() => props.onDownload?.(k)}
              >
                ⬇
              </button>
            ) : null}
            <button
              type="button"
              className="btn link"
              aria-label={`Remove file ${fileName(k)}`}
              onClick={() => props.onChange(isMultiple(f) ? keys.filter((x) => x !== k) : '')}
            >
              ✕
            </button>
          </span>
        ))}
        {props.files.map((file) => (
          <span key={file.name} className="badge ok">
            ⬆ {file.name} ({formatBytes(file.size)})
          </span>
        ))}
      </div>
      <label htmlFor={inputId}>
        {isMultiple(f) ? `Add files to ${f.name}` : `Upload a file for ${f.name}`}
      </label>
      <input
        id={inputId}
        type="file"
        multiple={isMultiple(f)}
        onChange={(e) => props.onFiles([...(e.target.files ?? [])])}
      />
    </fieldset>
  )
}
