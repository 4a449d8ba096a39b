import type { SignedUrl, StorageObject } from '@bastide/sdk'
import { useMutation } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatBytes, formatTime } from '../../lib/format.ts'
import { isPreviewableImage } from './mime.ts'
import { ObjectImage } from './ObjectImage.tsx'

const EXPIRIES = [
  { seconds: 300, label: '5 minutes' },
  { seconds: 3600, label: '1 hour' },
  { seconds: 86_400, label: '1 day' },
  { seconds: 604_800, label: '7 days' },
] as const

/** One object: its image, description (type, size, ETag, owner, metadata), download and a signed URL. */
export function ObjectDialog(props: { object: StorageObject; onClose: () => void }) {
  const client = useClient()
  const { object } = props
  const download = useMutation({
    mutationFn: async () => {
      const blob = await client.storage.from(object.bucket).download(object.key)
      const url = URL.createObjectURL(blob)
      const a = document.createElement('a')
      a.href = url
      a.download = object.key.split('/').pop() ?? 'download'
      a.click()
      setTimeout(() => URL.revokeObjectURL(url), 10_000)
    },
  })
  return (
    <Dialog title={object.key} onClose={props.onClose} wide>
      <div className="stack">
        {isPreviewableImage(object.mimeType) ? (
          <div className="files-preview">
            <ObjectImage
              object={object}
              transform={{ width: 1200, height: 1200, fit: 'inside' }}
              alt={`Image ${object.key}`}
            />
          </div>
        ) : null}
        <dl className="files-details">
          <dt>Type</dt>
          <dd className="mono">{object.mimeType}</dd>
          <dt>Size</dt>
          <dd>
            {formatBytes(object.size)} <span className="muted">({object.size.toLocaleString()} bytes)</span>
          </dd>
          <dt>ETag</dt>
          <dd className="mono files-break">"{object.sha256}"</dd>
          <dt>Version</dt>
          <dd>{object.version}</dd>
          <dt>Owner</dt>
          <dd className="mono">
            {object.owner ?? <span className="muted">none (uploaded by an admin or a key)</span>}
          </dd>
          <dt>Created</dt>
          <dd>{formatTime(object.created)}</dd>
          <dt>Updated</dt>
          <dd>{formatTime(object.updated)}</dd>
          <dt>Metadata</dt>
          <dd>
            {Object.keys(object.metadata).length === 0 ? (
              <span className="muted">none</span>
            ) : (
              <pre>{JSON.stringify(object.metadata, null, 2)}</pre>
            )}
          </dd>
        </dl>
        <div className="row">
          <button
            type="button"
            className="btn"
            disabled={download.isPending}
            onClick={() => download.mutate()}
          >
            {download.isPending ? 'Downloading…' : 'Download'}
          </button>
        </div>
        <ErrorNote error={download.error} />
        <SignedUrlSection object={object} />
      </div>
    </Dialog>
  )
}

function SignedUrlSection(props: { object: StorageObject }) {
  const client = useClient()
  const id = useId()
  const [expiresIn, setExpiresIn] = useState(3600)
  const [copied, setCopied] = useState(false)
  const sign = useMutation({
    mutationFn: (): Promise<SignedUrl> =>
      client.storage.from(props.object.bucket).createSignedUrl(props.object.key, { expiresIn }),
    onSuccess: async (s) => {
      setCopied(false)
      try {
        await navigator.clipboard.writeText(s.url)
        setCopied(true)
      } catch {
        // No clipboard permission: the URL stays selectable in the field.
      }
    },
  })
  return (
    <fieldset className="stack files-fieldset">
      <legend>Signed URL</legend>
      <p className="muted">A link anyone can open without signing in, until it expires.</p>
      <div className="row">
        <label htmlFor={`${id}-exp`}>Expires in</label>
        <select id={`${id}-exp`} value={expiresIn} onChange={(e) => setExpiresIn(Number(e.target.value))}>
          {EXPIRIES.map((x) => (
            <option key={x.seconds} value={x.seconds}>
              {x.label}
            </option>
          ))}
        </select>
        <button type="button" className="btn primary" disabled={sign.isPending} onClick={() => sign.mutate()}>
          {sign.isPending ? 'Signing…' : 'Create and copy signed URL'}
        </button>
      </div>
      <ErrorNote error={sign.error} />
      {sign.data ? (
        <div className="stack">
          <label htmlFor={`${id}-url`} className="files-label">
            Signed URL
          </label>
          <div className="row">
            <input
              id={`${id}-url`}
              type="text"
              readOnly
              className="mono grow"
              value={sign.data.url}
              onFocus={(e) => e.target.select()}
            />
            <button
              type="button"
              className="btn"
              onClick={() =>
                void navigator.clipboard.writeText(sign.data.url).then(
                  () => setCopied(true),
                  () => setCopied(false),
                )
              }
            >
              Copy
            </button>
          </div>
          <span className="muted" role="status">
            {copied ? 'Copied to the clipboard. ' : ''}Valid until {formatTime(sign.data.expiresAt)}.
          </span>
        </div>
      ) : null}
    </fieldset>
  )
}
