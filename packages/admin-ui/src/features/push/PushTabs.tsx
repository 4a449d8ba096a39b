import { Link, useLocation } from '@tanstack/react-router'

const TABS = [
  { to: '/push', label: 'Messages' },
  { to: '/push/send', label: 'Send' },
  { to: '/push/devices', label: 'Devices' },
  { to: '/push/topics', label: 'Topics' },
  { to: '/push/credentials', label: 'Credentials' },
] as const

/** The Push section's pages, as tabs under each page's title (links: each view has its own URL). */
export function PushTabs() {
  // A message's page belongs under Messages: the log's tab stays marked there (a prefix match of /push would
  // mark it on every tab).
  const onMessage = useLocation({ select: (l) => l.pathname.includes('/push/messages/') })
  return (
    <nav className="tabs" aria-label="Push">
      {TABS.map((t) => (
        <Link key={t.to} to={t.to} activeOptions={{ exact: t.to === '/push' && !onMessage }}>
          {t.label}
        </Link>
      ))}
    </nav>
  )
}
