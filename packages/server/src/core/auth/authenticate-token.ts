import { KEY_PREFIX } from './api-keys.ts'
import type { Authenticator, Principal } from './principal.ts'

/** One token, as HTTP resolves it: a `bst_sk_` key, else each authenticator in turn; undefined if none. */
export function authenticateToken(
  keys: { authenticate(token: string): Promise<Principal> },
  authenticators: readonly Authenticator[],
): (token: string) => Promise<Principal | undefined> {
  return async (token) => {
    if (token.startsWith(KEY_PREFIX)) return keys.authenticate(token).catch(() => undefined)
    for (const a of authenticators) {
      const p = await a(token)
      if (p) return p
    }
    return undefined
  }
}
