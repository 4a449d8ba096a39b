import type { CSSProperties } from 'react'
import { sourceLabel } from './settings-form.ts'

/** A control the environment locks: looks read-only as well as being it. */
export const LOCKED_STYLE: CSSProperties = { background: 'var(--bg)', cursor: 'not-allowed' }

/** Where a setting comes from: its variable when the environment locks it. */
export function Source(props: { field: { source: string; locked: boolean; env?: string | undefined } }) {
  const f = props.field
  return (
    <span className={f.locked ? 'badge danger' : f.source === 'database' ? 'badge ok' : 'badge'}>
      {sourceLabel(f)}
    </span>
  )
}
