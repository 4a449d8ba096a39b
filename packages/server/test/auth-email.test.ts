import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessToken, authCall, signIn, signUp } from './support/auth.ts'
import { createCollection, startTestServer, type TestServer } from './support/harness.ts'
import { linkIn, type Mailbox, startMailbox } from './support/mailbox.ts'

let s: TestServer
let mail: Mailbox

beforeAll(async () => {
  mail = await startMailbox()
  s = await startTestServer({
    env: { BASTIDE_SMTP_URL: mail.url, BASTIDE_PUBLIC_URL: 'http://localhost:8787' },
  })
})
afterAll(async () => {
  await s?.close()
  await mail?.close()
})

describe('email and password', () => {
  it('signs up, mails a verification link that verifies once, and signs in', async () => {
    const r = await authCall(s, 'POST', '/sign-up/email', {
      email: 'Ana@Example.com',
      password: 'plum orchard at dawn',
      name: 'Ana',
    })
    expect(r.status).toBe(200)
    expect(r.body.user).toMatchObject({ email: 'ana@example.com', emailVerified: false })
    expect(r.body.token).toBe(null)
    expect(r.headers.get('set-auth-token')).toBe(null)
    const m = await mail.next('ana@example.com', /confirm/i)
    expect(m.subject).toBe('Confirm your email for Bastide')
    const link = linkIn(m)
    expect(link.origin).toBe('http://localhost:8787')
    const v = await s.api('GET', `${link.pathname}${link.search}`, undefined, { as: 'anon' })
    expect(v.status).toBeLessThan(400)
    const token = await signIn(s, 'ana@example.com', 'plum orchard at dawn')
    expect(token).toMatch(/^[\w-]{20,}$/)
    const me = await s.api('GET', `/api/collections/users/records/${r.body.user.id}`, undefined, {
      as: token,
    })
    expect(me.body).toMatchObject({
      email: 'ana@example.com',
      verified: true,
      role: 'user',
      anonymous: false,
    })
  })

  it('answers a sign-up for a taken address exactly like a new one, and mails the owner instead', async () => {
    const body = (password: string) => ({ email: 'lou@example.com', password, name: 'Lou' })
    const fresh = await authCall(s, 'POST', '/sign-up/email', body('plum orchard at noon'))
    await mail.next('lou@example.com', /confirm/i)
    const again = await authCall(s, 'POST', '/sign-up/email', body('other orchard at noon'))
    expect(again.status).toBe(fresh.status)
    expect(Object.keys(again.body).sort()).toEqual(Object.keys(fresh.body).sort())
    expect(Object.keys(again.body.user).sort()).toEqual(Object.keys(fresh.body.user).sort())
    expect((await mail.next('lou@example.com')).subject).toBe('Your Bastide account')
  })

  it('writes mails in French for a French-speaking client', async () => {
    await authCall(
      s,
      'POST',
      '/sign-up/email',
      { email: 'bea@example.fr', password: 'plum orchard at dusk', name: 'Béa' },
      { headers: { 'accept-language': 'fr-FR,fr;q=0.9,en;q=0.5' } },
    )
    const m = await mail.next('bea@example.fr')
    expect(m.subject).toBe('Confirmez votre adresse pour Bastide')
    expect(m.text).toContain('Confirmer mon adresse')
  })

  it('refuses short, common and email-based passwords with WEAK_PASSWORD', async () => {
    for (const password of ['short', 'password123', 'qwerty1234!', 'carlos-secret-carlos']) {
      const r = await authCall(s, 'POST', '/sign-up/email', {
        email: 'carlos@example.com',
        password,
        name: 'C',
      })
      expect(r.status, password).toBe(400)
      expect(r.body).toMatchObject({ status: 400 })
      expect(['WEAK_PASSWORD', 'PASSWORD_TOO_SHORT']).toContain(r.body.code)
    }
  })

  it('answers a wrong password in the error shape, without saying whether the account exists', async () => {
    await signUp(s, 'dan@example.com', { password: 'river stones and moss' })
    const wrong = await authCall(s, 'POST', '/sign-in/email', {
      email: 'dan@example.com',
      password: 'nope nope nope',
    })
    const unknown = await authCall(s, 'POST', '/sign-in/email', {
      email: 'nobody@example.com',
      password: 'nope nope nope',
    })
    expect(wrong.status).toBe(401)
    expect(wrong.body).toEqual(unknown.body)
    expect(wrong.body).toMatchObject({ code: 'INVALID_EMAIL_OR_PASSWORD', status: 401 })
  })

  it('resets a password by mail; the link works once and the other sessions end', async () => {
    const u = await signUp(s, 'eve@example.com', { password: 'first passphrase here' })
    const other = await signIn(s, 'eve@example.com', 'first passphrase here')
    const r = await authCall(s, 'POST', '/request-password-reset', {
      email: 'eve@example.com',
      redirectTo: 'http://localhost:8787/reset',
    })
    expect(r.status).toBe(200)
    const link = linkIn(await mail.next('eve@example.com', /reset/i))
    const follow = await s.api('GET', `${link.pathname}${link.search}`, undefined, { as: 'anon' })
    expect(follow.status).toBe(302)
    const token = new URL(follow.headers.get('location')!).searchParams.get('token')!
    const reset = await authCall(s, 'POST', '/reset-password', {
      token,
      newPassword: 'second passphrase here',
    })
    expect(reset.status).toBe(200)
    const again = await authCall(s, 'POST', '/reset-password', {
      token,
      newPassword: 'third passphrase here',
    })
    expect(again.status).toBe(400)
    // Every session from before the reset is gone, access JWTs included.
    for (const old of [u.token, other, u.jwt]) {
      expect((await s.api('GET', '/api/collections/users/records', undefined, { as: old })).status).toBe(401)
    }
    await signIn(s, 'eve@example.com', 'second passphrase here')
  })
})

describe('records under @request.auth', () => {
  it('applies owner rules to session tokens and JWTs; another user and anonymous see nothing', async () => {
    await createCollection(s, {
      name: 'notes',
      fields: [
        { name: 'text', type: 'text' },
        { name: 'owner', type: 'relation', options: { collection: 'users' } },
      ],
      rules: {
        list: 'owner = @request.auth.id',
        view: 'owner = @request.auth.id',
        create: 'owner = @request.auth.id && @request.auth.verified = true',
        update: 'owner = @request.auth.id',
        delete: 'owner = @request.auth.id',
      },
    })
    const a = await signUp(s, 'fay@example.com', { mailbox: mail })
    const b = await signUp(s, 'gus@example.com', { mailbox: mail })
    const aJwt = await accessToken(s, a.token)
    const note = await s.api(
      'POST',
      '/api/collections/notes/records',
      { text: 'mine', owner: a.id },
      { as: aJwt },
    )
    expect(note.status).toBe(201)
    // Forging ownership: b cannot create a note owned by a, nor read, change or delete a's.
    expect(
      (await s.api('POST', '/api/collections/notes/records', { text: 'x', owner: a.id }, { as: b.token }))
        .status,
    ).toBe(403)
    expect(
      (await s.api('GET', `/api/collections/notes/records/${note.body.id}`, undefined, { as: b.jwt })).status,
    ).toBe(404)
    expect(
      (await s.api('PATCH', `/api/collections/notes/records/${note.body.id}`, { text: 'y' }, { as: b.token }))
        .status,
    ).toBe(404)
    expect(
      (await s.api('DELETE', `/api/collections/notes/records/${note.body.id}`, undefined, { as: b.token }))
        .status,
    ).toBe(404)
    expect(
      (await s.api('GET', '/api/collections/notes/records', undefined, { as: b.token })).body.items,
    ).toEqual([])
    expect(
      (await s.api('GET', '/api/collections/notes/records', undefined, { as: 'anon' })).body.items,
    ).toEqual([])
    const mine = await s.api('GET', '/api/collections/notes/records?expand=owner', undefined, { as: a.token })
    expect(mine.body.items).toHaveLength(1)
    expect(mine.body.items[0].expand.owner).toMatchObject({ id: a.id, email: 'fay@example.com' })
  })

  it('lets a user read and edit only their own users record, never its auth fields', async () => {
    const a = await signUp(s, 'hal@example.com')
    const b = await signUp(s, 'ivy@example.com')
    const list = await s.api('GET', '/api/collections/users/records', undefined, { as: a.jwt })
    expect(list.body.items.map((u: any) => u.id)).toEqual([a.id])
    expect(list.body.items[0]).not.toHaveProperty('banned')
    expect(
      (await s.api('GET', `/api/collections/users/records/${b.id}`, undefined, { as: a.jwt })).status,
    ).toBe(404)
    const ok = await s.api(
      'PATCH',
      `/api/collections/users/records/${a.id}`,
      { name: 'Hal 9000' },
      { as: a.jwt },
    )
    expect(ok.status).toBe(200)
    for (const field of ['role', 'verified', 'email', 'banned', 'anonymous']) {
      const r = await s.api(
        'PATCH',
        `/api/collections/users/records/${a.id}`,
        { [field]: 'x' },
        { as: a.jwt },
      )
      expect(r.status, field).toBe(400)
    }
    expect((await s.api('POST', '/api/collections/users/records', { email: 'x@example.com' })).status).toBe(
      403,
    )
  })

  it('keeps the users collection built in: auth fields cannot change, profile fields can be added', async () => {
    const users = (await s.api('GET', '/api/collections/users')).body
    expect(users.system).toBe(true)
    const patched = await s.api('PATCH', '/api/collections/users', {
      fields: [...users.fields, { name: 'nickname', type: 'text', options: { max: 40 } }],
    })
    expect(patched.status).toBe(200)
    expect(patched.body.fields.map((f: any) => f.name)).toContain('nickname')
    const renamed = users.fields.map((f: any) => (f.name === 'role' ? { ...f, name: 'rank' } : f))
    expect((await s.api('PATCH', '/api/collections/users', { fields: renamed })).status).toBe(400)
    expect((await s.api('PATCH', '/api/collections/users', { name: 'people' })).status).toBe(400)
    expect((await s.api('DELETE', '/api/collections/users')).status).toBe(409)
    const u = await signUp(s, 'jon@example.com')
    const r = await s.api(
      'PATCH',
      `/api/collections/users/records/${u.id}`,
      { nickname: 'jj' },
      { as: u.token },
    )
    expect(r.body.nickname).toBe('jj')
    // A custom user field reaches rules as @request.auth.nickname.
    await createCollection(s, {
      name: 'clubs',
      fields: [{ name: 'title', type: 'text' }],
      rules: { list: "@request.auth.nickname = 'jj'" },
    })
    await s.api('POST', '/api/collections/clubs/records', { title: 'jj club' })
    expect(
      (await s.api('GET', '/api/collections/clubs/records', undefined, { as: u.token })).body.items,
    ).toHaveLength(1)
    const other = await signUp(s, 'kim@example.com')
    expect(
      (await s.api('GET', '/api/collections/clubs/records', undefined, { as: other.token })).body.items,
    ).toHaveLength(0)
  })
})
