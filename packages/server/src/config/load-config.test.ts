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

  it('bounds database statements at 5 s unless told otherwise, and refuses nonsense', () => {
    expect(loadConfig({}).dbStatementTimeoutMs).toBe(5000)
    expect(loadConfig({ BASTIDE_DB_STATEMENT_TIMEOUT_MS: '15000' }).dbStatementTimeoutMs).toBe(15_000)
    for (const bad of ['0', '-1', 'soon', '1.5'])
      expect(() => loadConfig({ BASTIDE_DB_STATEMENT_TIMEOUT_MS: bad }), bad).toThrow(ConfigError)
  })

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(8787)
  })

  it('stores files on local disk unless S3 is configured', () => {
    expect(loadConfig({}).s3).toBeUndefined()
  })

  it('selects S3 with endpoint, bucket and keys', () => {
    const c = loadConfig({
      BASTIDE_S3_ENDPOINT: 'https://s3.fr-par.scw.cloud/',
      BASTIDE_S3_BUCKET: 'bastide-files',
      BASTIDE_S3_ACCESS_KEY: 'AK',
      BASTIDE_S3_SECRET_KEY: 'SK',
    })
    expect(c.s3).toEqual({
      endpoint: 'https://s3.fr-par.scw.cloud',
      region: 'us-east-1',
      bucket: 'bastide-files',
      accessKey: 'AK',
      secretKey: 'SK',
      pathStyle: true,
    })
    expect(Object.isFrozen(c.s3)).toBe(true)
    const minio = loadConfig({
      BASTIDE_S3_ENDPOINT: 'http://127.0.0.1:9000',
      BASTIDE_S3_REGION: 'fr-par',
      BASTIDE_S3_BUCKET: 'files',
      BASTIDE_S3_ACCESS_KEY: 'AK',
      BASTIDE_S3_SECRET_KEY: 'SK',
      BASTIDE_S3_PATH_STYLE: 'false',
    })
    expect(minio.s3).toMatchObject({ endpoint: 'http://127.0.0.1:9000', region: 'fr-par', pathStyle: false })
  })

  it('fails naming the missing S3 variables when only some are set', () => {
    try {
      loadConfig({ BASTIDE_S3_ENDPOINT: 'http://127.0.0.1:9000', BASTIDE_S3_ACCESS_KEY: 'AK' })
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError)
      const vars = (e as ConfigError).issues.map((i) => i.variable).sort()
      expect(vars).toEqual(['BASTIDE_S3_BUCKET', 'BASTIDE_S3_SECRET_KEY'])
    }
  })

  it('rejects a malformed S3 endpoint or bucket', () => {
    try {
      loadConfig({
        BASTIDE_S3_ENDPOINT: 's3.example.com',
        BASTIDE_S3_BUCKET: 'Not_A_Bucket',
        BASTIDE_S3_ACCESS_KEY: 'AK',
        BASTIDE_S3_SECRET_KEY: 'SK',
      })
      expect.unreachable()
    } catch (e) {
      const vars = (e as ConfigError).issues.map((i) => i.variable).sort()
      expect(vars).toEqual(['BASTIDE_S3_BUCKET', 'BASTIDE_S3_ENDPOINT'])
    }
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
