import type { AdminUser } from '@bastide/sdk'
import { formatTime } from '../../lib/format.ts'

/** Whether a ban is in force now (an expired one no longer counts). */
export function isBanned(u: AdminUser): boolean {
  if (u.banned !== true) return false
  return !u.banExpires || new Date(u.banExpires).getTime() > Date.now()
}

/** Verified / unverified and banned, as badges. */
export function UserBadges(props: { user: AdminUser }) {
  const u = props.user
  const verified = u.verified === true || u.emailVerified === true
  return (
    <span className="row users-badges">
      {verified ? <span className="badge ok">verified</span> : <span className="badge">unverified</span>}
      {isBanned(u) ? (
        <span className="badge danger" title={u.banExpires ? `until ${formatTime(u.banExpires)}` : 'no end'}>
          banned
        </span>
      ) : null}
    </span>
  )
}
