import type { OAuthProviderInput, OAuthProviderView } from './api.ts'

/** Origins typed one per line (or separated by commas or spaces), trimmed, without blanks or repeats. */
export function parseOrigins(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ]
}

/** Scopes typed with spaces or commas between them. */
export function parseScopes(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean)
}

/**
 * The `oauth.providers` a PATCH sends: the database's providers only (the environment's are locked), each
 * without its secret unless one was typed for it (a provider sent without one keeps the stored one).
 */
export function providersPatch(
  providers: readonly OAuthProviderView[],
  change?: { readonly replace?: OAuthProviderInput; readonly removeId?: string },
): OAuthProviderInput[] {
  const own = providers.filter((p) => p.source === 'database')
  const out: OAuthProviderInput[] = own
    .filter((p) => p.id !== change?.removeId)
    .map((p) => ({
      id: p.id,
      type: p.type,
      clientId: p.clientId,
      ...(p.issuer ? { issuer: p.issuer } : {}),
      scopes: [...p.scopes],
      enabled: p.enabled,
    }))
  const r = change?.replace
  if (r) {
    const i = out.findIndex((p) => p.id === r.id)
    if (i >= 0) out[i] = r
    else out.push(r)
  }
  return out
}

/** How a setting's source reads in the console. */
export function sourceLabel(f: { source: string; locked: boolean; env?: string | undefined }): string {
  if (f.locked) return `set by ${f.env ?? 'the environment'} (read-only here)`
  return f.source === 'database' ? 'set here' : 'default'
}
