import type { ReactNode } from 'react'
import { Field } from './Field.tsx'

/**
 * A secret the server shows once (a new API key, a webhook's signing secret, an impersonation token): the warning
 * (`children`), the value in a read-only field that selects itself on focus, and a copy button.
 */
export function SecretOnce(props: { label: string; value: string; children: ReactNode }) {
  return (
    <div className="stack">
      <p className="warn-note">{props.children}</p>
      <Field label={props.label}>
        {({ id }) => (
          <input
            id={id}
            type="text"
            readOnly
            value={props.value}
            className="mono"
            onFocus={(e) => e.target.select()}
          />
        )}
      </Field>
      <button type="button" className="btn" onClick={() => void navigator.clipboard?.writeText(props.value)}>
        Copy to clipboard
      </button>
    </div>
  )
}
