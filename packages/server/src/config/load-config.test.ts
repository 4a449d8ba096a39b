import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './load-config.ts'

describe('loadConfig', () => {
  it('applies defaults', () => {
    const c = loadConfig({ INIT_CWD: '/srv/app' })
    expect(c.port).toBe(8787)
    expect(c.databaseUrl).toBeUndefined()
    expect(c.dataDir).toBe('/srv/app/.bastide')
    expect(c.corsOrigins).toEqual(['*'])
    expect(Object.isFrozen(c)).toBe(true)
  })

  it('honours the documented names', () => {
    const c = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://u:p@db:5432/app',
      BASTIDE_DATA_DIR: '/var/lib/bastide',
      BASTIDE_ADMIN_KEY: 'bst_sk_0123456789abcdef0123456789abcdef',
      BASTIDE_CORS_ORIGINS: 'https://a.example, https://b.example',
      BASTIDE_LOG_LEVEL: 'debug',
    })
    expect(c).toMatchObject({
      port: 9000,
      databaseUrl: 'postgres://u:p@db:5432/app',
      dataDir: '/var/lib/bastide',
      adminKey: 'bst_sk_0123456789abcdef0123456789abcdef',
      corsOrigins: ['https://a.example', 'https://b.example'],
      logLevel: 'debug',
    })
  })

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(8787)
  })

  it('fails naming every bad variable', () => {
    try {
      loadConfig({
        PORT: 'eighty',
        BASTIDE_ADMIN_KEY: 'short',
        DATABASE_URL: 'mysql://x',
        BASTIDE_LOG_LEVEL: 'loud',
      })
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError)
      const vars = (e as ConfigError).issues.map((i) => i.variable).sort()
      expect(vars).toEqual(['BASTIDE_ADMIN_KEY', 'BASTIDE_LOG_LEVEL', 'DATABASE_URL', 'PORT'])
      expect((e as Error).message).toContain('BASTIDE_ADMIN_KEY')
    }
  })
})
