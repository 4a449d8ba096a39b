import { push } from './0001-push.ts'
import { pushMessages } from './0002-push-messages.ts'

/** The push module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [push, pushMessages] as const
