import type { PushCounts, PushDeliveryStatus, PushMessageStatus } from '@bastide/protocol'
import type { ReactNode } from 'react'
import { countBadges } from './forms.ts'

const MESSAGE_CLASS: Record<PushMessageStatus, string> = {
  scheduled: 'badge',
  queued: 'badge',
  sending: 'badge',
  done: 'badge ok',
  canceled: 'badge',
}

export function MessageStatusBadge(props: { status: PushMessageStatus }) {
  return <span className={MESSAGE_CLASS[props.status]}>{props.status}</span>
}

const DELIVERY_CLASS: Record<PushDeliveryStatus, string> = {
  pending: 'badge',
  sent: 'badge ok',
  failed: 'badge danger',
  invalid_token: 'badge danger',
}

export function DeliveryStatusBadge(props: { status: PushDeliveryStatus }) {
  return (
    <span className={DELIVERY_CLASS[props.status]}>
      {props.status === 'invalid_token' ? 'invalid token' : props.status}
    </span>
  )
}

/** A message's delivery counts as small badges (`3 sent`, `1 failed`…); the non-zero ones only. */
export function CountBadges(props: { counts: PushCounts }) {
  const badges = countBadges(props.counts)
  if (badges.length === 0) return <span className="muted">{props.counts.targeted} devices</span>
  return (
    <span className="push-counts">
      {badges.map((b) => (
        <span key={b.key} className={b.className} data-count={b.key}>
          {b.n} {b.label}
        </span>
      ))}
    </span>
  )
}

/** A field's problem (the server's 400, or the form's own check), under the control it is about. */
export function FieldProblem(props: { message: string | undefined }) {
  if (!props.message) return null
  return <span className="push-field-error">{props.message}</span>
}

/** A Field's hint with the field's problem under it (so the control is described by both). */
export function hintWith(hint: ReactNode, problem: string | undefined): ReactNode {
  if (!problem) return hint ?? undefined
  return (
    <>
      {hint}
      <FieldProblem message={problem} />
    </>
  )
}
