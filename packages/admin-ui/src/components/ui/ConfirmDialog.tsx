import { type ReactNode, useState } from 'react'
import { Dialog } from './Dialog.tsx'
import { ErrorNote } from './ErrorNote.tsx'
import { TextField } from './Field.tsx'

/**
 * Asks before something that cannot be undone. With `typeToConfirm`, the button stays disabled until that exact
 * text is typed (deleting a collection, a bucket). Shows the server's error when the action fails.
 */
export function ConfirmDialog(props: {
  title: string
  children?: ReactNode
  confirmLabel: string
  typeToConfirm?: string
  danger?: boolean
  onConfirm: () => Promise<unknown>
  onClose: () => void
}) {
  const [typed, setTyped] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const ready = props.typeToConfirm === undefined || typed === props.typeToConfirm
  return (
    <Dialog
      title={props.title}
      onClose={props.onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={props.onClose}>
            Cancel
          </button>
          <button
            type="button"
            className={props.danger ? 'btn danger' : 'btn primary'}
            disabled={!ready || busy}
            onClick={async () => {
              setBusy(true)
              setError(null)
              try {
                await props.onConfirm()
                props.onClose()
              } catch (e) {
                setError(e)
              } finally {
                setBusy(false)
              }
            }}
          >
            {busy ? 'Working…' : props.confirmLabel}
          </button>
        </>
      }
    >
      <div className="stack">
        {props.children}
        {props.typeToConfirm !== undefined ? (
          <TextField
            label={`Type “${props.typeToConfirm}” to confirm`}
            value={typed}
            onChange={setTyped}
            autoComplete="off"
          />
        ) : null}
        <ErrorNote error={error} />
      </div>
    </Dialog>
  )
}
