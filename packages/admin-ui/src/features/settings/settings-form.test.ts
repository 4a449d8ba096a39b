import { describe, expect, it } from 'vitest'
import type { OAuthProviderView } from './api.ts'
import { parseOrigins, providersPatch, sourceLabel } from './settings-form.ts'

const view = (p: Partial<OAuthProviderView> & { id: string }): OAuthProviderView => ({
  type: 'social',
  clientId: `${p.id}-client`,
  clientSecret: { set: true },
  scopes: [],
  enabled: true,
  source: 'database',
  locked: false,
  ...p,
})

describe('settings form', () => {
  it('reads origins one per line, or with commas, without blanks or repeats', () => {
    expect(parseOrigins(' https://a.example.com\n\nhttps://b.example.com, https://a.example.com ')).toEqual([
      'https://a.example.com',
      'https://b.example.com',
    ])
    expect(parseOrigins('   ')).toEqual([])
  })

  it("sends only the database's providers, never a secret it did not type", () => {
    const providers = [
      view({ id: 'github', source: 'env', locked: true }),
      view({ id: 'google' }),
      view({ id: 'kc', type: 'oidc', issuer: 'https://id.example.com', scopes: ['openid'] }),
    ]
    expect(providersPatch(providers)).toEqual([
      { id: 'google', type: 'social', clientId: 'google-client', scopes: [], enabled: true },
      {
        id: 'kc',
        type: 'oidc',
        clientId: 'kc-client',
        issuer: 'https://id.example.com',
        scopes: ['openid'],
        enabled: true,
      },
    ])
    expect(providersPatch(providers, { removeId: 'google' }).map((p) => p.id)).toEqual(['kc'])
    const replaced = providersPatch(providers, {
      replace: { id: 'google', type: 'social', clientId: 'new', clientSecret: 's', enabled: false },
    })
    expect(replaced[0]).toEqual({
      id: 'google',
      type: 'social',
      clientId: 'new',
      clientSecret: 's',
      enabled: false,
    })
    expect(
      providersPatch(providers, { replace: { id: 'discord', type: 'social', clientId: 'd' } }),
    ).toHaveLength(3)
  })

  it('names the variable of a locked setting', () => {
    expect(sourceLabel({ source: 'env', locked: true, env: 'BASTIDE_SMTP_URL' })).toBe(
      'set by BASTIDE_SMTP_URL (read-only here)',
    )
    expect(sourceLabel({ source: 'database', locked: false })).toBe('set here')
    expect(sourceLabel({ source: 'default', locked: false })).toBe('default')
  })
})
