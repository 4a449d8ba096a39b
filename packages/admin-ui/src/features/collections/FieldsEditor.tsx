import { FIELD_TYPES, type FieldOptions, type FieldType, ON_DELETE } from '@bastide/protocol'
import { useQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { useClient } from '../../lib/client.tsx'
import { type DraftField, move, newField, TYPE_LABELS } from './draft.ts'
import { collectionsKey, listCollections } from './queries.ts'

const ON_DELETE_LABELS: Record<(typeof ON_DELETE)[number], string> = {
  cascade: 'Cascade: delete this record too',
  set_null: 'Set null: clear the relation',
  restrict: 'Restrict: refuse the delete',
}

/** The fields of a draft: add, remove, reorder, and each type's options. */
export function FieldsEditor(props: {
  fields: readonly DraftField[]
  onChange: (fields: DraftField[]) => void
  /** The collection's name as drafted: a relation may point at the collection itself. */
  selfName: string
  /** Fields already saved, by id: their type changes are retypes, explained before saving. */
  saved?: ReadonlyMap<string, DraftField>
}) {
  const { fields, onChange } = props
  const set = (i: number, f: DraftField) => onChange(fields.map((x, j) => (j === i ? f : x)))
  return (
    <div className="stack">
      <ol className="cl-fields">
        {fields.map((f, i) => (
          <FieldRow
            key={f.key}
            field={f}
            index={i}
            count={fields.length}
            selfName={props.selfName}
            saved={f.id ? props.saved?.get(f.id) : undefined}
            onChange={(nf) => set(i, nf)}
            onMove={(to) => onChange(move(fields, i, to))}
            onRemove={() => onChange(fields.filter((_, j) => j !== i))}
          />
        ))}
      </ol>
      <div className="row">
        <button type="button" className="btn" onClick={() => onChange([...fields, newField()])}>
          Add field
        </button>
      </div>
    </div>
  )
}

function numberOrUndefined(s: string): number | undefined {
  if (s.trim() === '') return undefined
  const n = Number(s)
  return Number.isFinite(n) ? n : undefined
}

function FieldRow(props: {
  field: DraftField
  index: number
  count: number
  selfName: string
  saved: DraftField | undefined
  onChange: (f: DraftField) => void
  onMove: (to: number) => void
  onRemove: () => void
}) {
  const { field: f, index: i } = props
  const n = i + 1
  const label = (what: string) => `Field ${n} ${what}`
  const setOpt = (o: Partial<FieldOptions>) => props.onChange({ ...f, options: { ...f.options, ...o } })
  const locked = f.system === true
  const renamed = props.saved && props.saved.name !== f.name
  const retyped = props.saved && props.saved.type !== f.type
  return (
    <li className="cl-field panel" aria-label={`Field ${n}${f.name ? `: ${f.name}` : ''}`}>
      <div className="cl-field-main">
        <input
          type="text"
          aria-label={label('name')}
          placeholder="name"
          className="mono"
          value={f.name}
          disabled={locked}
          onChange={(e) => props.onChange({ ...f, name: e.target.value })}
        />
        <select
          aria-label={label('type')}
          value={f.type}
          disabled={locked}
          onChange={(e) => props.onChange({ ...f, type: e.target.value as FieldType })}
        >
          {FIELD_TYPES.map((t) => (
            <option key={t} value={t}>
              {TYPE_LABELS[t]}
            </option>
          ))}
        </select>
        {(['required', 'unique', 'hidden'] as const).map((flag) => (
          <label key={flag} className="check">
            <input
              type="checkbox"
              checked={f[flag]}
              disabled={locked}
              onChange={(e) => props.onChange({ ...f, [flag]: e.target.checked })}
              aria-label={label(flag)}
            />
            <span aria-hidden="true">{flag}</span>
          </label>
        ))}
        <span className="cl-field-actions">
          {locked ? <span className="badge">managed by auth</span> : null}
          {!f.id ? <span className="badge ok">new</span> : null}
          {renamed ? <span className="badge">renamed from {props.saved?.name}</span> : null}
          <button
            type="button"
            className="btn small"
            aria-label={`Move field ${n} up`}
            disabled={i === 0}
            onClick={() => props.onMove(i - 1)}
          >
            ↑
          </button>
          <button
            type="button"
            className="btn small"
            aria-label={`Move field ${n} down`}
            disabled={i === props.count - 1}
            onClick={() => props.onMove(i + 1)}
          >
            ↓
          </button>
          <button
            type="button"
            className="btn small danger"
            aria-label={`Remove field ${n}`}
            disabled={locked}
            onClick={props.onRemove}
          >
            Remove
          </button>
        </span>
      </div>
      {retyped ? (
        <p className="warn-note cl-note">
          Changing {props.saved?.type} to {f.type} converts the existing values; if some cannot be converted,
          saving is refused and nothing changes.
        </p>
      ) : null}
      {locked ? null : (
        <FieldOptionsEditor field={f} label={label} setOpt={setOpt} selfName={props.selfName} />
      )}
    </li>
  )
}

function FieldOptionsEditor(props: {
  field: DraftField
  label: (what: string) => string
  setOpt: (o: Partial<FieldOptions>) => void
  selfName: string
}) {
  const { field: f, label, setOpt } = props
  const o = f.options
  const client = useClient()
  const collections = useQuery({
    queryKey: collectionsKey,
    queryFn: listCollections(client),
    enabled: f.type === 'relation',
  })
  const buckets = useQuery({
    queryKey: ['buckets'],
    queryFn: ({ signal }) => client.storage.listBuckets({ signal }),
    enabled: f.type === 'file',
  })
  const num = (key: 'min' | 'max', what: string) => (
    <label className="cl-opt">
      <span>{what}</span>
      <input
        type="number"
        aria-label={label(what.toLowerCase())}
        value={typeof o[key] === 'number' ? String(o[key]) : ''}
        onChange={(e) => setOpt({ [key]: numberOrUndefined(e.target.value) })}
      />
    </label>
  )
  const multiple = (
    <label className="check">
      <input
        type="checkbox"
        aria-label={label('multiple')}
        checked={o.multiple === true}
        onChange={(e) => setOpt({ multiple: e.target.checked })}
      />
      <span aria-hidden="true">multiple</span>
    </label>
  )
  switch (f.type) {
    case 'text':
      return (
        <div className="cl-opts">
          {num('min', 'Min length')}
          {num('max', 'Max length')}
          <label className="cl-opt grow">
            <span>Pattern</span>
            <input
              type="text"
              className="mono"
              aria-label={label('pattern')}
              placeholder="^[a-z0-9-]+$"
              value={typeof o.pattern === 'string' ? o.pattern : ''}
              onChange={(e) => setOpt({ pattern: e.target.value || undefined })}
            />
          </label>
        </div>
      )
    case 'number':
      return (
        <div className="cl-opts">
          {num('min', 'Min')}
          {num('max', 'Max')}
          <label className="check">
            <input
              type="checkbox"
              aria-label={label('integer')}
              checked={o.integer === true}
              onChange={(e) => setOpt({ integer: e.target.checked })}
            />
            <span aria-hidden="true">whole numbers only</span>
          </label>
        </div>
      )
    case 'date':
      return (
        <div className="cl-opts">
          {(['min', 'max'] as const).map((k) => (
            <label key={k} className="cl-opt">
              <span>{k === 'min' ? 'Earliest' : 'Latest'}</span>
              <input
                type="text"
                className="mono"
                placeholder="2026-01-01T00:00:00Z"
                aria-label={label(k === 'min' ? 'earliest date' : 'latest date')}
                value={typeof o[k] === 'string' ? (o[k] as string) : ''}
                onChange={(e) => setOpt({ [k]: e.target.value || undefined })}
              />
            </label>
          ))}
        </div>
      )
    case 'select':
      return (
        <div className="cl-opts">
          <label className="cl-opt grow">
            <span>Values (comma-separated)</span>
            <input
              type="text"
              aria-label={label('values')}
              placeholder="draft, published, archived"
              value={(o.values ?? []).join(',')}
              onChange={(e) => setOpt({ values: e.target.value === '' ? [] : e.target.value.split(',') })}
            />
          </label>
          {multiple}
        </div>
      )
    case 'relation': {
      const names = [
        ...new Set([
          ...(collections.data ?? []).map((c) => c.name),
          ...(props.selfName ? [props.selfName] : []),
        ]),
      ].sort()
      return (
        <div className="cl-opts">
          <label className="cl-opt">
            <span>Collection</span>
            <select
              aria-label={label('collection')}
              value={o.collection ?? ''}
              onChange={(e) => setOpt({ collection: e.target.value || undefined })}
            >
              <option value="">Choose…</option>
              {names.map((n) => (
                <option key={n} value={n}>
                  {n}
                  {n === props.selfName ? ' (this collection)' : ''}
                </option>
              ))}
            </select>
          </label>
          <label className="cl-opt">
            <span>On delete of the target</span>
            <select
              aria-label={label('on delete')}
              value={o.onDelete ?? ''}
              onChange={(e) =>
                setOpt({ onDelete: (e.target.value || undefined) as FieldOptions['onDelete'] })
              }
            >
              <option value="">Default ({f.required && !o.multiple ? 'restrict' : 'set null'})</option>
              {ON_DELETE.map((d) => (
                <option key={d} value={d}>
                  {ON_DELETE_LABELS[d]}
                </option>
              ))}
            </select>
          </label>
          {multiple}
        </div>
      )
    }
    case 'file':
      return (
        <div className="cl-opts">
          <label className="cl-opt">
            <span>Bucket</span>
            <select
              aria-label={label('bucket')}
              value={o.bucket ?? ''}
              onChange={(e) => setOpt({ bucket: e.target.value || undefined })}
            >
              <option value="">Choose…</option>
              {(buckets.data ?? []).map((b) => (
                <option key={b.id} value={b.name}>
                  {b.name}
                </option>
              ))}
            </select>
          </label>
          {buckets.data && buckets.data.length === 0 ? (
            <span className="muted">
              No bucket yet: <Link to="/files">create one in Files</Link>.
            </span>
          ) : null}
          {multiple}
        </div>
      )
    default:
      return null
  }
}
