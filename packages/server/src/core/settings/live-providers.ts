import { genericOAuth } from 'better-auth/plugins'
import { socialProviders } from 'better-auth/social-providers'
import type { Logger } from 'pino'
import type { EffectiveSettings } from './schema.ts'

/** What this needs of better-auth's context: its provider list, which every OAuth endpoint reads per request. */
interface ProviderContext {
  socialProviders: { readonly id: string }[]
}

/**
 * Keeps better-auth's OAuth providers in step with the settings' (the database's; the environment's are left as
 * built). better-auth builds its providers once, into its context; every OAuth endpoint (sign-in/social,
 * callback, link-social, token refresh) looks them up there per request, so replacing the settings' entries
 * there makes a new or changed provider work at once, on every node (each re-installs on a change). OIDC
 * providers go through better-auth's own genericOAuth builder (discovery included). What this cannot reach:
 * native ID-token sign-in (/sign-in/id-token), whose provider list is fixed when the instance is built.
 */
export function createLiveProviders(o: {
  readonly context: Promise<unknown>
  readonly log: Logger
  /** The settings' provider ids better-auth was built with (replaced by the first install). */
  readonly builtWith: readonly string[]
}) {
  let installed = new Set(o.builtWith)
  let queue = Promise.resolve()
  const install = async (s: EffectiveSettings) => {
    const ctx = (await o.context) as ProviderContext
    const own = s.oauth.providers.filter((p) => p.source === 'database')
    const built: { readonly id: string }[] = []
    for (const p of own.filter((x) => x.type === 'social')) {
      const make = (socialProviders as Record<string, (c: object) => { id: string }>)[p.id]
      if (!make) continue
      built.push(make({ clientId: p.clientId, ...(p.clientSecret ? { clientSecret: p.clientSecret } : {}) }))
    }
    const oidc = own.filter((x) => x.type === 'oidc' && x.issuer)
    if (oidc.length > 0) {
      const plugin = genericOAuth({
        config: oidc.map((p) => ({
          providerId: p.id,
          discoveryUrl: `${p.issuer}/.well-known/openid-configuration`,
          clientId: p.clientId,
          ...(p.clientSecret ? { clientSecret: p.clientSecret } : {}),
          scopes: [...p.scopes],
          pkce: true,
        })),
      })
      // Its init builds the providers (discovery, token validation) and answers the context's new list.
      const r = (await plugin.init?.({ ...ctx, socialProviders: [] } as never)) as
        | { context?: { socialProviders?: { id: string }[] } }
        | undefined
      const ids = new Set(oidc.map((p) => p.id))
      built.push(...(r?.context?.socialProviders ?? []).filter((p) => ids.has(p.id)))
    }
    const replaced = new Set([...installed, ...own.map((p) => p.id)])
    ctx.socialProviders = [...ctx.socialProviders.filter((p) => !replaced.has(p.id)), ...built]
    installed = new Set(built.map((p) => p.id))
  }
  return {
    /**
     * Re-installs the settings' providers; calls run one after another, the last one wins. Resolves when done,
     * or after 10 s (an OIDC issuer that does not answer its discovery must not hold a settings change up).
     */
    apply(s: EffectiveSettings): Promise<void> {
      queue = queue
        .then(() => install(s))
        .catch((err) =>
          o.log.error({ err: (err as Error).message }, 'settings: could not install OAuth providers'),
        )
      let timer: NodeJS.Timeout | undefined
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 10_000)
        timer.unref()
      })
      return Promise.race([queue, bound]).finally(() => clearTimeout(timer))
    },
  }
}
