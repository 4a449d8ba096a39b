import type { BucketApi } from '@bastide/sdk'
import { useRef, useState } from 'react'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { percent } from './size.ts'

/** Keys deleted per request batch: progress moves after each. */
const BATCH = 8

/**
 * Deletes chosen objects, or everything under a folder (prefix), after confirmation, with progress. A folder
 * asks for its name to be typed; what was deleted before a failure stays deleted, and the failure is shown.
 */
export function DeleteObjectsDialog(props: {
  api: BucketApi
  target: { readonly keys: readonly string[] } | { readonly prefix: string }
  onClose: () => void
  onDeleted: () => void
}) {
  const { api, target } = props
  const isFolder = 'prefix' in target
  const folderName = isFolder ? target.prefix.replace(/\/$/, '') : ''
  const [typed, setTyped] = useState('')
  const [state, setState] = useState<{ done: number; total: number | undefined } | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [finished, setFinished] = useState<{ removed: number; missing: number } | null>(null)
  const stop = useRef(new AbortController())
  const ready = !isFolder || typed === folderName
  const count = isFolder ? undefined : target.keys.length

  const run = async () => {
    setError(null)
    let removed = 0
    let missing = 0
    const total = count
    setState({ done: 0, total })
    try {
      const batches: AsyncIterable<string[]> | Iterable<string[]> = isFolder
        ? folderBatches(api, target.prefix, stop.current.signal)
        : chunk(target.keys, BATCH)
      for await (const keys of batches) {
        if (stop.current.signal.aborted) break
        const r = await api.remove(keys, { signal: stop.current.signal })
        removed += r.removed.length
        missing += r.notFound.length
        setState({ done: removed + missing, total })
      }
      setFinished({ removed, missing })
      props.onDeleted()
    } catch (e) {
      setError(e)
      props.onDeleted()
    }
  }

  const running = state !== null && finished === null && error === null
  const title = isFolder
    ? `Delete folder “${folderName}/”?`
    : count === 1
      ? `Delete “${target.keys[0]}”?`
      : `Delete ${count} objects?`
  return (
    <Dialog
      title={title}
      onClose={() => {
        stop.current.abort()
        props.onClose()
      }}
      footer={
        finished ? (
          <button type="button" className="btn primary" onClick={props.onClose}>
            Done
          </button>
        ) : (
          <>
            <button
              type="button"
              className="btn"
              onClick={() => {
                stop.current.abort()
                props.onClose()
              }}
            >
              {running ? 'Stop' : 'Cancel'}
            </button>
            <button
              type="button"
              className="btn danger"
              disabled={!ready || running}
              onClick={() => void run()}
            >
              {running
                ? 'Deleting…'
                : isFolder
                  ? 'Delete folder'
                  : count === 1
                    ? 'Delete object'
                    : `Delete ${count} objects`}
            </button>
          </>
        )
      }
    >
      <div className="stack">
        {isFolder ? (
          <p>
            Every object whose key starts with <code>{target.prefix}</code> is deleted, on every page.
          </p>
        ) : count !== undefined && count > 1 ? (
          <ul className="mono files-delete-list">
            {target.keys.slice(0, 20).map((k) => (
              <li key={k}>{k}</li>
            ))}
            {count > 20 ? <li className="muted">and {count - 20} more</li> : null}
          </ul>
        ) : null}
        <p>The bytes are deleted too. This cannot be undone.</p>
        {isFolder && !state ? (
          <TextField
            label={`Type “${folderName}” to confirm`}
            value={typed}
            onChange={setTyped}
            autoComplete="off"
          />
        ) : null}
        {state ? (
          <div className="stack">
            <div
              className="progress"
              role="progressbar"
              aria-label="Deleting"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={state.total === undefined ? undefined : percent(state.done, state.total)}
              aria-valuetext={`${state.done} deleted`}
            >
              <div
                style={{
                  width: `${state.total === undefined ? (finished ? 100 : 50) : percent(state.done, state.total)}%`,
                }}
              />
            </div>
            <span className="muted" role="status">
              {finished
                ? `Deleted ${finished.removed} object${finished.removed === 1 ? '' : 's'}${
                    finished.missing ? ` (${finished.missing} already gone)` : ''
                  }.`
                : `${state.done}${state.total !== undefined ? ` of ${state.total}` : ''} deleted…`}
            </span>
          </div>
        ) : null}
        <ErrorNote error={error} />
      </div>
    </Dialog>
  )
}

function* chunk<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size)
}

/**
 * Batches of the keys under `prefix`. Always lists the first page again: what was just deleted is gone, so
 * the next batch is what remains (no cursor can point at a deleted key).
 */
async function* folderBatches(api: BucketApi, prefix: string, signal: AbortSignal): AsyncGenerator<string[]> {
  let lastFirst: string | undefined
  for (;;) {
    const page = await api.list({ prefix, limit: BATCH * 4, signal })
    const keys = page.items.map((o) => o.key)
    if (keys.length === 0) return
    // Objects the admin cannot delete would come back forever: stop rather than loop.
    if (keys[0] === lastFirst) return
    lastFirst = keys[0]
    yield keys
  }
}
