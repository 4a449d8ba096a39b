import { useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { ConfirmDialog } from '../../components/ui/ConfirmDialog.tsx'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { FilterForm, useFilters } from '../../components/ui/FilterForm.tsx'
import { LoadMore, useCursorPages } from '../../components/ui/LoadMore.tsx'
import { Loading, Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { formatTime } from '../../lib/format.ts'
import { type PushDevice, pushApi, pushKey } from './api.ts'
import { PushTabs } from './PushTabs.tsx'
import './push.css'

const PER_PAGE = 50

/** Registered devices (installations): filter by user, see their topics, revoke one. */
export function DevicesPage() {
  const client = useClient()
  const queryClient = useQueryClient()
  const filters = useFilters({ user: '' })
  const user = filters.filters.user.trim()
  const { query, items } = useCursorPages({
    queryKey: [...pushKey, 'devices', user],
    page: (p) =>
      pushApi(client).devices.list({
        limit: p.perPage,
        signal: p.signal,
        ...(p.cursor ? { cursor: p.cursor } : {}),
        ...(user ? { user } : {}),
      }),
    perPage: PER_PAGE,
  })
  const [revoking, setRevoking] = useState<PushDevice | null>(null)
  const [done, setDone] = useState<string | null>(null)
  return (
    <Page title="Push devices" subtitle="installations registered for notifications">
      <PushTabs />
      <FilterForm state={filters} className="panel row">
        <TextField
          label="User id"
          className="mono"
          value={filters.draft.user}
          onChange={filters.set('user')}
          hint="The devices this user registered while signed in."
        />
      </FilterForm>
      {done ? (
        <p className="ok-note" role="status">
          {done}
        </p>
      ) : null}
      <ErrorNote error={query.error} />
      {query.isPending ? (
        <Loading />
      ) : items.length === 0 && !query.error ? (
        <p className="muted">
          {user ? 'No device of this user.' : 'No device yet: apps register at POST /api/push/devices.'}
        </p>
      ) : (
        <div style={{ overflowX: 'auto' }}>
          <DataTable
            label="Devices"
            columns={[
              'Device',
              'Provider',
              'App',
              'Locale',
              'Token',
              'User',
              'Last seen',
              'Topics',
              { hidden: 'Actions' },
            ]}
          >
            {items.map((d) => (
              <tr key={d.id} data-device={d.id}>
                <td className="mono">
                  {d.id}
                  {d.appVersion ? <div className="muted">version {d.appVersion}</div> : null}
                </td>
                <td>
                  {d.provider}
                  {d.environment === 'sandbox' ? <div className="muted">sandbox</div> : null}
                </td>
                <td className="mono">{d.appId}</td>
                <td>{d.locale ?? '—'}</td>
                <td className="mono" title="The token's last characters">
                  …{d.tokenHint}
                </td>
                <td className="mono">
                  {d.userId ? (
                    <button
                      type="button"
                      className="btn link"
                      onClick={() => filters.only({ user: d.userId ?? '' })}
                    >
                      {d.userId}
                    </button>
                  ) : (
                    <span className="muted">anonymous</span>
                  )}
                </td>
                <td>
                  <time dateTime={d.lastSeenAt}>{formatTime(d.lastSeenAt)}</time>
                </td>
                <td>
                  {d.topics.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <span className="push-counts">
                      {d.topics.map((t) => (
                        <span key={t} className="badge mono">
                          {t}
                        </span>
                      ))}
                    </span>
                  )}
                </td>
                <td>
                  <button type="button" className="btn small danger" onClick={() => setRevoking(d)}>
                    Revoke<span className="sr-only"> {d.id}</span>
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        </div>
      )}
      <LoadMore pages={query} shown={items.length} end="that is every device" />
      {revoking ? (
        <ConfirmDialog
          title="Revoke this device?"
          confirmLabel="Revoke device"
          danger
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await pushApi(client).devices.revoke(revoking.id)
            setDone(`Device ${revoking.id} revoked.`)
            await queryClient.invalidateQueries({ queryKey: [...pushKey, 'devices'] })
          }}
        >
          <p>
            Device <span className="mono">{revoking.id}</span> ({revoking.provider}, {revoking.appId}) gets no
            notification any more and loses its topic subscriptions. The app registers again the next time it
            starts.
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  )
}
