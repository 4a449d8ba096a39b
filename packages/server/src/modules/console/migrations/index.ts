import { adminPasskeys } from './0001-admin-passkeys.ts'
import { adminLastSignIn } from './0002-admin-last-sign-in.ts'

/** The console module's migrations, in order. Append-only: a new file goes at the end, nothing is edited. */
export const migrations = [adminPasskeys, adminLastSignIn] as const
