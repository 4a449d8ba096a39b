import type { RealtimeStatus } from '@bastide/sdk'
import { useEffect, useState } from 'react'
import { Page } from '../../components/ui/Page.tsx'
import { useClient } from '../../lib/client.tsx'
import { ChangeStream } from './ChangeStream.tsx'
import { ChannelsPanel } from './ChannelsPanel.tsx'

type Tab = 'stream' | 'channels'

/** The realtime inspector: the live change stream, and channels with their presence. */
export function RealtimePage() {
  const client = useClient()
  const [tab, setTabNow] = useState<Tab>('stream')
  /** Tabs shown at least once: kept mounted from then on. */
  const [seen, setSeen] = useState<Tab[]>(['stream'])
  const setTab = (t: Tab) => {
    setTabNow(t)
    setSeen((s) => (s.includes(t) ? s : [...s, t]))
  }
  const [status, setStatus] = useState<RealtimeStatus>(client.realtime.status)
  useEffect(() => {
    setStatus(client.realtime.status)
    return client.realtime.onStatusChange(setStatus)
  }, [client])
  const tabs: [Tab, string][] = [
    ['stream', 'Change stream'],
    ['channels', 'Channels'],
  ]
  return (
    <Page
      title="Realtime"
      subtitle={
        <span role="status">
          <span className={`badge ${status === 'connected' ? 'ok' : ''}`}>{status}</span>
        </span>
      }
    >
      <div className="tabs" role="tablist" aria-label="Realtime views">
        {tabs.map(([id, label]) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`realtime-tab-${id}`}
            aria-selected={tab === id}
            aria-controls={`realtime-panel-${id}`}
            tabIndex={tab === id ? 0 : -1}
            onClick={() => setTab(id)}
            onKeyDown={(e) => {
              if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return
              const next = tabs[(tabs.findIndex(([t]) => t === id) + 1) % tabs.length]![0]
              setTab(next)
              document.getElementById(`realtime-tab-${next}`)?.focus()
            }}
          >
            {label}
          </button>
        ))}
      </div>
      {/* Once shown, both stay mounted: switching tabs keeps the stream running and the channel joined. */}
      <div
        role="tabpanel"
        id="realtime-panel-stream"
        aria-labelledby="realtime-tab-stream"
        hidden={tab !== 'stream'}
      >
        <ChangeStream />
      </div>
      <div
        role="tabpanel"
        id="realtime-panel-channels"
        aria-labelledby="realtime-tab-channels"
        hidden={tab !== 'channels'}
      >
        {seen.includes('channels') ? <ChannelsPanel /> : null}
      </div>
    </Page>
  )
}
