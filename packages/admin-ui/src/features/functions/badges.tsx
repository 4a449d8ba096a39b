import type { FunctionManifest, InvocationStatus } from '@bastide/protocol'
import { describeTrigger, triggersOf } from './triggers.ts'

/** The function's triggers, one badge each. */
export function TriggerBadges(props: { manifest: Pick<FunctionManifest, 'on'> }) {
  const badges = triggersOf(props.manifest).map(describeTrigger)
  return (
    <span className="fn-triggers">
      {badges.map((b, i) => (
        // A function may list the same trigger twice: the index keeps keys unique.
        // biome-ignore lint/suspicious/noArrayIndexKey: the list is the manifest's, fixed while shown
        <span key={i} className="badge" data-kind={b.kind}>
          {b.text}
        </span>
      ))}
    </span>
  )
}

const STATUS_CLASS: Record<InvocationStatus, string> = {
  ok: 'badge ok',
  error: 'badge danger',
  timeout: 'badge danger',
  killed: 'badge danger',
}

export function StatusBadge(props: { status: InvocationStatus }) {
  return <span className={STATUS_CLASS[props.status]}>{props.status}</span>
}

/** A duration for people: `<1 ms`, `42 ms`, `1.3 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1) return '<1 ms'
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
}
