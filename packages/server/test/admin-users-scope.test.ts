import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, signUp } from './support/auth.ts'
import { createKey, startTestServer, type TestServer } from './support/harness.ts'

/**
 * /api/admin/users for API keys: the `users` scope lets a script (`bastide users`) list, create, ban and delete
 * app users, each write audited under the key; a key without it is refused whatever else it holds; impersonation
 * (which hands out a user's session) stays with console admins, whatever the key's scopes.
 */
let s: TestServer
let usersKey: string
let usersKeyId: string
/** Every scope but `users`. */
let otherKey: string

beforeAll(async () => {
  s = await startTestServer()
  usersKey = await createKey(s, ['users'])
  usersKeyId = (await s.api('GET', '/api/admin/keys')).body.items.find((k: any) =>
    usersKey.startsWith(k.prefix),
  ).id
  otherKey = await createKey(s, [
    'schema',
    'records:read',
    'records:write',
    'storage:read',
    'storage:write',
    'keys',
    'metrics',
  ])
})
afterAll(async () => {
  await s?.close()
})

const users = (method: string, path: string, as: string, body?: unknown) =>
  s.api(method, `/api/admin/users${path}`, body, { as })

describe('a key with the users scope', () => {
  it('lists, creates, bans and deletes users; each write is audited under the key', async () => {
    const made = await users('POST', '', usersKey, {
      email: 'scripted@example.com',
      password: 'a long and unusual passphrase',
      name: 'Scripted',
      verified: true,
    })
    expect(made.status).toBe(201)
    const id = made.body.id as string

    const list = await users('GET', '?search=scripted', usersKey)
    expect(list.status).toBe(200)
    expect(list.body.items.map((u: any) => u.email)).toEqual(['scripted@example.com'])

    // The user it created can sign in, until the key bans them.
    const before = await authCall(s, 'POST', '/sign-in/email', {
      email: 'scripted@example.com',
      password: 'a long and unusual passphrase',
    })
    expect(before.status).toBe(200)
    const banned = await users('POST', `/${id}/ban`, usersKey, { reason: 'script' })
    expect(banned.status).toBe(200)
    expect(banned.body).toMatchObject({ banned: true, banReason: 'script' })
    const after = await authCall(s, 'POST', '/sign-in/email', {
      email: 'scripted@example.com',
      password: 'a long and unusual passphrase',
    })
    expect(after.status).toBe(403)
    expect((await users('POST', `/${id}/unban`, usersKey)).body.banned).toBe(false)

    expect((await users('DELETE', `/${id}`, usersKey)).status).toBe(204)
    expect((await users('GET', `/${id}`, usersKey)).status).toBe(404)

    const audit = await s.api('GET', `/api/admin/audit?target=${id}`)
    expect(audit.body.items.map((a: any) => [a.action, a.actor])).toEqual([
      ['user.delete', `key:${usersKeyId}`],
      ['user.unban', `key:${usersKeyId}`],
      ['user.ban', `key:${usersKeyId}`],
      ['user.create', `key:${usersKeyId}`],
    ])
  })

  it("may not change a user's email or role (account takeover, privileges): 403, and nothing changes", async () => {
    const u = await signUp(s, 'victim@example.com')
    for (const body of [
      { email: 'attacker@example.com' },
      { email: 'attacker@example.com', verified: true },
      { role: 'admin' },
      { name: 'Renamed', role: 'admin' },
    ]) {
      const r = await users('PATCH', `/${u.id}`, usersKey, body)
      expect(r.status, JSON.stringify(body)).toBe(403)
      expect(r.body).toMatchObject({
        status: 403,
        code: 'FORBIDDEN',
        message: expect.stringMatching(/email|role/),
      })
    }
    const still = (await s.api('GET', `/api/admin/users/${u.id}`)).body
    expect(still).toMatchObject({ email: 'victim@example.com', name: 'victim' })
    expect(still.role ?? 'user').toBe('user')
    // The user's session is untouched and the password reset goes nowhere new.
    expect(
      (await s.api('GET', `/api/collections/users/records/${u.id}`, undefined, { as: u.token })).status,
    ).toBe(200)

    // Other fields stay the key's to change; the admin key may still change the email.
    const renamed = await users('PATCH', `/${u.id}`, usersKey, { name: 'Renamed', verified: true })
    expect(renamed.status).toBe(200)
    expect(renamed.body).toMatchObject({ name: 'Renamed', verified: true, email: 'victim@example.com' })
    const byAdmin = await s.api('PATCH', `/api/admin/users/${u.id}`, { email: 'moved@example.com' })
    expect(byAdmin.status).toBe(200)
    expect(byAdmin.body.email).toBe('moved@example.com')
  })

  it('may not impersonate a user: 403, and no session is handed out', async () => {
    const u = await signUp(s, 'target@example.com')
    const imp = await users('POST', `/${u.id}/impersonate`, usersKey, {})
    expect(imp.status).toBe(403)
    expect(imp.body).toMatchObject({ status: 403, code: expect.any(String), message: expect.any(String) })
    expect(JSON.stringify(imp.body)).not.toMatch(/token/i)
    // The admin key still may: the refusal is about who asks, not about the user.
    expect((await s.api('POST', `/api/admin/users/${u.id}/impersonate`, {})).status).toBe(201)
  })
})

describe('a key without the users scope', () => {
  it('is refused (403) on every user route, and nothing changes', async () => {
    const u = await signUp(s, 'untouched@example.com')
    const calls: [string, string, unknown?][] = [
      ['GET', ''],
      ['POST', '', { email: 'nope@example.com', password: 'a long and unusual passphrase' }],
      ['GET', `/${u.id}`],
      ['PATCH', `/${u.id}`, { name: 'changed' }],
      ['POST', `/${u.id}/ban`, {}],
      ['DELETE', `/${u.id}`],
      ['DELETE', `/${u.id}/sessions`],
      ['POST', `/${u.id}/impersonate`, {}],
    ]
    for (const [method, path, body] of calls) {
      const r = await users(method, path, otherKey, body)
      expect(r.status, `${method} ${path}`).toBe(403)
      expect(r.body).toMatchObject({ status: 403, code: expect.any(String), message: expect.any(String) })
    }
    const still = await s.api('GET', `/api/admin/users/${u.id}`)
    expect(still.body).toMatchObject({ email: 'untouched@example.com', banned: false })
    expect((await s.api('GET', '/api/admin/users?search=nope')).body.items).toEqual([])
    // The user's session survived the refused revocation.
    expect(
      (await s.api('GET', `/api/collections/users/records/${u.id}`, undefined, { as: u.token })).status,
    ).toBe(200)
  })

  it('an app user is refused too, and no credential at all is 401', async () => {
    const u = await signUp(s, 'plain@example.com')
    expect((await users('GET', '', u.token)).status).toBe(403)
    expect((await users('GET', '', 'anon')).status).toBe(401)
  })
})
