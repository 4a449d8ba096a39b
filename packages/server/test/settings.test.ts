import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSettingsCipher } from '../src/core/settings/cipher.ts'
import type { Bastide } from '../src/server.ts'
import { authCall, signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createKey,
  createTestDatabase,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from './support/harness.ts'
import { type Mailbox, startMailbox } from './support/mailbox.ts'
import { startQuietBastide } from './support/own-cluster.ts'

const SMTP_PASSWORD = 'pa55-w0rd-never-in-the-clear'
const OAUTH_SECRET = 'gh-client-secret-never-in-the-clear'

let s: TestServer
let mail: Mailbox

beforeAll(async () => {
  mail = await startMailbox()
  // No BASTIDE_AUTH_RATE_LIMIT, BASTIDE_SMTP_URL or BASTIDE_CORS_ORIGINS: those come from the settings here.
  s = await startTestServer({
    env: { BASTIDE_AUTH_RATE_LIMIT: '', BASTIDE_PUBLIC_URL: 'http://localhost:8787' },
  })
})
afterAll(async () => {
  await s?.close()
  await mail?.close()
})

const patch = (body: unknown, as?: string) => s.api('PATCH', '/api/admin/settings', body, as ? { as } : {})
const rows = async () =>
  (
    await sql<{
      key: string
      value: unknown
      updated_by: string
    }>`SELECT key, value, updated_by FROM bastide.settings`.execute(s.bastide.database.db)
  ).rows

describe('access', () => {
  it('is for console admins and the admin key only', async () => {
    expect((await s.api('GET', '/api/admin/settings', undefined, { as: 'anon' })).status).toBe(401)
    const key = await createKey(s, [
      'schema',
      'records:read',
      'records:write',
      'storage:read',
      'storage:write',
      'keys',
    ])
    const r = await s.api('GET', '/api/admin/settings', undefined, { as: key })
    expect(r.status).toBe(403)
    expect(r.body.code).toBe('FORBIDDEN')
    expect((await patch({ cors: { origins: ['*'] } }, key)).status).toBe(403)
  })

  it('shows every group with defaults when nothing is set', async () => {
    const r = await s.api('GET', '/api/admin/settings')
    expect(r.status).toBe(200)
    expect(r.body.smtp.url).toEqual({
      value: { set: false },
      source: 'default',
      locked: false,
      env: 'BASTIDE_SMTP_URL',
    })
    expect(r.body.cors.origins).toMatchObject({ value: ['*'], source: 'default', locked: false })
    expect(r.body.rateLimits.authPerMinute).toMatchObject({ value: 30, source: 'default' })
    expect(Object.keys(r.body.auth.methods).sort()).toEqual(
      ['anonymous', 'emailOtp', 'emailPasswordSignUp', 'magicLink', 'passkey', 'phoneOtp'].sort(),
    )
    expect(r.body.oauth).toEqual({ providers: [], restartRequired: false })
  })
})

describe('validation', () => {
  it('answers 400 VALIDATION_FAILED with the path of each bad field, and writes nothing', async () => {
    const r = await patch({
      cors: { origins: ['https://ok.example.com', 'https://bad.example.com/path'] },
      rateLimits: { authPerMinute: 0 },
      smtp: { url: 'http://not-smtp' },
      oauth: { providers: [{ id: 'kc', type: 'oidc', clientId: 'x' }] },
    })
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('VALIDATION_FAILED')
    expect(Object.keys(r.body.details.fields).sort()).toEqual(
      ['cors.origins.1', 'oauth.providers.0.issuer', 'rateLimits.authPerMinute', 'smtp.url'].sort(),
    )
    expect(await rows()).toEqual([])
  })

  it('refuses unknown groups and fields rather than ignoring them', async () => {
    const r = await patch({ smtp: { password: 'x' }, theme: {} })
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('VALIDATION_FAILED')
  })
})

describe('secrets', () => {
  it('are encrypted at rest, shown only as set, and kept out of the audit log', async () => {
    const url = `smtp://mailer:${SMTP_PASSWORD}@127.0.0.1:${new URL(mail.url).port}`
    const r = await patch({
      smtp: { url, from: 'Ops <ops@example.com>' },
      oauth: {
        providers: [{ id: 'github', type: 'social', clientId: 'gh-client-id', clientSecret: OAUTH_SECRET }],
      },
    })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.smtp.url).toMatchObject({ value: { set: true }, source: 'database' })
    expect(r.body.smtp.from).toMatchObject({ value: 'Ops <ops@example.com>', source: 'database' })
    expect(r.body.oauth.providers).toEqual([
      {
        id: 'github',
        type: 'social',
        clientId: 'gh-client-id',
        clientSecret: { set: true },
        scopes: [],
        enabled: true,
        source: 'database',
        locked: false,
      },
    ])
    // A built-in provider applies at once (see 'OAuth providers'): nothing waits for a restart.
    expect(r.body.oauth.restartRequired).toBe(false)
    const get = await s.api('GET', '/api/admin/settings')
    for (const body of [JSON.stringify(r.body), JSON.stringify(get.body)]) {
      expect(body).not.toContain(SMTP_PASSWORD)
      expect(body).not.toContain(OAUTH_SECRET)
    }

    const stored = await rows()
    const raw = JSON.stringify(stored)
    expect(raw).not.toContain(SMTP_PASSWORD)
    expect(raw).not.toContain(OAUTH_SECRET)
    expect(raw).not.toContain('mailer') // the whole URL is sealed, user name included
    const smtp = stored.find((x) => x.key === 'smtp')!.value as { url: any }
    expect(smtp.url).toMatchObject({ $sealed: 'v1' })
    expect(Buffer.from(smtp.url.iv, 'base64')).toHaveLength(12)
    // Sealed with the key derived from BASTIDE_SECRET (HKDF-SHA256, info 'bastide settings v1').
    expect(createSettingsCipher(TEST_SECRET).open(smtp.url)).toBe(url)
    expect(() => createSettingsCipher(`${TEST_SECRET}-other`).open(smtp.url)).toThrow()
    expect(stored.find((x) => x.key === 'smtp')!.updated_by).toBe('admin')

    const audit = await s.api('GET', '/api/admin/audit?action=settings.update')
    expect(audit.status).toBe(200)
    const entry = audit.body.items[0]
    expect(entry).toMatchObject({ actor: 'admin', action: 'settings.update', target: 'settings' })
    expect(entry.diff.after['smtp.url']).toEqual({ set: true, replaced: true })
    expect(entry.diff.before['smtp.url']).toEqual({ set: false })
    expect(entry.diff.after['oauth.providers'][0].clientSecret).toEqual({ set: true, replaced: true })
    const trail = JSON.stringify(audit.body)
    expect(trail).not.toContain(SMTP_PASSWORD)
    expect(trail).not.toContain(OAUTH_SECRET)
  })

  it('keeps a stored secret when a provider is sent back without one', async () => {
    const r = await patch({
      oauth: { providers: [{ id: 'github', type: 'social', clientId: 'gh-client-id-2', enabled: true }] },
    })
    expect(r.status).toBe(200)
    expect(r.body.oauth.providers[0]).toMatchObject({
      clientId: 'gh-client-id-2',
      clientSecret: { set: true },
    })
    const audit = await s.api('GET', '/api/admin/audit?action=settings.update')
    expect(audit.body.items[0].diff.after['oauth.providers'][0].clientSecret).toEqual({ set: true })
  })
})

describe('applied at run time', () => {
  const preflight = (origin: string) =>
    s.bastide.app.request('/api/health', {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'GET' },
    })

  it('CORS: the next preflight follows the origins, no restart', async () => {
    expect((await preflight('https://b.example.com')).headers.get('access-control-allow-origin')).toBe('*')
    expect((await patch({ cors: { origins: ['https://a.example.com'] } })).status).toBe(200)
    expect((await preflight('https://b.example.com')).headers.get('access-control-allow-origin')).toBe(null)
    expect((await preflight('https://a.example.com')).headers.get('access-control-allow-origin')).toBe(
      'https://a.example.com',
    )
    const get = await s.bastide.app.request('/api/health', { headers: { origin: 'https://a.example.com' } })
    expect(get.headers.get('access-control-allow-origin')).toBe('https://a.example.com')
    expect(
      (await patch({ cors: { origins: ['https://a.example.com', 'https://b.example.com'] } })).status,
    ).toBe(200)
    expect((await preflight('https://b.example.com')).headers.get('access-control-allow-origin')).toBe(
      'https://b.example.com',
    )
    // null: back to the default (BASTIDE_CORS_ORIGINS' default, any origin).
    const reset = await patch({ cors: { origins: null } })
    expect(reset.body.cors.origins).toMatchObject({ value: ['*'], source: 'default' })
    expect((await preflight('https://c.example.com')).headers.get('access-control-allow-origin')).toBe('*')
  })

  it('a disabled sign-in method is refused with 403 METHOD_DISABLED, and works again once enabled', async () => {
    expect((await authCall(s, 'POST', '/sign-in/anonymous')).status).toBe(200)
    expect(
      (await patch({ auth: { methods: { anonymous: false, emailPasswordSignUp: false } } })).status,
    ).toBe(200)
    const r = await authCall(s, 'POST', '/sign-in/anonymous')
    expect(r.status).toBe(403)
    expect(r.body).toMatchObject({
      code: 'METHOD_DISABLED',
      message: 'Anonymous sign-in is disabled on this server.',
    })
    const up = await authCall(s, 'POST', '/sign-up/email', {
      email: 'nobody@example.com',
      password: 'a long enough passphrase 42',
      name: 'N',
    })
    expect(up.status).toBe(403)
    expect(up.body.code).toBe('METHOD_DISABLED')
    expect((await patch({ auth: { methods: { anonymous: null, emailPasswordSignUp: true } } })).status).toBe(
      200,
    )
    expect((await authCall(s, 'POST', '/sign-in/anonymous')).status).toBe(200)
    await signUp(s, 'somebody@example.com')
  })

  it('a disabled OAuth provider is refused', async () => {
    await patch({
      oauth: { providers: [{ id: 'github', type: 'social', clientId: 'gh-client-id', enabled: false }] },
    })
    const r = await authCall(s, 'POST', '/sign-in/social', { provider: 'github', callbackURL: '/' })
    expect(r.status).toBe(403)
    expect(r.body).toMatchObject({
      code: 'METHOD_DISABLED',
      message: 'Sign-in with github is disabled on this server.',
    })
  })

  it('the auth rate limit follows the setting', async () => {
    expect((await patch({ rateLimits: { authPerMinute: 2 } })).status).toBe(200)
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await authCall(s, 'GET', '/ok-settings-limit')).status)
    expect(statuses.slice(0, 2)).not.toContain(429)
    expect(statuses[2]).toBe(429)
    expect((await patch({ rateLimits: { authPerMinute: 100000 } })).status).toBe(200)
    expect((await authCall(s, 'GET', '/ok-settings-limit')).status).not.toBe(429)
  })

  it('mail goes through the SMTP settings in force', async () => {
    await patch({ smtp: { url: mail.url } })
    expect((await authCall(s, 'POST', '/sign-in/magic-link', { email: 'link@example.com' })).status).toBe(200)
    const m = await mail.next('link@example.com', /sign-in link/i)
    expect(m.from).toBe('ops@example.com')
  })
})

describe('SMTP test mail', () => {
  it('sends a real mail through the settings in force', async () => {
    await patch({ smtp: { url: mail.url } })
    const r = await s.api('POST', '/api/admin/settings/smtp/test', { to: 'Ops@Example.com' })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toEqual({ sent: true, to: 'Ops@Example.com' })
    const m = await mail.next('ops@example.com', /test mail/i)
    expect(m.subject).toBe('Bastide test mail')
  })

  it("answers a refusal with 400 and the SMTP server's own message", async () => {
    const refusing = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(_address, _session, cb) {
        const err = new Error('Mailbox unavailable: relaying denied here') as Error & { responseCode: number }
        err.responseCode = 550
        cb(err)
      },
    })
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve))
    try {
      const port = (refusing.server.address() as AddressInfo).port
      await patch({ smtp: { url: `smtp://127.0.0.1:${port}` } })
      const r = await s.api('POST', '/api/admin/settings/smtp/test', { to: 'ops@example.com' })
      expect(r.status).toBe(400)
      expect(r.body.code).toBe('BAD_REQUEST')
      expect(r.body.message).toContain('relaying denied here')
      expect(r.body.details.smtp.responseCode).toBe(550)
    } finally {
      await new Promise<void>((resolve) => refusing.close(() => resolve()))
    }
  })

  it('answers 400 when nothing listens, and when no SMTP is configured', async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = new SMTPServer({ logger: false })
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.server.address() as AddressInfo).port
        srv.close(() => resolve(p))
      })
    })
    await patch({ smtp: { url: `smtp://127.0.0.1:${closed}` } })
    const down = await s.api('POST', '/api/admin/settings/smtp/test', { to: 'ops@example.com' })
    expect(down.status).toBe(400)
    expect(down.body.message).toContain('ECONNREFUSED')
    await patch({ smtp: { url: null } })
    const none = await s.api('POST', '/api/admin/settings/smtp/test', { to: 'ops@example.com' })
    expect(none.status).toBe(400)
    expect(none.body.message).toContain('No SMTP server is configured')
    const bad = await s.api('POST', '/api/admin/settings/smtp/test', { to: 'not an address' })
    expect(bad.status).toBe(400)
    expect(bad.body.details.fields.to).toBeDefined()
  })
})

describe('OAuth providers', () => {
  const signInUrl = async (provider: string) => {
    const r = await authCall(s, 'POST', '/sign-in/social', {
      provider,
      callbackURL: '/',
      disableRedirect: true,
    })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    return new URL(r.body.url)
  }

  it('a built-in provider added or changed at run time signs in at once', async () => {
    await patch({
      oauth: { providers: [{ id: 'gitlab', type: 'social', clientId: 'gl-one', clientSecret: 'gl-secret' }] },
    })
    const u = await signInUrl('gitlab')
    expect(u.origin).toBe('https://gitlab.com')
    expect(u.searchParams.get('client_id')).toBe('gl-one')
    await patch({ oauth: { providers: [{ id: 'gitlab', type: 'social', clientId: 'gl-two' }] } })
    expect((await signInUrl('gitlab')).searchParams.get('client_id')).toBe('gl-two')
    // Removed: better-auth no longer knows it.
    await patch({ oauth: { providers: [] } })
    const gone = await authCall(s, 'POST', '/sign-in/social', { provider: 'gitlab', callbackURL: '/' })
    expect(gone.status).toBe(404)
  })

  it('an OIDC provider added at run time signs in through its discovery document at once', async () => {
    const op = createServer((req, res) => {
      const base = `http://127.0.0.1:${(op.address() as AddressInfo).port}`
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            issuer: base,
            authorization_endpoint: `${base}/authorize`,
            token_endpoint: `${base}/token`,
            jwks_uri: `${base}/jwks`,
            id_token_signing_alg_values_supported: ['RS256'],
          }),
        )
      } else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => op.listen(0, '127.0.0.1', resolve))
    try {
      const issuer = `http://127.0.0.1:${(op.address() as AddressInfo).port}`
      const r = await patch({
        oauth: {
          providers: [
            { id: 'corp', type: 'oidc', clientId: 'corp-client', clientSecret: 'corp-secret', issuer },
          ],
        },
      })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body.oauth.providers[0]).toMatchObject({ id: 'corp', scopes: ['openid', 'email', 'profile'] })
      // Native ID-token sign-in knows only the OIDC providers the node started with: the API says so.
      expect(r.body.oauth.restartRequired).toBe(true)
      const u = await signInUrl('corp')
      expect(`${u.origin}${u.pathname}`).toBe(`${issuer}/authorize`)
      expect(u.searchParams.get('client_id')).toBe('corp-client')
      expect(u.searchParams.get('code_challenge')).toBeTruthy()
    } finally {
      await new Promise<void>((resolve) => op.close(() => resolve()))
      await patch({ oauth: { providers: [] } })
    }
  })

  it('a provider stored in the settings is built into better-auth at the next start', async () => {
    await patch({
      oauth: {
        providers: [
          {
            id: 'github',
            type: 'social',
            clientId: 'gh-client-id',
            clientSecret: OAUTH_SECRET,
            enabled: true,
          },
          // Its issuer does not answer: the node starts anyway, and knows it for native ID-token sign-in.
          { id: 'corp', type: 'oidc', clientId: 'corp-client', issuer: 'http://127.0.0.1:1' },
        ],
      },
    })
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'bastide-settings-'))
    let other: Bastide | undefined
    try {
      other = await startQuietBastide(s.dbUrl, { BASTIDE_SECRET: TEST_SECRET, BASTIDE_DATA_DIR: dataDir })
      const r = await other.app.request('/api/auth/sign-in/social', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'github', callbackURL: '/', disableRedirect: true }),
      })
      const body = (await r.json()) as { url: string }
      expect(r.status, JSON.stringify(body)).toBe(200)
      expect(new URL(body.url).searchParams.get('client_id')).toBe('gh-client-id')
      // That node started with it: nothing waits for a restart there.
      const view = await other.app.request('/api/admin/settings', {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
      expect(((await view.json()) as any).oauth.restartRequired).toBe(false)

      // Removed in the settings: that node refuses it for ID-token sign-in too, once it re-reads them.
      const idToken = () =>
        other!.app.request('/api/auth/sign-in/id-token', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ providerId: 'corp', idToken: 'not.a.token' }),
        })
      expect((await idToken()).status).not.toBe(404)
      await patch({ oauth: { providers: [] } })
      await other.scheduler.runNow('settings', 'refresh')
      const gone = await idToken()
      expect(gone.status).toBe(404)
      expect(await gone.json()).toMatchObject({ code: 'PROVIDER_NOT_FOUND' })
    } finally {
      await other?.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})

describe('atomicity', () => {
  it('a write whose audit entry fails leaves the settings as they were', async () => {
    // Its own server: the failing audit write is answered with a 500 on purpose.
    const f = await startTestServer({ allowInternalErrors: true })
    try {
      // A real fault in the real database: the audit log refuses every insert.
      await sql`
        CREATE FUNCTION bastide.refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$;
        CREATE TRIGGER refuse_audit BEFORE INSERT ON bastide.audit_log
          FOR EACH ROW EXECUTE FUNCTION bastide.refuse_audit();`.execute(f.bastide.database.db)
      const r = await f.api('PATCH', '/api/admin/settings', {
        cors: { origins: ['https://rolled-back.example.com'] },
      })
      expect(r.status).toBe(500)
      const n = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.settings`.execute(
        f.bastide.database.db,
      )
      expect(n.rows[0]!.n).toBe(0)
      const get = await f.api('GET', '/api/admin/settings')
      expect(get.body.cors.origins).toMatchObject({ value: ['*'], source: 'default' })
    } finally {
      await f.close()
    }
  })
})

describe('environment wins', () => {
  let e: TestServer
  beforeAll(async () => {
    e = await startTestServer({
      env: {
        BASTIDE_CORS_ORIGINS: 'https://env.example.com',
        BASTIDE_OAUTH_GITHUB_CLIENT_ID: 'env-gh',
        BASTIDE_OAUTH_GITHUB_CLIENT_SECRET: 'env-gh-secret',
      },
    })
  })
  afterAll(async () => {
    await e?.close()
  })

  it('shows env values as locked, with the variable', async () => {
    const r = await e.api('GET', '/api/admin/settings')
    expect(r.body.cors.origins).toEqual({
      value: ['https://env.example.com'],
      source: 'env',
      locked: true,
      env: 'BASTIDE_CORS_ORIGINS',
    })
    expect(r.body.rateLimits.authPerMinute).toMatchObject({ value: 100000, source: 'env', locked: true })
    expect(r.body.oauth.providers).toEqual([
      {
        id: 'github',
        type: 'social',
        clientId: 'env-gh',
        clientSecret: { set: true },
        scopes: [],
        enabled: true,
        source: 'env',
        locked: true,
        env: 'BASTIDE_OAUTH_GITHUB_CLIENT_ID',
      },
    ])
    expect(JSON.stringify(r.body)).not.toContain('env-gh-secret')
  })

  it('answers 409 naming the variable for a locked value, and changes nothing', async () => {
    const r = await e.api('PATCH', '/api/admin/settings', {
      rateLimits: { authPerMinute: 5 },
      cors: { origins: ['https://db.example.com'] },
    })
    expect(r.status).toBe(409)
    expect(r.body.code).toBe('CONFLICT')
    expect(r.body.message).toMatch(/BASTIDE_(CORS_ORIGINS|AUTH_RATE_LIMIT)/)
    const p = await e.api('PATCH', '/api/admin/settings', {
      oauth: { providers: [{ id: 'github', type: 'social', clientId: 'db-gh' }] },
    })
    expect(p.status).toBe(409)
    expect(p.body.message).toContain('BASTIDE_OAUTH_GITHUB_CLIENT_ID')
    const count = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.settings`.execute(
      e.bastide.database.db,
    )
    expect(count.rows[0]!.n).toBe(0)
  })

  it('a value stored before the variable was set is overridden by it', async () => {
    await sql`INSERT INTO bastide.settings (key, value) VALUES ('cors', '{"origins":["https://db.example.com"]}')`.execute(
      e.bastide.database.db,
    )
    await e.bastide.scheduler.runNow('settings', 'refresh')
    const r = await e.api('GET', '/api/admin/settings')
    expect(r.body.cors.origins).toMatchObject({ value: ['https://env.example.com'], source: 'env' })
    const pre = await e.bastide.app.request('/api/health', {
      method: 'OPTIONS',
      headers: { origin: 'https://db.example.com', 'access-control-request-method': 'GET' },
    })
    expect(pre.headers.get('access-control-allow-origin')).toBe(null)
  })
})

describe('two nodes sharing PostgreSQL and Redis', () => {
  it('a change made on one node applies on the other', async () => {
    const db = await createTestDatabase()
    const dirs = await Promise.all(
      [0, 1].map(() => mkdtemp(path.join(os.tmpdir(), 'bastide-settings-node-'))),
    )
    const env = (dataDir: string) => ({
      BASTIDE_SECRET: TEST_SECRET,
      BASTIDE_DATA_DIR: dataDir,
      REDIS_URL: 'redis://127.0.0.1:6379',
      BASTIDE_REDIS_PREFIX: `t${randomBytes(4).toString('hex')}:`,
    })
    const shared = env(dirs[0]!)
    const nodes: Bastide[] = []
    try {
      nodes.push(await startQuietBastide(db.url, shared))
      nodes.push(await startQuietBastide(db.url, { ...shared, BASTIDE_DATA_DIR: dirs[1]! }))
      const [a, b] = nodes as [Bastide, Bastide]
      const allowOn = async (node: Bastide, origin: string) =>
        (
          await node.app.request('/api/health', {
            method: 'OPTIONS',
            headers: { origin, 'access-control-request-method': 'GET' },
          })
        ).headers.get('access-control-allow-origin')
      expect(await allowOn(b, 'https://x.example.com')).toBe('*')
      const r = await a.app.request('/api/admin/settings', {
        method: 'PATCH',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cors: { origins: ['https://only.example.com'] } }),
      })
      expect(r.status).toBe(200)
      expect(await allowOn(a, 'https://x.example.com')).toBe(null)
      // B hears it through Redis and re-reads the table: wait for it (bounded), not for a fixed time.
      const deadline = Date.now() + 10_000
      while ((await allowOn(b, 'https://x.example.com')) !== null && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 25))
      expect(await allowOn(b, 'https://x.example.com')).toBe(null)
      expect(await allowOn(b, 'https://only.example.com')).toBe('https://only.example.com')
    } finally {
      for (const n of nodes) await n.close()
      await db.drop()
      for (const d of dirs) await rm(d, { recursive: true, force: true })
    }
  })
})
