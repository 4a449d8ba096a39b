import { webhooks } from './0001-webhooks.ts'

/** The webhooks module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [webhooks] as const
