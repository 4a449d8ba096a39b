import { type ReactNode, useId } from 'react'

/**
 * A labelled control: the label wraps the control, so it is named for screen readers and clicking the label
 * focuses it. `hint` is tied to the control with aria-describedby.
 */
export function Field(props: {
  label: string
  hint?: ReactNode
  children: (ids: { id: string; describedBy: string | undefined }) => ReactNode
}) {
  const id = useId()
  const hintId = `${id}-hint`
  return (
    <div className="field">
      <label htmlFor={id}>
        <span>{props.label}</span>
      </label>
      {props.children({ id, describedBy: props.hint ? hintId : undefined })}
      {props.hint ? (
        <span id={hintId} className="hint">
          {props.hint}
        </span>
      ) : null}
    </div>
  )
}

/** A labelled text input. */
export function TextField(
  props: {
    label: string
    hint?: ReactNode
    value: string
    onChange: (value: string) => void
  } & Omit<React.InputHTMLAttributes<HTMLInputElement>, 'value' | 'onChange'>,
) {
  const { label, hint, value, onChange, ...rest } = props
  return (
    <Field label={label} hint={hint}>
      {({ id, describedBy }) => (
        <input
          type="text"
          {...rest}
          id={id}
          aria-describedby={describedBy}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </Field>
  )
}
