/**
 * Hooks other parts of the server hang on app users' sign-up and sign-in (functions with `auth` triggers).
 * The auth module creates the registry before better-auth; the functions module, which starts later, sets the
 * handlers. With none set, sign-up and sign-in pay nothing (not even the user lookup a before-sign-in needs).
 */
export type BlockingAuthHook = 'before-sign-up' | 'before-sign-in'
export type AfterAuthHook = 'after-sign-up' | 'after-sign-in'

/** The user a hook sees: the new user's fields (sign-up, no id yet before it), or the signing-in user's row. */
export type AuthHookUser = Readonly<Record<string, unknown>> & { readonly email: string }

export interface AuthHookHandlers {
  /** Whether any handler listens to `hook` now (checked per sign-up/sign-in). */
  wants(hook: BlockingAuthHook | AfterAuthHook): boolean
  /** A refusal's message, or undefined to let it through. Throwing refuses too (fail closed). */
  before(
    hook: BlockingAuthHook,
    user: AuthHookUser,
    request: Request | undefined,
  ): Promise<string | undefined>
  /** After commit; must not throw (a failure is the handler's to log). */
  after(hook: AfterAuthHook, user: AuthHookUser): Promise<void>
}

export interface AuthHooks {
  set(handlers: AuthHookHandlers | undefined): void
  current(): AuthHookHandlers | undefined
}

export function createAuthHooks(): AuthHooks {
  let handlers: AuthHookHandlers | undefined
  return {
    set(h) {
      handlers = h
    },
    current: () => handlers,
  }
}

/** The user fields a hook may see: never the password hash or ban bookkeeping. */
export function hookUser(u: Readonly<Record<string, unknown>>): AuthHookUser {
  const { banned: _b, banReason: _r, banExpires: _e, password: _p, ...rest } = u as Record<string, unknown>
  for (const [k, v] of Object.entries(rest)) {
    if (v instanceof Date) rest[k] = v.toISOString()
    else if (v === undefined) delete rest[k]
  }
  return { ...rest, email: String(u.email ?? '') }
}
