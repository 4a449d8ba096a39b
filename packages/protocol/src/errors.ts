/**
 * Every error code Bastide answers with, once. The wire shape is `{ code, message, status, details? }` on HTTP
 * and `{ ok: false, error: { code, message } }` in realtime acknowledgements. Each catalog maps a code to the
 * HTTP status it is sent with by default (a route may pick another one, e.g. UNAVAILABLE with a 504).
 */

/** The server's own catalog (`AppError`): what routes, the domain and the error mapper throw. */
export const SERVER_ERROR_STATUS = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  INVALID_FILTER: 400,
  INVALID_CURSOR: 400,
  INVALID_SCHEMA: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  VERSION_MISMATCH: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_IMAGE: 422,
  /** An outbound request (function fetch, webhook) to a loopback, private or link-local address, not allow-listed. */
  DESTINATION_REFUSED: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  /** Offline sync is not switched on for the collection (`PUT /api/admin/sync/collections/{name}`). */
  SYNC_DISABLED: 409,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const

export type ServerErrorCode = keyof typeof SERVER_ERROR_STATUS

/**
 * The codes of Bastide's own auth endpoints and plugins (under `/api/auth`). better-auth's built-in codes
 * (`INVALID_EMAIL_OR_PASSWORD`, `USER_ALREADY_EXISTS`, …) pass through as better-auth names them and are not
 * listed here.
 */
export const AUTH_ERROR_STATUS = {
  /** The chosen password does not pass the password policy. */
  WEAK_PASSWORD: 400,
  /** An OIDC provider's ID token was sent to /sign-in/social: it goes to /sign-in/id-token. */
  USE_ID_TOKEN_ENDPOINT: 400,
  USER_BANNED: 403,
  /** A sign-in method or OAuth provider switched off in the runtime settings (/api/admin/settings). */
  METHOD_DISABLED: 403,
  /** The session token was already refreshed (or the session ended). */
  SESSION_REFRESHED: 401,
  INVALID_ID_TOKEN: 401,
  PROVIDER_NOT_FOUND: 404,
  PROVIDER_UNAVAILABLE: 502,
  USER_EMAIL_NOT_FOUND: 401,
  EMAIL_NOT_VERIFIED: 403,
  OAUTH_LINK_ERROR: 401,
  OAUTH_FLOW_NOT_FOUND: 400,
  INVALID_OAUTH_CODE: 400,
  INVALID_CALLBACK_URL: 403,
  ACCOUNT_HAS_RESTRICTED_RECORDS: 409,
  ANONYMOUS_LINK_CONFLICT: 409,
  /** A before-sign-up or before-sign-in hook (a function with an `auth` trigger) refused, failed or timed out. */
  HOOK_REFUSED: 403,
} as const

export type AuthErrorCode = keyof typeof AUTH_ERROR_STATUS

/**
 * Codes only the realtime connection sends (`auth_error`, refused acknowledgements). Realtime also answers with
 * server codes (FORBIDDEN, INVALID_FILTER, RATE_LIMITED, …).
 */
export const REALTIME_ERROR_STATUS = {
  /** The access token of a live connection expired: the server closes it, the client reconnects with a fresh one. */
  TOKEN_EXPIRED: 401,
  /** Signed out elsewhere, banned, or the API key was revoked or expired. */
  SESSION_ENDED: 401,
  /** Too many subscriptions or channels on one connection. */
  LIMIT: 429,
} as const

export type RealtimeErrorCode = keyof typeof REALTIME_ERROR_STATUS

/** The codes of functions (`/api/functions`, `/api/admin/functions`). */
export const FUNCTIONS_ERROR_STATUS = {
  FUNCTION_NOT_FOUND: 404,
  /** The module does not load, or its `defineFunction` declaration is not valid. */
  FUNCTION_INVALID: 400,
  /** An HTTP-triggered function threw, or answered something that is not a Response. */
  FUNCTION_FAILED: 502,
  /** An HTTP-triggered function ran out of wall time, or its sandbox went over its memory cap. */
  FUNCTION_TIMEOUT: 504,
} as const

export type FunctionsErrorCode = keyof typeof FUNCTIONS_ERROR_STATUS

/** Every code a Bastide server sends, with its default status. */
export const ERROR_STATUS = {
  ...SERVER_ERROR_STATUS,
  ...AUTH_ERROR_STATUS,
  ...REALTIME_ERROR_STATUS,
  ...FUNCTIONS_ERROR_STATUS,
} as const

export type WireErrorCode = keyof typeof ERROR_STATUS

/** The body of every error answer. */
export interface ErrorBody<C extends string = WireErrorCode> {
  readonly code: C
  readonly message: string
  readonly status: number
  readonly details?: Record<string, unknown>
}
