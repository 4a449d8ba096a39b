import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { formatBytes } from '../../lib/format.ts'
import { percent } from './size.ts'
import type { UploadItem, useUploads } from './use-uploads.ts'

const STATUS_TEXT: Record<UploadItem['status'], string> = {
  uploading: 'uploading',
  paused: 'paused',
  done: 'done',
  failed: 'failed',
  canceled: 'canceled',
}

/** Each upload with its progress bar and what can be done with it (pause, resume, retry, cancel). */
export function UploadsPanel(props: { uploads: ReturnType<typeof useUploads>; bucket: string }) {
  const { items, pause, resume, cancel, clearFinished } = props.uploads
  if (items.length === 0) return null
  const finished = items.some((u) => u.status !== 'uploading' && u.status !== 'paused')
  return (
    <section className="panel files-uploads" aria-label="Uploads">
      <div className="row">
        <h2 className="grow">Uploads</h2>
        {finished ? (
          <button type="button" className="btn small" onClick={clearFinished}>
            Clear finished
          </button>
        ) : null}
      </div>
      <ul className="files-upload-list">
        {items.map((u) => {
          const pct = percent(u.loaded, u.size)
          return (
            <li key={u.id} className={`files-upload ${u.status}`}>
              <div className="row">
                <span className="mono grow files-upload-key">
                  {u.bucket === props.bucket ? u.key : `${u.bucket}/${u.key}`}
                </span>
                {u.resumable ? <span className="badge">resumable</span> : null}
                {u.object && u.object.version > 1 ? (
                  <span className="badge" title={`now version ${u.object.version}`}>
                    replaced
                  </span>
                ) : null}
                <span className="muted files-nowrap">
                  {formatBytes(u.loaded)} / {formatBytes(u.size)}
                </span>
                <span
                  className={`badge${u.status === 'done' ? ' ok' : u.status === 'failed' ? ' danger' : ''}`}
                >
                  {STATUS_TEXT[u.status]}
                </span>
                {u.status === 'uploading' && u.resumable ? (
                  <button type="button" className="btn small" onClick={() => pause(u.id)}>
                    Pause<span className="sr-only"> {u.key}</span>
                  </button>
                ) : null}
                {u.status === 'paused' ? (
                  <button type="button" className="btn small" onClick={() => resume(u.id)}>
                    Resume<span className="sr-only"> {u.key}</span>
                  </button>
                ) : null}
                {u.status === 'failed' ? (
                  <button type="button" className="btn small" onClick={() => resume(u.id)}>
                    Retry<span className="sr-only"> {u.key}</span>
                  </button>
                ) : null}
                {u.status === 'uploading' || u.status === 'paused' || u.status === 'failed' ? (
                  <button type="button" className="btn small" onClick={() => void cancel(u.id)}>
                    Cancel<span className="sr-only"> {u.key}</span>
                  </button>
                ) : null}
              </div>
              <div
                className="progress"
                role="progressbar"
                aria-label={`Upload of ${u.key}`}
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={pct}
              >
                <div style={{ width: `${pct}%` }} />
              </div>
              {u.note && u.status !== 'done' ? (
                <span className="muted files-upload-note">{u.note}</span>
              ) : null}
              {u.status === 'failed' ? (
                <ErrorNote error={u.error} title={`Upload of ${u.key} failed`} />
              ) : null}
            </li>
          )
        })}
      </ul>
    </section>
  )
}
