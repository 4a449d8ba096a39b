import { KEY_SCOPES, type KeyScope } from '@bastide/protocol'

/** What an API key may be given: declared once, in the protocol, for the server, the SDK and the console. */
export const SCOPES = KEY_SCOPES
export type Scope = KeyScope

/** Who is calling. Resolved once per request from `Authorization: Bearer …`. */
export type Principal =
  | { readonly kind: 'anonymous' }
  /** BASTIDE_ADMIN_KEY (no id) or a console admin's session (with its id): every scope. */
  | { readonly kind: 'admin'; readonly adminId?: string }
  | { readonly kind: 'key'; readonly id: string; readonly name: string; readonly scopes: ReadonlySet<Scope> }
  /** An app user, by session token or access JWT; rules see `record` as @request.auth. */
  | {
      readonly kind: 'user'
      readonly id: string
      readonly sessionId?: string
      /** Set when a console admin is impersonating this user (their admin id). */
      readonly impersonatedBy?: string
      readonly record: Readonly<Record<string, unknown>>
    }

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' })

export function hasScope(p: Principal, scope: Scope): boolean {
  return p.kind === 'admin' || (p.kind === 'key' && p.scopes.has(scope))
}

/** A stable string naming the principal, for history, logs and idempotency keys. */
export function principalId(p: Principal): string {
  switch (p.kind) {
    case 'anonymous':
      return 'anonymous'
    case 'admin':
      return p.adminId ? `admin:${p.adminId}` : 'admin'
    case 'key':
      return `key:${p.id}`
    case 'user':
      return `user:${p.id}`
  }
}

/** What rules see as @request.auth. */
export function authRecord(p: Principal): Readonly<Record<string, unknown>> | null {
  return p.kind === 'user' ? { ...p.record, id: p.id } : null
}

/** Turns a bearer token into a Principal, or undefined when the token is not of its kind. */
export type Authenticator = (token: string) => Promise<Principal | undefined>
