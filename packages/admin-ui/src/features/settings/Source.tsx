import { sourceLabel } from './settings-form.ts'

/** Where a setting comes from: its variable when the environment locks it. */
export function Source(props: { field: { source: string; locked: boolean; env?: string | undefined } }) {
  const f = props.field
  return (
    <span className={f.locked ? 'badge danger' : f.source === 'database' ? 'badge ok' : 'badge'}>
      {sourceLabel(f)}
    </span>
  )
}
