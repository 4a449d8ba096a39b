import { useQuery } from '@tanstack/react-query'
import { type FormEvent, useEffect, useRef, useState } from 'react'
import { ErrorNote } from '../../components/ui/ErrorNote.tsx'
import { TextField } from '../../components/ui/Field.tsx'
import { Loading } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { chosenCollections, MAX_EVENTS, prependBounded, type StreamEvent } from './stream.ts'

interface Watch {
  /** Every collection, including those created while listening. */
  readonly everything: boolean
  readonly picked: string[]
  readonly filter: string
}

/**
 * Live create/update/delete events of the picked collections (or all), optionally narrowed by a filter, as the
 * console admin sees them. Pause holds new events back; the list keeps the last {@link MAX_EVENTS}.
 */
export function ChangeStream() {
  const client = useClient()
  const collections = useQuery({
    queryKey: ['realtime', 'collections'],
    queryFn: ({ signal }) => client.admin.collections.list({ signal }),
    staleTime: 0,
    // "All collections" follows collections created while listening.
    refetchInterval: 15_000,
  })
  const names = (collections.data ?? []).map((c) => c.name).sort()
  const [everything, setEverything] = useState(true)
  const [picked, setPicked] = useState<string[]>([])
  const [filter, setFilter] = useState('')
  const [watch, setWatch] = useState<Watch | null>(null)
  const [events, setEvents] = useState<StreamEvent[]>([])
  const [held, setHeld] = useState<StreamEvent[]>([])
  const [paused, setPaused] = useState(false)
  const [errors, setErrors] = useState<{ collection: string; error: unknown }[]>([])
  const [ready, setReady] = useState<string[]>([])
  const pausedRef = useRef(paused)
  pausedRef.current = paused
  const nextKey = useRef(1)

  const following = watch ? chosenCollections(names, watch.picked, watch.everything) : []
  const followingKey = following.join('\n')
  const filterNow = watch?.filter ?? ''
  const on = watch !== null

  useEffect(() => {
    if (!on) return
    const targets = followingKey ? followingKey.split('\n') : []
    setErrors([])
    setReady([])
    const stops = targets.map((collection) =>
      client.realtime.subscribe<Record<string, unknown>>(
        { collection, ...(filterNow ? { filter: filterNow } : {}) },
        (change) => {
          const ev: StreamEvent = {
            key: nextKey.current++,
            at: Date.now(),
            collection,
            action: change.action,
            id: change.action === 'resync' ? null : String(change.record.id ?? ''),
            seq: change.action === 'resync' ? null : change.seq,
            record: change.action === 'resync' ? null : change.record,
          }
          if (pausedRef.current) setHeld((h) => prependBounded(h, [ev]))
          else setEvents((list) => prependBounded(list, [ev]))
        },
        {
          onError: (error) => setErrors((e) => [...e, { collection, error }]),
          onReady: () => setReady((r) => (r.includes(collection) ? r : [...r, collection])),
        },
      ),
    )
    return () => {
      for (const stop of stops) stop()
    }
  }, [client, on, followingKey, filterNow])

  const start = (e: FormEvent) => {
    e.preventDefault()
    setWatch({ everything, picked, filter: filter.trim() })
  }
  const resume = () => {
    setEvents((list) => prependBounded(list, [...held].reverse()))
    setHeld([])
    setPaused(false)
  }
  const listening = watch !== null

  return (
    <div className="stack">
      <form className="panel stack" onSubmit={start} aria-label="What to watch">
        <ErrorNote error={collections.error} />
        {collections.isPending ? (
          <Loading label="Loading collections…" />
        ) : (
          <fieldset className="realtime-collections">
            <legend>Collections</legend>
            <label className="check">
              <input type="checkbox" checked={everything} onChange={(e) => setEverything(e.target.checked)} />
              All collections
            </label>
            {names.map((n) => (
              <label key={n} className="check">
                <input
                  type="checkbox"
                  disabled={everything}
                  checked={everything || picked.includes(n)}
                  onChange={(e) =>
                    setPicked(e.target.checked ? [...picked, n] : picked.filter((x) => x !== n))
                  }
                />
                <code>{n}</code>
              </label>
            ))}
          </fieldset>
        )}
        <TextField
          label="Filter"
          value={filter}
          onChange={setFilter}
          placeholder="status = 'published' && author = '…'"
          hint="Optional, in the filter language; only matching records’ changes are shown."
          className="mono"
        />
        <div className="row">
          <button type="submit" className="btn primary" disabled={collections.isPending}>
            {listening ? 'Apply' : 'Start listening'}
          </button>
          {listening ? (
            <button type="button" className="btn" onClick={() => setWatch(null)}>
              Stop
            </button>
          ) : null}
          {listening ? (
            <span className="muted" role="status">
              Listening to {following.length === 0 ? 'no collection' : following.join(', ')}
              {watch.filter ? ` where ${watch.filter}` : ''} ({ready.length}/{following.length} ready)
            </span>
          ) : null}
        </div>
        {errors.map((e) => (
          <ErrorNote key={e.collection} error={e.error} title={e.collection} />
        ))}
      </form>

      <div className="row">
        {paused ? (
          <button type="button" className="btn" onClick={resume}>
            Resume{held.length ? ` (${held.length} waiting)` : ''}
          </button>
        ) : (
          <button type="button" className="btn" onClick={() => setPaused(true)} disabled={!listening}>
            Pause
          </button>
        )}
        <button
          type="button"
          className="btn"
          onClick={() => {
            setEvents([])
            setHeld([])
          }}
          disabled={events.length === 0 && held.length === 0}
        >
          Clear
        </button>
        <span className="muted">
          {events.length} event{events.length === 1 ? '' : 's'} (the last {MAX_EVENTS} are kept)
        </span>
      </div>

      {events.length === 0 ? (
        <p className="muted">
          {listening ? 'Waiting for changes…' : 'Pick collections and start listening.'}
        </p>
      ) : (
        <ol className="realtime-events" aria-label="Change events" aria-live="off">
          {events.map((e) => (
            <EventRow key={e.key} event={e} />
          ))}
        </ol>
      )}
    </div>
  )
}

function EventRow(props: { event: StreamEvent }) {
  const e = props.event
  const [open, setOpen] = useState(false)
  return (
    <li className={`realtime-event realtime-${e.action}`}>
      <button
        type="button"
        className="realtime-event-head"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        <time className="muted" dateTime={new Date(e.at).toISOString()}>
          {new Date(e.at).toLocaleTimeString()}
        </time>
        <span className="badge realtime-action">{e.action}</span>
        <code>{e.collection}</code>
        <span className="mono">{e.id ?? 'refetch what you show: changes may have been missed'}</span>
        {e.seq !== null ? <span className="muted">seq {e.seq}</span> : null}
      </button>
      {open && e.record ? <pre className="realtime-record">{JSON.stringify(e.record, null, 2)}</pre> : null}
    </li>
  )
}
