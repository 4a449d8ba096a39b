import type { User } from '../types.ts'

/** A signed-in session, as the SDK keeps it. */
export interface Session {
  /** The session token: the long-lived, rotating refresh credential. Keep it in secure storage. */
  readonly token: string
  /** A short-lived access JWT, sent with every API call. */
  readonly accessToken: string
  /** ISO-8601: when `accessToken` expires (the SDK refreshes it shortly before). */
  readonly accessTokenExpiresAt: string
  /** ISO-8601: when the session itself expires unless refreshed. */
  readonly expiresAt: string
  readonly user: User
}

/** What `onAuthStateChange` reports. */
export type AuthEvent = 'INITIAL_SESSION' | 'SIGNED_IN' | 'SIGNED_OUT' | 'TOKEN_REFRESHED' | 'USER_UPDATED'

/** The part of the auth service that sign-in flows living in other modules (OAuth, passkeys) call. */
export interface SessionSink {
  /** Adopts a session token a sign-in returned: fetches the user and an access JWT, stores, notifies. */
  setSessionFromToken(token: string): Promise<Session>
}
