import { Field } from '../../components/ui/Field.tsx'

/** A signing secret, just created or rotated: the only time it is shown. */
export function SecretShown(props: { secret: string }) {
  return (
    <div className="stack">
      <p className="warn-note">
        Copy the signing secret now: it is shown this once. Receivers verify the{' '}
        <code>Bastide-Signature</code> header with it (HMAC-SHA256 of <code>t.body</code>, see
        docs/webhooks.md).
      </p>
      <Field label="Signing secret">
        {({ id }) => (
          <input
            id={id}
            type="text"
            readOnly
            value={props.secret}
            className="mono"
            onFocus={(e) => e.target.select()}
          />
        )}
      </Field>
      <button type="button" className="btn" onClick={() => void navigator.clipboard?.writeText(props.secret)}>
        Copy to clipboard
      </button>
    </div>
  )
}
