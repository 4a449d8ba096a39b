import type { CollectionSchema } from '@bastide/sdk'
import { useId, useRef, useState } from 'react'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { useClient } from '../../lib/client.tsx'
import { defaultMapping, type ImportTable, readImport, rowToRecord } from './import-data.ts'
import { cellText, fieldsOf } from './values.ts'

const CHUNK = 100

interface RowError {
  readonly row: number
  readonly message: string
}

/**
 * Import CSV or JSON: read the file, preview it, map its columns to fields, then create the records in
 * batches of 100 (one transaction each) with progress. A batch the server refuses is retried row by row, so
 * every other row lands and each refused row is reported with the server's message.
 */
export function ImportDialog(props: {
  collection: CollectionSchema
  onClose: () => void
  onDone: () => void
}) {
  const client = useClient()
  const { collection } = props
  const fileId = useId()
  const [table, setTable] = useState<ImportTable | null>(null)
  const [fileName, setFileName] = useState('')
  const [mapping, setMapping] = useState<(string | null)[]>([])
  const [readError, setReadError] = useState<unknown>(null)
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null)
  const [result, setResult] = useState<{ created: number; errors: RowError[] } | null>(null)
  const cancel = useRef(false)
  const targets = [
    'id',
    ...fieldsOf(collection)
      .filter((f) => !f.system)
      .map((f) => f.name),
  ]

  const load = async (file: File) => {
    setReadError(null)
    setResult(null)
    try {
      const t = readImport(file.name, await file.text())
      setTable(t)
      setFileName(file.name)
      setMapping(defaultMapping(t.columns, collection))
    } catch (e) {
      setTable(null)
      setReadError(e)
    }
  }

  const run = async () => {
    if (!table) return
    cancel.current = false
    const errors: RowError[] = []
    let created = 0
    setProgress({ done: 0, total: table.rows.length })
    const coll = client.collection(collection.name)
    for (let start = 0; start < table.rows.length && !cancel.current; start += CHUNK) {
      const chunk: { row: number; data: Record<string, unknown> }[] = []
      table.rows.slice(start, start + CHUNK).forEach((r, i) => {
        const out = rowToRecord(table, r, mapping, collection)
        if ('problem' in out) errors.push({ row: start + i + 1, message: out.problem })
        else chunk.push({ row: start + i + 1, data: out.data })
      })
      try {
        await client.batch((b) => {
          for (const c of chunk) b.collection(collection.name).create(c.data)
        })
        created += chunk.length
      } catch {
        // One bad row fails its whole batch: find it (and any other) row by row.
        for (const c of chunk) {
          try {
            await coll.create(c.data as never)
            created++
          } catch (e) {
            errors.push({ row: c.row, message: describe(e) })
          }
        }
      }
      setProgress({ done: Math.min(table.rows.length, start + CHUNK), total: table.rows.length })
    }
    errors.sort((a, b) => a.row - b.row)
    setResult({ created, errors })
    setProgress(null)
    props.onDone()
  }

  const mapped = mapping.filter(Boolean).length
  return (
    <Dialog title={`Import into ${collection.name}`} wide onClose={props.onClose}>
      <div className="stack">
        <div className="field">
          <label htmlFor={fileId}>
            <span>CSV or JSON file</span>
          </label>
          <input
            id={fileId}
            type="file"
            accept=".csv,.json,text/csv,application/json"
            disabled={progress !== null}
            onChange={(e) => {
              const file = e.target.files?.[0]
              if (file) void load(file)
            }}
          />
          <span className="hint">
            CSV with a header line, or a JSON array of objects (what Export writes). Columns map to fields by
            name.
          </span>
        </div>
        <ErrorNote error={readError} />
        {table ? (
          <>
            <p>
              <strong>{fileName}</strong>: {table.rows.length} row{table.rows.length === 1 ? '' : 's'},{' '}
              {table.columns.length} columns, {mapped} mapped.
            </p>
            <div className="records-preview">
              <table className="table">
                <caption className="sr-only">Column mapping and the first rows</caption>
                <thead>
                  <tr>
                    {table.columns.map((c, i) => (
                      // biome-ignore lint/suspicious/noArrayIndexKey: columns are positional (names may repeat)
                      <th key={`${c}-${i}`} scope="col">
                        <div className="stack">
                          <span className="mono">{c}</span>
                          <select
                            aria-label={`Field for column ${c}`}
                            value={mapping[i] ?? ''}
                            disabled={progress !== null}
                            onChange={(e) =>
                              setMapping((m) => m.map((x, j) => (j === i ? e.target.value || null : x)))
                            }
                          >
                            <option value="">Skip</option>
                            {targets.map((t) => (
                              <option key={t} value={t}>
                                {t}
                              </option>
                            ))}
                          </select>
                        </div>
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {table.rows.slice(0, 5).map((r, i) => (
                    // biome-ignore lint/suspicious/noArrayIndexKey: preview rows have no identity
                    <tr key={i}>
                      {table.columns.map((c, j) => (
                        // biome-ignore lint/suspicious/noArrayIndexKey: columns are positional (names may repeat)
                        <td key={`${c}-${j}`} className={mapping[j] ? 'records-clip' : 'records-clip muted'}>
                          {cellText(r[j])}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : null}
        {progress ? (
          <div className="stack" role="status">
            <span>
              Importing… {progress.done} of {progress.total}
            </span>
            <progress aria-label="Import progress" max={progress.total || 1} value={progress.done} />
          </div>
        ) : null}
        {result ? (
          <div className="stack" role="status">
            <p className={result.errors.length ? 'warn-note' : 'ok-note'}>
              Imported {result.created} of {result.created + result.errors.length} rows
              {result.errors.length ? `; ${result.errors.length} refused` : ''}.
            </p>
            {result.errors.length ? (
              <table className="table">
                <caption className="sr-only">Rows the server refused</caption>
                <thead>
                  <tr>
                    <th scope="col">Row</th>
                    <th scope="col">Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {result.errors.slice(0, 100).map((e) => (
                    <tr key={e.row}>
                      <td>{e.row}</td>
                      <td>{e.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </div>
        ) : null}
        <div className="row">
          <button
            type="button"
            className="btn primary"
            disabled={!table || mapped === 0 || progress !== null || table.rows.length === 0}
            onClick={() => void run()}
          >
            Import {table ? `${table.rows.length} rows` : ''}
          </button>
          {progress ? (
            <button type="button" className="btn" onClick={() => (cancel.current = true)}>
              Stop
            </button>
          ) : (
            <button type="button" className="btn" onClick={props.onClose}>
              {result ? 'Done' : 'Cancel'}
            </button>
          )}
        </div>
      </div>
    </Dialog>
  )
}

/** The server's message for a refused row, with its field problems. */
function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  const fields = (e as { details?: { fields?: Record<string, unknown> } })?.details?.fields
  if (!fields) return msg
  return `${msg} ${Object.entries(fields)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('; ')}`
}
