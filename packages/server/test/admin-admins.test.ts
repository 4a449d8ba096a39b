import * as OTPAuth from 'otpauth'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, signUp } from './support/auth.ts'
import { type ApiResponse, createKey, startTestServer, type TestServer } from './support/harness.ts'
import { freshCodes } from './support/totp.ts'

/**
 * /api/admin/admins: console admins managed by console admins (list, create, delete; never oneself, never the
 * last one; audited), and console admins' passkeys in their own table.
 */

let s: TestServer
let sqlc: pg.Client
const FIRST = { email: 'first@console.test', password: 'granite lantern over the harbour', name: 'First' }
let first: { id: string; token: string }

beforeAll(async () => {
  s = await startTestServer()
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
  const r = await s.api('POST', '/api/admin/setup', FIRST)
  expect(r.status).toBe(201)
  first = { id: r.body.id, token: await adminSignIn(FIRST.email, FIRST.password) }
})
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
})

async function adminSignIn(email: string, password: string): Promise<string> {
  const r = await s.api('POST', '/api/admin/auth/sign-in/email', { email, password }, { as: 'anon' })
  if (r.status !== 200 || typeof r.body?.token !== 'string')
    throw new Error(`admin sign-in failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.token
}

const admins = (method: string, path = '', body?: unknown, as?: string): Promise<ApiResponse> =>
  s.api(method, `/api/admin/admins${path}`, body, { as: as ?? first.token })

async function auditOf(action: string, target: string) {
  return (
    await sqlc.query(
      'SELECT actor, action, target, details, diff FROM bastide.audit_log WHERE action = $1 AND target = $2',
      [action, target],
    )
  ).rows
}

function expectError(r: ApiResponse, status: number, code?: string) {
  expect(r.status).toBe(status)
  expect(r.body).toMatchObject({ status, ...(code ? { code } : {}) })
  expect(typeof r.body.message).toBe('string')
}

describe('who may manage admins', () => {
  it('only console admins (a session or the admin key): anonymous 401, API keys and app users refused', async () => {
    expectError(await admins('GET', '', undefined, 'anon'), 401, 'UNAUTHORIZED')
    // Even a key holding every scope is not a console admin.
    const key = await createKey(s, [
      'schema',
      'records:read',
      'records:write',
      'storage:read',
      'storage:write',
      'keys',
    ])
    expectError(await admins('GET', '', undefined, key), 403, 'FORBIDDEN')
    expectError(
      await admins('POST', '', { email: 'k@console.test', password: 'a long and unusual passphrase' }, key),
      403,
    )
    // An app user's session is no admin's: its token does not resolve as one.
    const user = await signUp(s, 'app-user@console.test')
    const asUser = await admins('GET', '', undefined, user.token)
    expect([401, 403]).toContain(asUser.status)
    expect((await admins('GET', '', undefined, 'admin')).status).toBe(200)
    expect((await admins('GET')).status).toBe(200)
  })
})

describe('listing', () => {
  it('lists admins with their second factors and last sign-in, never a secret', async () => {
    const r = await admins('GET')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ page: 1, perPage: 50, totalItems: 1, totalPages: 1 })
    const [a] = r.body.items
    expect(a).toEqual({
      id: first.id,
      email: FIRST.email,
      name: FIRST.name,
      twoFactorEnabled: false,
      passkeys: 0,
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      lastSignIn: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    expect(JSON.stringify(r.body)).not.toMatch(/password|secret|token/i)
    expect((await admins('GET', `/${first.id}`)).body.email).toBe(FIRST.email)
  })

  it('refuses bad paging and unknown ids with 4xx', async () => {
    expectError(await admins('GET', '?perPage=0'), 400, 'VALIDATION_FAILED')
    expectError(await admins('GET', '?page=abc'), 400, 'VALIDATION_FAILED')
    expectError(await admins('GET', '/not-a-uuid'), 400, 'BAD_REQUEST')
    expectError(await admins('GET', `/${crypto.randomUUID()}`), 404, 'NOT_FOUND')
  })
})

describe('creating', () => {
  it('refuses bad input with field-level 400s and creates nothing', async () => {
    const n = async () => Number((await sqlc.query('SELECT count(*) AS n FROM bastide.admins')).rows[0].n)
    const before = await n()
    for (const [body, field] of [
      [{ email: 'not-an-email', password: 'a long and unusual passphrase' }, 'email'],
      [{ email: 'weak@console.test', password: 'short' }, 'password'],
      [{ email: 'weak@console.test', password: 'weak@console.test' }, 'password'],
      [{ email: 'x@console.test', password: 'a long and unusual passphrase', role: 'owner' }, 'body'],
      [{ password: 'a long and unusual passphrase' }, 'email'],
    ] as const) {
      const r = await admins('POST', '', body)
      expectError(r, 400, 'VALIDATION_FAILED')
      expect(Object.keys(r.body.details.fields)).toContain(field)
    }
    const notJson = await s.api('POST', '/api/admin/admins', 'email=x', {
      as: first.token,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect(notJson.status).toBe(415)
    expect(await n()).toBe(before)
  })

  it('creates another admin who signs in at once, audited as admin.create by the acting admin', async () => {
    const r = await admins('POST', '', {
      email: '  Second@Console.TEST ',
      password: 'quartz meadow under the lighthouse',
      name: 'Second',
    })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({
      email: 'second@console.test',
      name: 'Second',
      twoFactorEnabled: false,
      passkeys: 0,
      lastSignIn: null,
    })
    const token = await adminSignIn('second@console.test', 'quartz meadow under the lighthouse')
    const list = await admins('GET', '', undefined, token)
    expect(list.body.items.map((a: { email: string }) => a.email)).toEqual([
      FIRST.email,
      'second@console.test',
    ])
    expect(list.body.items[1].lastSignIn).not.toBeNull()
    const trail = await auditOf('admin.create', r.body.id)
    expect(trail).toHaveLength(1)
    expect(trail[0]).toMatchObject({
      actor: `admin:${first.id}`,
      diff: { after: { email: 'second@console.test', name: 'Second' } },
    })
    expect(JSON.stringify(trail[0])).not.toContain('quartz meadow under the lighthouse')
  })

  it('refuses an address an admin has (whatever its case) with 409, and audits nothing', async () => {
    const before = (
      await sqlc.query(`SELECT count(*) AS n FROM bastide.audit_log WHERE action = 'admin.create'`)
    ).rows[0].n
    const r = await admins('POST', '', { email: 'SECOND@console.test', password: 'another long passphrase' })
    expectError(r, 409, 'CONFLICT')
    expect(r.body.message).toMatch(/email/)
    const after = (
      await sqlc.query(`SELECT count(*) AS n FROM bastide.audit_log WHERE action = 'admin.create'`)
    ).rows[0].n
    expect(after).toBe(before)
  })

  it('pages through admins', async () => {
    const p2 = await admins('GET', '?page=2&perPage=1')
    expect(p2.body).toMatchObject({ page: 2, perPage: 1, totalItems: 2, totalPages: 2 })
    expect(p2.body.items.map((a: { email: string }) => a.email)).toEqual(['second@console.test'])
    expect((await admins('GET', '?page=3&perPage=1')).body.items).toEqual([])
  })
})

describe('deleting', () => {
  it('refuses deleting yourself (400) and an unknown admin (404)', async () => {
    const self = await admins('DELETE', `/${first.id}`)
    expectError(self, 400, 'BAD_REQUEST')
    expect(self.body.message).toMatch(/your own/)
    expectError(await admins('DELETE', `/${crypto.randomUUID()}`), 404, 'NOT_FOUND')
    expectError(await admins('DELETE', '/1'), 400, 'BAD_REQUEST')
    expect((await admins('GET', `/${first.id}`)).status).toBe(200)
  })

  it('deletes another admin with their sessions, audited as admin.delete', async () => {
    const r = await admins('POST', '', {
      email: 'third@console.test',
      password: 'amber orchard beyond the river',
    })
    const token = await adminSignIn('third@console.test', 'amber orchard beyond the river')
    expect((await admins('GET', '', undefined, token)).status).toBe(200)
    const del = await admins('DELETE', `/${r.body.id}`)
    expect(del.status).toBe(204)
    expect((await admins('GET', `/${r.body.id}`)).status).toBe(404)
    // Their session ended with them.
    expect((await admins('GET', '', undefined, token)).status).toBe(401)
    const trail = await auditOf('admin.delete', r.body.id)
    expect(trail).toHaveLength(1)
    expect(trail[0]).toMatchObject({
      actor: `admin:${first.id}`,
      diff: { before: { email: 'third@console.test' } },
    })
  })

  it('of two admins deleting each other at once, exactly one succeeds: the console always keeps an admin', async () => {
    const second = (await admins('GET')).body.items.find(
      (a: { email: string }) => a.email === 'second@console.test',
    )
    const secondToken = await adminSignIn('second@console.test', 'quartz meadow under the lighthouse')
    const [a, b] = await Promise.all([
      admins('DELETE', `/${second.id}`, undefined, first.token),
      admins('DELETE', `/${first.id}`, undefined, secondToken),
    ])
    const statuses = [a.status, b.status].sort()
    // The loser is refused as the last admin (409), or finds its own session gone with its account (401).
    expect(statuses[0]).toBe(204)
    expect([401, 409]).toContain(statuses[1])
    expect(Number((await sqlc.query('SELECT count(*) AS n FROM bastide.admins')).rows[0].n)).toBe(1)
    const survivor = (await sqlc.query('SELECT id FROM bastide.admins')).rows[0].id
    if (survivor !== first.id) {
      // Put the first admin back for the tests after this one.
      await s.api('POST', '/api/admin/admins', FIRST)
      first = {
        id: (await sqlc.query('SELECT id FROM bastide.admins WHERE email = $1', [FIRST.email])).rows[0].id,
        token: await adminSignIn(FIRST.email, FIRST.password),
      }
      await s.api('DELETE', `/api/admin/admins/${survivor}`)
    }
  })

  it('refuses deleting the last admin with 409, even with the admin key, and records nothing', async () => {
    const only = (await admins('GET')).body
    expect(only.totalItems).toBe(1)
    const r = await s.api('DELETE', `/api/admin/admins/${only.items[0].id}`)
    expectError(r, 409, 'CONFLICT')
    expect(r.body.message).toMatch(/last console admin/)
    expect(await auditOf('admin.delete', only.items[0].id)).toEqual([])
  })
})

describe('passkeys of console admins', () => {
  it('migrates bastide.admin_passkeys, tied to admins, recorded as the console module’s migration', async () => {
    const cols = (
      await sqlc.query(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = 'bastide' AND table_name = 'admin_passkeys' ORDER BY ordinal_position`,
      )
    ).rows.map((r) => r.column_name)
    expect(cols).toEqual([
      'id',
      'name',
      'publicKey',
      'userId',
      'credentialID',
      'counter',
      'deviceType',
      'backedUp',
      'transports',
      'createdAt',
      'aaguid',
    ])
    const m = await sqlc.query(`SELECT seq, name FROM bastide.migrations WHERE module = 'console'`)
    expect(m.rows).toEqual([
      { seq: 1, name: 'admin-passkeys' },
      { seq: 2, name: 'admin-last-sign-in' },
    ])
    // An admin's passkeys go with them.
    await expect(
      sqlc.query(
        `INSERT INTO bastide.admin_passkeys (id, "publicKey", "userId", "credentialID", counter, "deviceType", "backedUp")
         VALUES ('pk-x', 'k', 'no-such-admin', 'cred-x', 0, 'singleDevice', false)`,
      ),
    ).rejects.toMatchObject({ code: '23503' })
  })

  it('keeps admins’ passkeys and app users’ apart: each instance reads its own table', async () => {
    const { id } = (await admins('GET')).body.items[0]
    await sqlc.query(
      `INSERT INTO bastide.admin_passkeys (id, name, "publicKey", "userId", "credentialID", counter, "deviceType", "backedUp")
       VALUES ('pk-admin', 'Laptop', 'k', $1, 'cred-admin', 0, 'singleDevice', false)`,
      [id],
    )
    const mine = await s.api('GET', '/api/admin/auth/passkey/list-user-passkeys', undefined, {
      as: first.token,
    })
    expect(mine.status).toBe(200)
    expect(mine.body.map((p: { id: string }) => p.id)).toEqual(['pk-admin'])
    expect((await admins('GET')).body.items[0].passkeys).toBe(1)
    // An app user sees none of it (the app's passkey plugin still reads bastide.auth_passkeys).
    const user = await signUp(s, 'passkey-user@console.test')
    await sqlc.query(
      `INSERT INTO bastide.auth_passkeys (id, name, "publicKey", "userId", "credentialID", counter, "deviceType", "backedUp")
       VALUES ('pk-user', 'Phone', 'k', $1, 'cred-user', 0, 'singleDevice', false)`,
      [user.id],
    )
    const theirs = await authCall(s, 'GET', '/passkey/list-user-passkeys', undefined, { token: user.token })
    expect(theirs.status).toBe(200)
    expect(theirs.body.map((p: { id: string }) => p.id)).toEqual(['pk-user'])
    const mineAgain = await s.api('GET', '/api/admin/auth/passkey/list-user-passkeys', undefined, {
      as: first.token,
    })
    expect(mineAgain.body.map((p: { id: string }) => p.id)).toEqual(['pk-admin'])
    // Registration options name the console as the relying party, on the server's host.
    const opts = await s.api('GET', '/api/admin/auth/passkey/generate-register-options', undefined, {
      as: first.token,
    })
    expect(opts.status).toBe(200)
    expect(opts.body.rp).toEqual({
      name: 'Bastide console',
      id: new URL(s.bastide.auth.auth.options.baseURL!).hostname,
    })
    const del = await s.api(
      'POST',
      '/api/admin/auth/passkey/delete-passkey',
      { id: 'pk-admin' },
      { as: first.token },
    )
    expect(del.status).toBe(200)
    expect((await admins('GET')).body.items[0].passkeys).toBe(0)
  })
})

describe('API document', () => {
  it('describes /api/admin/admins and the admins’ passkey routes to admins, and keeps the admins routes out of the public one', async () => {
    const full = (await s.api('GET', '/api/openapi.json')).body
    expect(Object.keys(full.paths['/api/admin/admins']).sort()).toEqual(['get', 'post'])
    expect(Object.keys(full.paths['/api/admin/admins/{id}']).sort()).toEqual(['delete', 'get'])
    expect(
      full.paths['/api/admin/admins'].post.requestBody.content['application/json'].schema.required,
    ).toEqual(['email', 'password'])
    expect(full.components.schemas.ConsoleAdmin.required).toContain('passkeys')
    expect(full.paths['/api/admin/auth/passkey/verify-authentication']).toBeDefined()
    const pub = (await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })).body
    expect(pub.paths['/api/admin/admins']).toBeUndefined()
    expect(pub.paths['/api/admin/admins/{id}']).toBeUndefined()
  })
})

describe('last sign-in', () => {
  const WHO = { email: 'clock@console.test', password: 'cobalt heron across the dunes' }
  const LONG_AGO = '2001-01-01T00:00:00.000Z'
  const lastOf = async (email: string) =>
    (await admins('GET', '?perPage=200')).body.items.find((a: { email: string }) => a.email === email)
      ?.lastSignIn

  it('outlives the session: still known after signing out', async () => {
    expect((await admins('POST', '', WHO)).status).toBe(201)
    expect(await lastOf(WHO.email)).toBeNull()
    const token = await adminSignIn(WHO.email, WHO.password)
    const at = await lastOf(WHO.email)
    expect(at).not.toBeNull()
    const out = await s.api('POST', '/api/admin/auth/sign-out', {}, { as: token })
    expect(out.status).toBe(200)
    expect(
      Number(
        (
          await sqlc.query(
            'SELECT count(*) AS n FROM bastide.admin_sessions s JOIN bastide.admins a ON a.id = s."userId" WHERE a.email = $1',
            [WHO.email],
          )
        ).rows[0].n,
      ),
    ).toBe(0)
    expect(await lastOf(WHO.email)).toBe(at)
  })

  it('counts sign-ins, not the session swap of turning TOTP on', async () => {
    const token = await adminSignIn(WHO.email, WHO.password)
    await sqlc.query('UPDATE bastide.admins SET "lastSignInAt" = $1 WHERE email = $2', [LONG_AGO, WHO.email])
    const on = await s.api(
      'POST',
      '/api/admin/auth/two-factor/enable',
      { password: WHO.password },
      { as: token },
    )
    expect(on.status).toBe(200)
    const code = freshCodes(OTPAuth.URI.parse(on.body.totpURI) as OTPAuth.TOTP)
    const confirmed = await s.api(
      'POST',
      '/api/admin/auth/two-factor/verify-totp',
      { code: await code() },
      { as: token },
    )
    expect(confirmed.status).toBe(200)
    expect(confirmed.headers.get('set-auth-token')).toBeTruthy()
    expect(await lastOf(WHO.email)).toBe(LONG_AGO)
    // A sign-in finished with a code is one.
    const first = await s.api('POST', '/api/admin/auth/sign-in/email', WHO, { as: 'anon' })
    expect(first.body.twoFactorRedirect).toBe(true)
    expect(await lastOf(WHO.email)).toBe(LONG_AGO)
    const done = await s.api(
      'POST',
      '/api/admin/auth/two-factor/verify-totp',
      { code: await code() },
      { as: 'anon', headers: { 'x-bastide-two-factor': first.body.twoFactorToken } },
    )
    expect(done.status).toBe(200)
    expect(await lastOf(WHO.email)).not.toBe(LONG_AGO)
  })

  it('audits what an admin changes on their own account (never a code or token), but not their sign-ins', async () => {
    const id = (await sqlc.query('SELECT id FROM bastide.admins WHERE email = $1', [WHO.email])).rows[0].id
    const trail = async () =>
      (
        await sqlc.query(
          'SELECT actor, action, target, details FROM bastide.audit_log WHERE target = $1 ORDER BY seq',
          [id],
        )
      ).rows
    // Created by the first admin, TOTP turned on by themselves (previous test); sign-ins left no entry.
    expect((await trail()).map((e) => [e.actor, e.action])).toEqual([
      [`admin:${first.id}`, 'admin.create'],
      [`admin:${id}`, 'admin.totp.enable'],
    ])
    const token = await s.api('POST', '/api/admin/auth/sign-in/email', WHO, { as: 'anon' })
    expect(token.body.twoFactorRedirect).toBe(true)
    await sqlc.query(`UPDATE bastide.admins SET "twoFactorEnabled" = false WHERE id = $1`, [id])
    const t = await adminSignIn(WHO.email, WHO.password)
    await sqlc.query(
      `INSERT INTO bastide.admin_passkeys (id, name, "publicKey", "userId", "credentialID", counter, "deviceType", "backedUp")
       VALUES ('pk-clock', 'Key', 'k', $1, 'cred-clock', 0, 'singleDevice', false)`,
      [id],
    )
    expect(
      (await s.api('POST', '/api/admin/auth/passkey/delete-passkey', { id: 'pk-clock' }, { as: t })).status,
    ).toBe(200)
    // A refused change is not one.
    const refused = await s.api(
      'POST',
      '/api/admin/auth/two-factor/generate-backup-codes',
      { password: 'wrong password here' },
      { as: t },
    )
    expect(refused.status).toBeGreaterThanOrEqual(400)
    expect((await s.api('POST', '/api/admin/auth/revoke-sessions', {}, { as: t })).status).toBe(200)
    const entries = await trail()
    expect(entries.map((e) => e.action)).toEqual([
      'admin.create',
      'admin.totp.enable',
      'admin.passkey.remove',
      'admin.session.revoke',
    ])
    expect(entries[2]).toMatchObject({ actor: `admin:${id}`, details: { passkey: 'pk-clock' } })
    expect(entries[3]).toMatchObject({ details: { all: true } })
    expect(JSON.stringify(entries)).not.toContain(t)
  })
})
