import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { Dialog } from '../../components/ui/Dialog.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { type FunctionDetail, type FunctionVersion, functionsApi, functionsKey } from './api.ts'
import { CodeEditor } from './CodeEditor.tsx'

/** Every deployed version, newest first: its source, and a rollback (that version active again). */
export function VersionsPanel(props: {
  fn: FunctionDetail
  onEdit: (from: { source: string; version: number }) => void
}) {
  const { fn } = props
  const client = useClient()
  const queryClient = useQueryClient()
  const [viewing, setViewing] = useState<number | null>(null)
  const [rollingBack, setRollingBack] = useState<FunctionVersion | null>(null)
  const rollback = useMutation({
    mutationFn: (version: number) => functionsApi(client).rollback(fn.name, version),
    onSuccess: (detail) => {
      queryClient.setQueryData([...functionsKey, fn.name], detail)
      void queryClient.invalidateQueries({ queryKey: functionsKey, exact: true })
    },
  })
  const versions = [...fn.versions].sort((a, b) => b.version - a.version)
  return (
    <div className="stack">
      {rollback.isSuccess ? (
        <p className="ok-note" role="status">
          Rolled back: v{rollback.data.version} is active.
        </p>
      ) : null}
      <DataTable
        label="Versions"
        columns={['Version', 'Deployed', 'By', 'Checksum', 'State', { hidden: 'Actions' }]}
      >
        {versions.map((v) => (
          <tr key={v.version} data-active={v.active}>
            <td>v{v.version}</td>
            <td>
              <time dateTime={v.createdAt}>{formatTime(v.createdAt)}</time>
            </td>
            <td className="mono">{v.createdBy}</td>
            <td className="mono" title={v.checksum}>
              {v.checksum.slice(0, 12)}
            </td>
            <td>{v.active ? <span className="badge ok">active</span> : null}</td>
            <td>
              <div className="row">
                <button type="button" className="btn small" onClick={() => setViewing(v.version)}>
                  View v{v.version}
                </button>
                {v.active ? null : (
                  <button type="button" className="btn small" onClick={() => setRollingBack(v)}>
                    Roll back to v{v.version}
                  </button>
                )}
              </div>
            </td>
          </tr>
        ))}
      </DataTable>
      {viewing !== null ? (
        <VersionDialog
          name={fn.name}
          version={viewing}
          onClose={() => setViewing(null)}
          onEdit={(from) => {
            setViewing(null)
            props.onEdit(from)
          }}
        />
      ) : null}
      {rollingBack ? (
        <ConfirmDialog
          title={`Roll ${fn.name} back to v${rollingBack.version}?`}
          confirmLabel={`Roll back to v${rollingBack.version}`}
          onConfirm={() => rollback.mutateAsync(rollingBack.version)}
          onClose={() => setRollingBack(null)}
        >
          <p>
            v{rollingBack.version} (deployed {formatTime(rollingBack.createdAt)}) becomes the active version
            at once, for every trigger; v{fn.version} stays in the list and can be made active again.
          </p>
        </ConfirmDialog>
      ) : null}
    </div>
  )
}

function VersionDialog(props: {
  name: string
  version: number
  onClose: () => void
  onEdit: (from: { source: string; version: number }) => void
}) {
  const client = useClient()
  const q = useQuery({
    queryKey: [...functionsKey, props.name, 'versions', props.version],
    queryFn: ({ signal }) => functionsApi(client).version(props.name, props.version, { signal }),
    staleTime: Number.POSITIVE_INFINITY,
  })
  return (
    <Dialog
      wide
      title={`${props.name} v${props.version}`}
      onClose={props.onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={props.onClose}>
            Close
          </button>
          <button
            type="button"
            className="btn primary"
            disabled={!q.data}
            onClick={() => q.data && props.onEdit({ source: q.data.source, version: props.version })}
          >
            Edit from this version
          </button>
        </>
      }
    >
      <ErrorNote error={q.error} />
      {q.isPending ? (
        <Loading />
      ) : q.data ? (
        <CodeEditor
          label={`Source of ${props.name} v${props.version}`}
          value={q.data.source}
          onChange={() => {}}
          readOnly
        />
      ) : null}
    </Dialog>
  )
}
