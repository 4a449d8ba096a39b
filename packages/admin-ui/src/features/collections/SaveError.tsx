import { BastideError } from '@bastide/sdk'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import type { Draft } from './draft.ts'

interface Issue {
  path: string
  message: string
}

/** `fields.2.options.bucket` → `Field “cover” (options.bucket)`, so a problem is named as the editor shows it. */
export function issuePlace(path: string, draft?: Draft): string {
  const m = /^fields\.(\d+)(?:\.(.+))?$/.exec(path)
  if (m) {
    const f = draft?.fields[Number(m[1])]
    const name = f?.name ? `“${f.name}”` : `#${Number(m[1]) + 1}`
    return `Field ${name}${m[2] ? ` (${m[2]})` : ''}`
  }
  const ix = /^indexes\.(\d+)/.exec(path)
  if (ix) return `Index ${Number(ix[1]) + 1}`
  const r = /^rules\.(\w+)$/.exec(path)
  if (r) return `The ${r[1]} rule`
  return path || 'Collection'
}

/**
 * A failed save in the server's words, with what its details mean: a 409 on a retype says the existing records
 * cannot take the new definition (and what PostgreSQL said), schema problems are listed per field.
 */
export function SaveError(props: { error: unknown; draft?: Draft }) {
  const e = props.error
  if (e == null) return null
  if (!(e instanceof BastideError)) return <ErrorNote error={e} />
  const d = (e.details ?? {}) as {
    issues?: Issue[]
    reason?: string
    referencedBy?: string[]
    brokenRules?: { collection: string; rule: string; problem: string }[]
  }
  return (
    <div className="stack cl-save-error">
      <ErrorNote error={e} />
      {Array.isArray(d.issues) && d.issues.length > 0 ? (
        <ul className="cl-issues">
          {d.issues.map((i) => (
            <li key={`${i.path}:${i.message}`}>
              <strong>{issuePlace(i.path, props.draft)}</strong>: {i.message}
            </li>
          ))}
        </ul>
      ) : null}
      {e.code === 'CONFLICT' && typeof d.reason === 'string' ? (
        <div className="warn-note">
          <p>
            <strong>Why:</strong> records already in this collection hold values the new definition does not
            accept (a type they cannot be converted to, an empty value in a field made required, duplicates in
            a field made unique). Nothing was changed.
          </p>
          <p>Fix or clear those values in the data first, or add a new field and copy the values over.</p>
          <p className="mono cl-reason">PostgreSQL: {d.reason}</p>
        </div>
      ) : null}
      {Array.isArray(d.referencedBy) && d.referencedBy.length > 0 ? (
        <p className="warn-note">
          Related from: {d.referencedBy.join(', ')}. Remove those relation fields first.
        </p>
      ) : null}
      {Array.isArray(d.brokenRules) && d.brokenRules.length > 0 ? (
        <ul className="cl-issues">
          {d.brokenRules.map((b) => (
            <li key={`${b.collection}.${b.rule}`}>
              <strong>
                {b.collection} · {b.rule} rule
              </strong>
              : {b.problem}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}
