import { Link, Navigate, Outlet } from '@tanstack/react-router'
import { useState } from 'react'
import { Loading } from '../components/ui/Page.tsx'
import { useClient } from '../lib/client.tsx'
import { useSession } from '../lib/session.tsx'
import { FEATURES } from './features.ts'
import { applyTheme, initialTheme, type Theme } from './theme.ts'

const NAV = FEATURES.flatMap((f) => (f.nav ? [f.nav] : [])).sort((a, b) => a.order - b.order)

/** Navigation on the left, the page on the right; signed-out visitors go to the sign-in page. */
export function ConsoleLayout() {
  const client = useClient()
  const session = useSession()
  const [theme, setTheme] = useState<Theme>(() => initialTheme())
  if (session === undefined) return <Loading />
  if (session === null) return <Navigate to="/sign-in" />
  return (
    <div className="shell">
      <nav className="nav" aria-label="Console">
        <div className="brand">Bastide</div>
        {NAV.map((n) => (
          <Link key={n.to} to={n.to}>
            {n.label}
          </Link>
        ))}
        <div className="spacer" />
        {/* The server's own pages, outside the app (plain links: the router does not handle them). */}
        <a href="/api/docs" target="_blank" rel="noreferrer">
          API reference
        </a>
        <button
          type="button"
          className="btn small"
          aria-label={`Switch to the ${theme === 'dark' ? 'light' : 'dark'} theme`}
          onClick={() => {
            const next = theme === 'dark' ? 'light' : 'dark'
            applyTheme(next, true)
            setTheme(next)
          }}
        >
          {theme === 'dark' ? 'Light theme' : 'Dark theme'}
        </button>
        <div className="who">{session.admin.email}</div>
        <button type="button" className="btn small" onClick={() => void client.admin.auth.signOut()}>
          Sign out
        </button>
      </nav>
      <main className="main" id="main">
        <Outlet />
      </main>
    </div>
  )
}
