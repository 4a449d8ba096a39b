import { type DraftField, type DraftIndex, localKey } from './draft.ts'

const SYSTEM_COLUMNS = ['id', 'created', 'updated'] as const

/**
 * Indexes: each one picks fields (in the order ticked) and may be unique. Fields are held by key, so a field
 * renamed in the same edit stays indexed. Multiple relations live in a join table and cannot be indexed.
 */
export function IndexesEditor(props: {
  indexes: readonly DraftIndex[]
  fields: readonly DraftField[]
  onChange: (indexes: DraftIndex[]) => void
}) {
  const { indexes, onChange } = props
  const choices = [
    ...props.fields
      .filter((f) => f.name.trim() !== '' && !(f.type === 'relation' && f.options.multiple))
      .map((f) => ({ key: f.key, name: f.name })),
    ...SYSTEM_COLUMNS.map((c) => ({ key: `=${c}`, name: c })),
  ]
  const set = (i: number, ix: DraftIndex) => onChange(indexes.map((x, j) => (j === i ? ix : x)))
  return (
    <div className="stack">
      {indexes.length === 0 ? <p className="muted">No index. Unique fields get one of their own.</p> : null}
      {indexes.map((ix, i) => {
        const n = i + 1
        // A changed index is a new one: the server names it again.
        const edit = (next: Omit<DraftIndex, 'key'>) =>
          set(i, { key: ix.key, fields: next.fields, unique: next.unique })
        return (
          <fieldset key={ix.key} className="panel cl-index">
            <legend>Index {n}</legend>
            <div className="row">
              {choices.map((c) => {
                const pos = ix.fields.indexOf(c.key)
                return (
                  <label key={c.key} className="check">
                    <input
                      type="checkbox"
                      checked={pos >= 0}
                      onChange={(e) =>
                        edit({
                          fields: e.target.checked
                            ? [...ix.fields, c.key]
                            : ix.fields.filter((k) => k !== c.key),
                          unique: ix.unique,
                        })
                      }
                    />
                    <span className="mono">{c.name}</span>
                    {pos >= 0 && ix.fields.length > 1 ? <span className="badge">{pos + 1}</span> : null}
                  </label>
                )
              })}
            </div>
            <div className="row">
              <label className="check">
                <input
                  type="checkbox"
                  checked={ix.unique}
                  onChange={(e) => edit({ fields: ix.fields, unique: e.target.checked })}
                />
                <span>Unique</span>
              </label>
              <span className="grow" />
              <button
                type="button"
                className="btn small danger"
                onClick={() => onChange(indexes.filter((_, j) => j !== i))}
              >
                Remove index {n}
              </button>
            </div>
          </fieldset>
        )
      })}
      <div className="row">
        <button
          type="button"
          className="btn"
          onClick={() => onChange([...indexes, { key: localKey('i'), fields: [], unique: false }])}
        >
          Add index
        </button>
      </div>
    </div>
  )
}
