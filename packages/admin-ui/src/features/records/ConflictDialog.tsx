import { useState } from 'react'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { cellText, type Rec } from './values.ts'

/** A write refused with VERSION_MISMATCH: what you sent, over which version, and what the server holds now. */
export interface Conflict {
  readonly base: Rec
  readonly mine: Readonly<Record<string, unknown>>
  readonly server: Rec
  /** Sends `mine` again over the server's version. */
  readonly retry: (version: number) => Promise<Rec>
}

/**
 * Shows both versions side by side (the fields you changed and those someone else changed meanwhile) and lets
 * the user keep theirs (written over the server's version) or take the server's.
 */
export function ConflictDialog(props: {
  conflict: Conflict
  onResolved: (rec: Rec) => void
  onClose: () => void
}) {
  const { base, mine, server } = props.conflict
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const fields = [
    ...new Set([
      ...Object.keys(mine),
      ...Object.keys(server).filter(
        (k) =>
          !['expand', 'updated', 'version'].includes(k) &&
          JSON.stringify(server[k]) !== JSON.stringify(base[k]),
      ),
    ]),
  ]
  return (
    <Dialog
      title="This record changed while you edited it"
      wide
      onClose={props.onClose}
      footer={
        <>
          <button
            type="button"
            className="btn"
            disabled={busy}
            onClick={() => {
              props.onResolved(server)
              props.onClose()
            }}
          >
            Take the server’s version
          </button>
          <button
            type="button"
            className="btn primary"
            disabled={busy}
            onClick={async () => {
              setBusy(true)
              setError(null)
              try {
                props.onResolved(await props.conflict.retry(server.version))
                props.onClose()
              } catch (e) {
                setError(e)
              } finally {
                setBusy(false)
              }
            }}
          >
            {busy ? 'Saving…' : 'Keep mine'}
          </button>
        </>
      }
    >
      <div className="stack">
        <p className="warn-note">
          You edited version {base.version}; the server now holds version {server.version}. Keep yours
          (written over version {server.version}) or take the server’s.
        </p>
        <table className="table records-conflict">
          <caption className="sr-only">Your version and the server’s, field by field</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Yours</th>
              <th scope="col">Server’s (version {server.version})</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((k) => (
              <tr key={k}>
                <th scope="row" className="mono">
                  {k}
                </th>
                <td className="records-wrap" data-testid={`mine-${k}`}>
                  {cellText(k in mine ? mine[k] : base[k])}
                </td>
                <td className="records-wrap" data-testid={`server-${k}`}>
                  {cellText(server[k])}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <ErrorNote error={error} />
      </div>
    </Dialog>
  )
}
