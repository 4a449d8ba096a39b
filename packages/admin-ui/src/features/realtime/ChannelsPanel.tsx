import type { BroadcastSender, PresenceState } from '@bastide/sdk'
import { useQuery } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { type FormEvent, useEffect, useState } from 'react'
import { DataTable } from '../../components/ui/DataTable.tsx'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { adminChannels } from './channels-api.ts'
import { exampleChannel, prependBounded } from './stream.ts'

const showRule = (r: string | null) => (r === null ? 'locked (admins and keys)' : r === '' ? 'everyone' : r)

/** Channel definitions, and one channel joined as the admin to watch its presence and broadcasts live. */
export function ChannelsPanel() {
  const client = useClient()
  const defs = useQuery({
    queryKey: ['realtime', 'channels'],
    queryFn: ({ signal }) => adminChannels(client).list({ signal }),
    staleTime: 0,
  })
  const [name, setName] = useState('')
  const [watching, setWatching] = useState<string | null>(null)
  const open = (e: FormEvent) => {
    e.preventDefault()
    if (name.trim()) setWatching(name.trim())
  }
  return (
    <div className="stack">
      <div className="panel stack">
        <div className="row">
          <h2 className="grow">Channel definitions</h2>
          <button
            type="button"
            className="btn small"
            disabled={defs.isFetching}
            onClick={() => void defs.refetch()}
          >
            {defs.isFetching ? 'Refreshing…' : 'Refresh'}
          </button>
        </div>
        <ErrorNote error={defs.error} />
        {defs.isPending ? (
          <Loading />
        ) : defs.data && defs.data.length === 0 ? (
          <p className="muted">No channel is defined: every channel is locked to admins and API keys.</p>
        ) : (
          <DataTable
            label="Channel definitions"
            columns={['Pattern', 'Join', 'Send', 'Presence', { hidden: 'Actions' }]}
          >
            {defs.data?.map((d) => (
              <tr key={d.id}>
                <td className="mono">{d.pattern}</td>
                <td className="mono">{showRule(d.rules.join)}</td>
                <td className="mono">{showRule(d.rules.send)}</td>
                <td>{d.presence ? 'kept' : 'off'}</td>
                <td>
                  <button
                    type="button"
                    className="btn small"
                    onClick={() => setName(exampleChannel(d.pattern))}
                  >
                    Inspect<span className="sr-only"> a channel of {d.pattern}</span>
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </div>
      <form className="panel stack" onSubmit={open} aria-label="Inspect a channel">
        <h2>Inspect a channel</h2>
        <div className="row realtime-channel-form">
          <TextField
            label="Channel name"
            value={name}
            onChange={setName}
            placeholder="room:42"
            hint="The console joins it as the admin, without publishing a presence state of its own, and shows who is there live."
          />
          <button type="submit" className="btn primary" disabled={!name.trim()}>
            Join and watch
          </button>
        </div>
      </form>
      {watching ? <ChannelWatch key={watching} name={watching} onLeave={() => setWatching(null)} /> : null}
    </div>
  )
}

interface Broadcast {
  readonly key: number
  readonly at: number
  readonly event: string
  readonly payload: unknown
  readonly from: BroadcastSender
}

let broadcastKey = 1

function ChannelWatch(props: { name: string; onLeave: () => void }) {
  const client = useClient()
  const [presence, setPresence] = useState<PresenceState | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [broadcasts, setBroadcasts] = useState<Broadcast[]>([])
  useEffect(() => {
    const ch = client.realtime.channel(props.name)
    const offPresence = ch.onPresence((state) => setPresence(state))
    const offAll = ch.on('*', (payload, from, event) =>
      setBroadcasts((b) =>
        prependBounded(b, [{ key: broadcastKey++, at: Date.now(), event, payload, from }], 100),
      ),
    )
    let live = true
    let joined = false
    // Joined on the next tick: a mount that is undone at once (React's StrictMode does that) then never sends a
    // join whose leave would race the next join on the server.
    const timer = setTimeout(() => {
      joined = true
      ch.join().then(
        (state) => live && setPresence(state),
        (e) => live && setError(e),
      )
    }, 0)
    return () => {
      live = false
      clearTimeout(timer)
      offPresence()
      offAll()
      if (joined) void ch.leave()
    }
  }, [client, props.name])
  const me = client.realtime.connectionId
  const members = presence ? Object.entries(presence) : []
  return (
    <section className="panel stack" aria-labelledby="realtime-watch-title">
      <div className="row">
        <h2 id="realtime-watch-title" className="grow">
          Channel <code>{props.name}</code>
        </h2>
        <button type="button" className="btn" onClick={props.onLeave}>
          Leave
        </button>
      </div>
      <ErrorNote error={error} />
      {presence === null && !error ? <Loading label="Joining…" /> : null}
      {presence ? (
        <>
          <h3>Presence ({members.length})</h3>
          {members.length === 0 ? <p className="muted">Nobody has published a presence state here.</p> : null}
          <DataTable label="Presence" columns={['Connection', 'User', 'State']}>
            {members.map(([conn, m]) => (
              <tr key={conn}>
                <td className="mono">
                  {conn} {conn === me ? <span className="badge">this console</span> : null}
                </td>
                <td className="mono">
                  {m.user ? (
                    <Link to="/users/$id" params={{ id: m.user }}>
                      {m.user}
                    </Link>
                  ) : (
                    <span className="muted">admin or key</span>
                  )}
                </td>
                <td className="mono">{m.state === undefined ? '' : JSON.stringify(m.state)}</td>
              </tr>
            ))}
          </DataTable>
          <h3>Broadcasts</h3>
          {broadcasts.length === 0 ? (
            <p className="muted">None since joining.</p>
          ) : (
            <ol className="realtime-events" aria-label="Broadcasts">
              {broadcasts.map((b) => (
                <li key={b.key} className="realtime-event realtime-broadcast">
                  <span className="muted">{new Date(b.at).toLocaleTimeString()}</span> <code>{b.event}</code>{' '}
                  <span className="mono">from {b.from.id ?? 'admin or key'}</span>
                  <pre className="realtime-record">{JSON.stringify(b.payload, null, 2)}</pre>
                </li>
              ))}
            </ol>
          )}
        </>
      ) : null}
    </section>
  )
}
