import * as OTPAuth from 'otpauth'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupToken } from '../src/core/auth/setup-token.ts'
import { authCall, pageHeaders, signUp } from './support/auth.ts'
import {
  type ApiResponse,
  createCollection,
  createRecord,
  startTestServer,
  type TestServer,
} from './support/harness.ts'
import { freshCodes } from './support/totp.ts'

let s: TestServer
let sqlc: pg.Client

const ADMIN = { email: 'root@console.test', password: 'granite lantern over the harbour', name: 'Root' }

beforeAll(async () => {
  s = await startTestServer()
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
})
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
})

/** Calls /api/admin/auth/... with no credential, a bearer token, or extra headers (cookies). */
function adminAuthCall(
  method: string,
  path: string,
  body?: unknown,
  o: { token?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  return s.api(method, `/api/admin/auth${path}`, body, {
    as: o.token ?? 'anon',
    ...(o.headers ? { headers: o.headers } : {}),
  })
}

async function adminSignIn(email: string, password: string): Promise<string> {
  const r = await adminAuthCall('POST', '/sign-in/email', { email, password })
  if (r.status !== 200 || typeof r.body?.token !== 'string')
    throw new Error(`admin sign-in failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.token
}

function cookieHeader(r: ApiResponse): string {
  return r.headers
    .getSetCookie()
    .map((l) => l.split(';')[0]!.trim())
    .filter((p) => !p.endsWith('='))
    .join('; ')
}

async function count(query: string, params: unknown[] = []): Promise<number> {
  return Number((await sqlc.query(query, params)).rows[0].n)
}

describe('setup', () => {
  it('creates the first admin once, even under 50 concurrent calls, and refuses every later call', async () => {
    const before = await s.api('GET', '/api/admin/users', undefined, { as: 'anon' })
    expect(before.status).toBe(401)
    // Never for an anonymous caller without the setup token (see admin-setup.test.ts for the token itself).
    const anon = await s.api('POST', '/api/admin/setup', ADMIN, { as: 'anon' })
    expect(anon.status).toBe(401)
    const token = await setupToken(s.bastide.auth.secret)
    const weakBody = { ...ADMIN, password: 'short', setupToken: token }
    const weak = await s.api('POST', '/api/admin/setup', weakBody, { as: 'anon' })
    expect(weak.status).toBe(400)
    expect(await count('SELECT count(*) AS n FROM bastide.admins')).toBe(0)

    // Half with the setup token, half with the admin key.
    const calls = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const body = i === 0 ? ADMIN : { ...ADMIN, email: `racer${i}@console.test` }
        return i % 2 === 0
          ? s.api('POST', '/api/admin/setup', { ...body, setupToken: token }, { as: 'anon' })
          : s.api('POST', '/api/admin/setup', body)
      }),
    )
    const created = calls.filter((r) => r.status === 201)
    expect(created).toHaveLength(1)
    for (const r of calls.filter((x) => x.status !== 201)) {
      // Refused as already set up (or, under the auth rate limits in front, as too many attempts).
      expect([409, 429]).toContain(r.status)
      if (r.status === 409) expect(r.body).toMatchObject({ code: 'CONFLICT', status: 409 })
    }
    expect(await count('SELECT count(*) AS n FROM bastide.admins')).toBe(1)
    // Whoever won, the console has exactly one admin; make it the known one for the rest of the file.
    const winner = created[0]!.body
    if (winner.email !== ADMIN.email) {
      await sqlc.query('DELETE FROM bastide.admins')
      const again = await s.api('POST', '/api/admin/setup', ADMIN)
      expect(again.status).toBe(201)
    }
    for (const as of ['anon', 'admin']) {
      const later = await s.api(
        'POST',
        '/api/admin/setup',
        { ...ADMIN, email: 'late@console.test', ...(as === 'anon' ? { setupToken: token } : {}) },
        { as },
      )
      expect(later.status).toBe(409)
    }
    expect(await count('SELECT count(*) AS n FROM bastide.admins')).toBe(1)
    const audit = await count(`SELECT count(*) AS n FROM bastide.audit_log WHERE action = 'admin.setup'`)
    expect(audit).toBeGreaterThanOrEqual(1)
  })

  it('has no sign-up for admins', async () => {
    const r = await adminAuthCall('POST', '/sign-up/email', {
      email: 'intruder@console.test',
      password: 'granite lantern over the bay',
      name: 'x',
    })
    expect(r.status).toBeGreaterThanOrEqual(400)
    expect(
      await count(`SELECT count(*) AS n FROM bastide.admins WHERE email = 'intruder@console.test'`),
    ).toBe(0)
  })
})

describe('admin sessions', () => {
  it('signs in at /api/admin/auth; the token works on the schema API and the console API', async () => {
    const wrong = await adminAuthCall('POST', '/sign-in/email', {
      email: ADMIN.email,
      password: 'not it at all',
    })
    expect(wrong.status).toBe(401)
    const r = await adminAuthCall('POST', '/sign-in/email', { email: ADMIN.email, password: ADMIN.password })
    expect(r.status).toBe(200)
    const token: string = r.body.token
    const signed = r.headers.get('set-auth-token')!
    expect(signed).toContain('.')
    for (const t of [token, signed]) {
      const col = await s.api(
        'POST',
        '/api/collections',
        { name: `notes_${t === token ? 'a' : 'b'}`, fields: [{ name: 'title', type: 'text' }] },
        { as: t },
      )
      expect(col.status, JSON.stringify(col.body)).toBe(201)
      const users = await s.api('GET', '/api/admin/users', undefined, { as: t })
      expect(users.status).toBe(200)
    }
    const session = await adminAuthCall('GET', '/get-session', undefined, { token })
    expect(session.body.user.email).toBe(ADMIN.email)

    // The admin session is not an app user's.
    const asUser = await authCall(s, 'GET', '/get-session', undefined, { token })
    expect(asUser.status).toBe(200)
    expect(asUser.body).toBeNull()
    const asUserSigned = await authCall(s, 'GET', '/get-session', undefined, { token: signed })
    expect(asUserSigned.body).toBeNull()

    // A forged signature (made with nothing but the raw token) is refused.
    const forged = await s.api('GET', '/api/admin/users', undefined, {
      as: `${token}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`,
    })
    expect(forged.status).toBe(401)

    // Signing out ends it.
    await adminAuthCall('POST', '/sign-out', undefined, { token })
    const after = await s.api('GET', '/api/admin/users', undefined, { as: token })
    expect(after.status).toBe(401)
    // An expired admin session is refused too.
    const t2 = await adminSignIn(ADMIN.email, ADMIN.password)
    await sqlc.query(
      `UPDATE bastide.admin_sessions SET "expiresAt" = now() - interval '1 second' WHERE token = $1`,
      [t2],
    )
    expect((await s.api('GET', '/api/admin/users', undefined, { as: t2 })).status).toBe(401)
  })

  it('an app user, even with role admin, is not a console admin', async () => {
    const u = await signUp(s, 'mallory@example.com')
    await sqlc.query(`UPDATE data.users SET role = 'admin' WHERE id = $1`, [u.id])
    for (const t of [u.token, u.jwt]) {
      const list = await s.api('GET', '/api/admin/users', undefined, { as: t })
      expect(list.status).toBe(403)
      const audit = await s.api('GET', '/api/admin/audit', undefined, { as: t })
      expect(audit.status).toBe(403)
      const ban = await s.api('POST', `/api/admin/users/${u.id}/ban`, {}, { as: t })
      expect(ban.status).toBe(403)
      const col = await s.api('POST', '/api/collections', { name: 'nope', fields: [] }, { as: t })
      expect(col.status).toBe(403)
    }
    const adminSession = await adminAuthCall('GET', '/get-session', undefined, { token: u.token })
    expect(adminSession.body).toBeNull()
    // An API key, even with every scope, is not a console admin either.
    const key = await s.api('POST', '/api/admin/keys', {
      name: 'all',
      scopes: ['schema', 'records:read', 'records:write', 'keys'],
    })
    expect((await s.api('GET', '/api/admin/users', undefined, { as: key.body.key })).status).toBe(403)
  })

  it('TOTP: once enabled, admin sign-in needs the code', async () => {
    const token = await adminSignIn(ADMIN.email, ADMIN.password)
    const en = await adminAuthCall('POST', '/two-factor/enable', { password: ADMIN.password }, { token })
    expect(en.status, JSON.stringify(en.body)).toBe(200)
    const totp = OTPAuth.URI.parse(en.body.totpURI)
    if (!(totp instanceof OTPAuth.TOTP)) throw new Error('not a TOTP URI')
    const next = freshCodes(totp)
    const enableCode = await next()
    const ok = await adminAuthCall('POST', '/two-factor/verify-totp', { code: enableCode }, { token })
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)

    const first = await adminAuthCall('POST', '/sign-in/email', {
      email: ADMIN.email,
      password: ADMIN.password,
    })
    expect(first.status).toBe(200)
    expect(first.body.twoFactorRedirect).toBe(true)
    expect(first.body.token).toBeUndefined()
    const cookie = cookieHeader(first)
    expect(cookie).toContain('bastide_admin.two_factor=')
    const bad = await adminAuthCall(
      'POST',
      '/two-factor/verify-totp',
      { code: totp.generate({ timestamp: Date.now() - 3_600_000 }) },
      { headers: pageHeaders(s, cookie) },
    )
    expect(bad.status).toBe(401)
    // The code that turned TOTP on was used: it opens nothing a second time (RFC 6238 §5.2).
    const replay = await adminAuthCall(
      'POST',
      '/two-factor/verify-totp',
      { code: enableCode },
      { headers: pageHeaders(s, cookie) },
    )
    expect(replay.status).toBe(401)
    const good = await adminAuthCall(
      'POST',
      '/two-factor/verify-totp',
      { code: await next() },
      { headers: pageHeaders(s, cookie) },
    )
    expect(good.status, JSON.stringify(good.body)).toBe(200)
    const t = good.body.token as string
    expect(typeof t).toBe('string')
    expect((await s.api('GET', '/api/admin/users', undefined, { as: t })).status).toBe(200)
    // Other tests sign in with the password alone.
    await sqlc.query(`DELETE FROM bastide.admin_two_factors`)
    await sqlc.query(`UPDATE bastide.admins SET "twoFactorEnabled" = false`)
  })
})

describe('users API', () => {
  let admin: string
  beforeAll(async () => {
    admin = await adminSignIn(ADMIN.email, ADMIN.password)
  })
  const call = (method: string, path: string, body?: unknown) =>
    s.api(method, `/api/admin/users${path}`, body, { as: admin })

  it('creates, lists, searches (parameterized) and reads users', async () => {
    const c = await call('POST', '', {
      email: 'Zed@Example.com',
      password: 'quiet meadow after rain',
      name: 'Zed Zorro',
      verified: true,
    })
    expect(c.status, JSON.stringify(c.body)).toBe(201)
    expect(c.body).toMatchObject({
      email: 'zed@example.com',
      name: 'Zed Zorro',
      verified: true,
      banned: false,
    })
    const dup = await call('POST', '', { email: 'zed@example.com', password: 'quiet meadow after rain' })
    expect(dup.status).toBe(409)
    const weak = await call('POST', '', { email: 'w@example.com', password: 'password123' })
    expect(weak.status).toBe(400)

    // The created user signs in with that password at /api/auth.
    const si = await authCall(s, 'POST', '/sign-in/email', {
      email: 'zed@example.com',
      password: 'quiet meadow after rain',
    })
    expect(si.status).toBe(200)

    await call('POST', '', { email: 'amy_x@example.com', password: 'quiet meadow after rain', name: 'Amy' })
    const byName = await call('GET', '?search=zorro')
    expect(byName.body.items.map((u: any) => u.email)).toEqual(['zed@example.com'])
    const underscore = await call('GET', '?search=y_x')
    expect(underscore.body.items.map((u: any) => u.email)).toEqual(['amy_x@example.com'])
    const injection = await call('GET', `?search=${encodeURIComponent("' OR 1=1 --")}`)
    expect(injection.status).toBe(200)
    expect(injection.body.items).toEqual([])
    const page = await call('GET', '?perPage=1&page=2')
    expect(page.body.items).toHaveLength(1)
    expect(page.body.totalItems).toBeGreaterThanOrEqual(3)

    const one = await call('GET', `/${c.body.id}`)
    expect(one.body.email).toBe('zed@example.com')
    expect((await call('GET', '/not-a-uuid')).status).toBe(400)
    expect((await call('POST', '/not-a-uuid/ban', {})).status).toBe(400)
    expect((await call('GET', '/00000000-0000-7000-8000-00000000abcd')).status).toBe(404)
  })

  it('patches profile and system fields, and verifies', async () => {
    const u = await signUp(s, 'pat@example.com')
    const p = await call('PATCH', `/${u.id}`, {
      name: 'Patricia',
      role: 'editor',
      email: 'Patricia@Example.com',
    })
    expect(p.status, JSON.stringify(p.body)).toBe(200)
    expect(p.body).toMatchObject({ name: 'Patricia', role: 'editor', email: 'patricia@example.com' })
    const bad = await call('PATCH', `/${u.id}`, { nope: 1 })
    expect(bad.status).toBe(400)
    const v = await call('POST', `/${u.id}/verify`)
    expect(v.body.verified).toBe(true)
  })

  it('bans: the session token and the access JWT fail at once; unban lets the user sign in again', async () => {
    const u = await signUp(s, 'ben@example.com')
    const own = `/api/collections/users/records/${u.id}`
    expect((await s.api('GET', own, undefined, { as: u.token })).status).toBe(200)
    expect((await s.api('GET', own, undefined, { as: u.jwt })).status).toBe(200)
    const b = await call('POST', `/${u.id}/ban`, { reason: 'spam' })
    expect(b.status).toBe(200)
    expect(b.body).toMatchObject({ banned: true, banReason: 'spam' })
    expect((await s.api('GET', own, undefined, { as: u.token })).status).toBe(401)
    expect((await s.api('GET', own, undefined, { as: u.jwt })).status).toBe(401)
    const again = await authCall(s, 'POST', '/sign-in/email', { email: u.email, password: u.password })
    expect(again.status).toBe(403)
    const imp = await call('POST', `/${u.id}/impersonate`, {})
    expect(imp.status).toBe(409)

    const ub = await call('POST', `/${u.id}/unban`)
    expect(ub.body.banned).toBe(false)
    const back = await authCall(s, 'POST', '/sign-in/email', { email: u.email, password: u.password })
    expect(back.status).toBe(200)
    expect((await s.api('GET', own, undefined, { as: back.body.token })).status).toBe(200)

    const audit = await s.api('GET', `/api/admin/audit?target=${u.id}`, undefined, { as: admin })
    expect(audit.body.items.map((a: any) => a.action)).toEqual(['user.unban', 'user.ban'])
    expect(audit.body.items[1].actor).toMatch(/^admin:/)
    expect(audit.body.items[1].details).toMatchObject({ reason: 'spam', sessionsRevoked: 1 })
  })

  it('lists and revokes sessions', async () => {
    const u = await signUp(s, 'ria@example.com')
    const list = await call('GET', `/${u.id}/sessions`)
    expect(list.body.items).toHaveLength(1)
    expect(list.body.items[0].token).toBeUndefined()
    const r = await call('DELETE', `/${u.id}/sessions`)
    expect(r.body).toEqual({ revoked: 1 })
    expect(
      (await s.api('GET', `/api/collections/users/records/${u.id}`, undefined, { as: u.token })).status,
    ).toBe(401)
    expect(
      (await s.api('GET', `/api/collections/users/records/${u.id}`, undefined, { as: u.jwt })).status,
    ).toBe(401)
    expect((await call('GET', `/${u.id}/sessions`)).body.items).toHaveLength(0)
  })

  it('impersonates: a short session marked with the admin, working on the records API, then expiring', async () => {
    const u = await signUp(s, 'ivy@example.com')
    await createCollection(s, {
      name: 'diaries',
      fields: [
        { name: 'text', type: 'text' },
        { name: 'owner', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
      ],
      rules: { list: 'owner = @request.auth.id', view: 'owner = @request.auth.id' },
    })
    await createRecord(s, 'diaries', { text: 'mine', owner: u.id })
    const other = await signUp(s, 'other@example.com')
    await createRecord(s, 'diaries', { text: 'theirs', owner: other.id })

    expect((await call('POST', `/${u.id}/impersonate`, { minutes: 61 })).status).toBe(400)
    const imp = await call('POST', `/${u.id}/impersonate`, { minutes: 5 })
    expect(imp.status, JSON.stringify(imp.body)).toBe(201)
    const adminId = (await sqlc.query('SELECT id FROM bastide.admins')).rows[0].id
    const row = (
      await sqlc.query(
        `SELECT "impersonatedBy", "expiresAt" - now() < interval '6 minutes' AS short FROM bastide.auth_sessions WHERE token = $1`,
        [imp.body.token],
      )
    ).rows[0]
    expect(row).toEqual({ impersonatedBy: adminId, short: true })
    const diaries = await s.api('GET', '/api/collections/diaries/records', undefined, { as: imp.body.token })
    expect(diaries.status).toBe(200)
    expect(diaries.body.items.map((d: any) => d.text)).toEqual(['mine'])
    const session = await authCall(s, 'GET', '/get-session', undefined, { token: imp.body.token })
    expect(session.body.user.id).toBe(u.id)

    const audit = await s.api('GET', `/api/admin/audit?target=${u.id}&action=user.impersonate`, undefined, {
      as: admin,
    })
    expect(audit.body.items).toHaveLength(1)
    expect(audit.body.items[0]).toMatchObject({ actor: `admin:${adminId}`, details: { minutes: 5 } })

    await sqlc.query(
      `UPDATE bastide.auth_sessions SET "expiresAt" = now() - interval '1 second' WHERE token = $1`,
      [imp.body.token],
    )
    expect(
      (await s.api('GET', '/api/collections/diaries/records', undefined, { as: imp.body.token })).status,
    ).toBe(401)
  })

  it('deletes a user: sessions, accounts and cascading records go with it', async () => {
    const u = await signUp(s, 'del@example.com')
    await createRecord(s, 'diaries', { text: 'to go', owner: u.id })
    expect(await count(`SELECT count(*) AS n FROM data.diaries WHERE owner = $1`, [u.id])).toBe(1)
    const d = await call('DELETE', `/${u.id}`)
    expect(d.status).toBe(204)
    expect(await count(`SELECT count(*) AS n FROM data.users WHERE id = $1`, [u.id])).toBe(0)
    expect(await count(`SELECT count(*) AS n FROM bastide.auth_sessions WHERE "userId" = $1`, [u.id])).toBe(0)
    expect(await count(`SELECT count(*) AS n FROM bastide.auth_accounts WHERE "userId" = $1`, [u.id])).toBe(0)
    expect(await count(`SELECT count(*) AS n FROM data.diaries WHERE owner = $1`, [u.id])).toBe(0)
    expect(
      (await s.api('GET', `/api/collections/users/records/${u.id}`, undefined, { as: u.token })).status,
    ).toBe(401)
    expect((await call('DELETE', `/${u.id}`)).status).toBe(404)
    const audit = await s.api('GET', `/api/admin/audit?target=${u.id}`, undefined, { as: admin })
    expect(audit.body.items.map((a: any) => a.action)).toEqual(['user.delete'])
  })

  it('answers the admin key too', async () => {
    const r = await s.api('GET', '/api/admin/users?perPage=1')
    expect(r.status).toBe(200)
  })
})
