import { push } from './0001-push.ts'
import { pushMessages } from './0002-push-messages.ts'
import { pushWatchdogs } from './0003-push-watchdogs.ts'

/** The push module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [push, pushMessages, pushWatchdogs] as const
