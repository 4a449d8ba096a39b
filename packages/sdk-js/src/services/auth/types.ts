import type { SessionStorage } from '../../session-storage.ts'
import type { User } from '../../types.ts'
import type { AuthEvent, Session } from '../session.ts'

/** Called on every auth state change; `session` is the state after the event. */
export type AuthListener = (event: AuthEvent, session: Session | null) => void

/** What a sign-in that may stop for a second factor returns. */
export type SignInResult =
  | { readonly session: Session; readonly twoFactorRequired: false }
  | {
      readonly session: null
      /** Finish with `verifyTotp` or `verifyBackupCode` (within 10 minutes). */
      readonly twoFactorRequired: true
      /** The second factors the account has, e.g. `['totp']`. */
      readonly twoFactorMethods: readonly string[]
    }

/** What `signUp` returns. */
export interface SignUpResult {
  readonly user: User
  /** Null while the address must be confirmed first (the server requires verification), or 2FA is pending. */
  readonly session: Session | null
  /** The account has 2FA (the address was already yours): finish with `verifyTotp`. */
  readonly twoFactorRequired?: boolean
}

/** One of the user's sessions, as `listSessions` shows it (never its token). */
export interface SessionInfo {
  readonly id: string
  /** The session this client holds. */
  readonly current: boolean
  readonly createdAt: string
  readonly updatedAt: string
  readonly expiresAt: string
  readonly ipAddress: string | null
  readonly userAgent: string | null
  /** Started by an admin impersonating the user. */
  readonly impersonated: boolean
}

/** What TOTP setup hands out: show the URI as a QR code, and the backup codes once. */
export interface TotpSetup {
  /** `otpauth://totp/...`: for an authenticator app. */
  readonly totpURI: string
  /** Single-use codes that replace a TOTP code when the device is lost. */
  readonly backupCodes: readonly string[]
}

/** The user's own data (`GET /api/auth/account/export`). */
export interface AccountExport {
  readonly exportedAt: string
  readonly user: User
  readonly sessions: readonly Omit<SessionInfo, 'current'>[]
  readonly accounts: readonly { providerId: string; createdAt: string; updatedAt: string }[]
  readonly passkeys: readonly {
    name: string | null
    createdAt: string
    deviceType: string
    backedUp: boolean
  }[]
  /** Every record pointing at the user, by collection. */
  readonly records: Readonly<Record<string, readonly Record<string, unknown>[]>>
}

/** TOTP second factor for the signed-in user. */
export interface TotpMethods {
  /**
   * Starts TOTP setup; it is active once `verify` confirms a first code.
   *
   * @example
   * const { totpURI, backupCodes } = await client.auth.totp.enable({ password })
   * showQrCode(totpURI)
   */
  enable(opts: { password: string }): Promise<TotpSetup>
  /**
   * Confirms setup with a code from the authenticator app. The server starts a new session for it; the SDK
   * switches to it (USER_UPDATED).
   *
   * @example
   * await client.auth.totp.verify({ code: '123456' })
   */
  verify(opts: { code: string }): Promise<User>
  /**
   * Turns TOTP off.
   *
   * @example
   * await client.auth.totp.disable({ password })
   */
  disable(opts: { password: string }): Promise<User>
  /**
   * Replaces the backup codes (the old ones stop working).
   *
   * @example
   * const { backupCodes } = await client.auth.totp.regenerateBackupCodes({ password })
   */
  regenerateBackupCodes(opts: { password: string }): Promise<{ backupCodes: readonly string[] }>
}

export interface AuthServiceOptions {
  storage?: SessionStorage | undefined
  storageKey?: string | undefined
  apiKey?: string | undefined
  autoRefresh: boolean
}

// ---------------------------------------------------------------- the server's answers (internal)

/** better-auth's user as `/api/auth` answers it (before it is shaped like a `users` record). */
export type AuthUser = Record<string, unknown> & { id: string }
export interface SignInBody {
  token?: string | null
  user?: AuthUser
  twoFactorRedirect?: boolean
  twoFactorToken?: string
  twoFactorMethods?: string[]
}
export interface RefreshBody {
  token: string
  accessToken: string
  accessTokenExpiresAt: string | null
  expiresAt: string
}
