import { realtimeChannels } from './0001-realtime-channels.ts'

/** The realtime module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [realtimeChannels] as const
