import { TextField } from '../../components/ui/Field.tsx'
import type { Draft, DraftField } from './draft.ts'
import { FieldsEditor } from './FieldsEditor.tsx'
import { IndexesEditor } from './IndexesEditor.tsx'

/** Name, fields and indexes of a draft (new collection or existing one). */
export function SchemaForm(props: {
  draft: Draft
  onChange: (d: Draft) => void
  isNew: boolean
  system?: boolean
  saved?: ReadonlyMap<string, DraftField>
  savedName?: string
}) {
  const { draft, onChange } = props
  const renamed = props.savedName !== undefined && props.savedName !== draft.name
  return (
    <div className="stack">
      <section className="panel" aria-labelledby="cl-name-h">
        <h2 id="cl-name-h">Name</h2>
        <TextField
          label="Collection name"
          value={draft.name}
          onChange={(name) => onChange({ ...draft, name })}
          disabled={props.system}
          required
          className="mono"
          autoComplete="off"
          hint={
            props.system
              ? 'A built-in collection keeps its name.'
              : renamed
                ? `Renames ${props.savedName} (its table, records and API path) when saved.`
                : 'Letters, digits and underscores, starting with a letter. It names the table and the API path.'
          }
        />
      </section>
      <section className="panel" aria-labelledby="cl-fields-h">
        <h2 id="cl-fields-h">Fields</h2>
        <p className="muted">
          Every record also has <code>id</code>, <code>created</code>, <code>updated</code> and{' '}
          <code>version</code>.
        </p>
        <FieldsEditor
          fields={draft.fields}
          onChange={(fields) => onChange({ ...draft, fields })}
          selfName={draft.name.trim()}
          {...(props.saved ? { saved: props.saved } : {})}
        />
      </section>
      <section className="panel" aria-labelledby="cl-indexes-h">
        <h2 id="cl-indexes-h">Indexes</h2>
        <IndexesEditor
          indexes={draft.indexes}
          fields={draft.fields}
          onChange={(indexes) => onChange({ ...draft, indexes })}
        />
      </section>
    </div>
  )
}
