import { auth } from './0001-auth.ts'
import { totpLastStep } from './0002-totp-last-step.ts'
import { sessionNotify } from './0003-session-notify.ts'

/** The auth module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [auth, totpLastStep, sessionNotify] as const
