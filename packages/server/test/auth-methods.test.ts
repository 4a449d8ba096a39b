import { createHmac } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accessToken, authCall, signIn, signUp } from './support/auth.ts'
import { createCollection, startTestServer, TEST_SECRET, type TestServer } from './support/harness.ts'
import { codeIn, linkIn, type Mailbox, startMailbox } from './support/mailbox.ts'

let s: TestServer
let mail: Mailbox
let smsServer: Server
const sms: { headers: Record<string, string | string[] | undefined>; raw: string }[] = []

beforeAll(async () => {
  mail = await startMailbox()
  smsServer = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      sms.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') })
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => smsServer.listen(0, '127.0.0.1', resolve))
  const smsPort = (smsServer.address() as AddressInfo).port
  s = await startTestServer({
    env: {
      BASTIDE_SMTP_URL: mail.url,
      BASTIDE_PUBLIC_URL: 'http://localhost:8787',
      BASTIDE_SMS_WEBHOOK_URL: `http://127.0.0.1:${smsPort}/sms`,
    },
  })
})
afterAll(async () => {
  await s?.close()
  await mail?.close()
  await new Promise<void>((resolve) => (smsServer ? smsServer.close(() => resolve()) : resolve()))
})

const records = (path: string, token: string) => s.api('GET', path, undefined, { as: token })
/** The status the records API answers a credential with (200: it is a live session). */
const statusOf = async (token: string) => (await records('/api/collections/users/records', token)).status
const sessionCount = async (userId: string) =>
  (
    await sql<{
      n: number
    }>`SELECT count(*)::int AS n FROM bastide.auth_sessions WHERE "userId" = ${userId}`.execute(
      s.bastide.database.db,
    )
  ).rows[0]!.n
const userExists = async (id: string) =>
  (await sql`SELECT 1 FROM data.users WHERE id = ${id}`.execute(s.bastide.database.db)).rows.length === 1

describe('magic link', () => {
  it('mails a link that signs in once; the session works on the records API', async () => {
    const known = await signUp(s, 'mia@example.com')
    const r = await authCall(s, 'POST', '/sign-in/magic-link', { email: 'mia@example.com' })
    expect(r.status).toBe(200)
    const m = await mail.next('mia@example.com', /sign-in link/i)
    expect(m.subject).toBe('Your sign-in link for Bastide')
    const link = linkIn(m)
    expect(link.origin).toBe('http://localhost:8787')
    const v = await s.api('GET', `${link.pathname}${link.search}`, undefined, { as: 'anon' })
    expect(v.status).toBe(302)
    const token = v.headers.get('set-auth-token')
    expect(token).toBeTruthy()
    const me = await records(`/api/collections/users/records/${known.id}`, token!)
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ id: known.id, email: 'mia@example.com', verified: true })
    // The same link again: no session.
    const again = await s.api('GET', `${link.pathname}${link.search}`, undefined, { as: 'anon' })
    expect(again.headers.get('set-auth-token')).toBe(null)
    expect(again.headers.get('location') ?? '').toContain('error=INVALID_TOKEN')
  })

  it('gives exactly one session when the same link is followed 50 times at once', async () => {
    await authCall(s, 'POST', '/sign-in/magic-link', { email: 'ned@example.com' })
    const link = linkIn(await mail.next('ned@example.com', /sign-in link/i))
    const all = await Promise.all(
      Array.from({ length: 50 }, () =>
        s.api('GET', `${link.pathname}${link.search}`, undefined, { as: 'anon' }),
      ),
    )
    const withSession = all.filter((r) => r.headers.get('set-auth-token'))
    expect(withSession).toHaveLength(1)
    const user = (
      await sql<{ id: string }>`SELECT id FROM data.users WHERE email = 'ned@example.com'`.execute(
        s.bastide.database.db,
      )
    ).rows
    expect(user).toHaveLength(1)
    expect(await sessionCount(user[0]!.id)).toBe(1)
    expect(await statusOf(withSession[0]!.headers.get('set-auth-token')!)).toBe(200)
  })

  it('answers an unknown address exactly like a known one', async () => {
    await signUp(s, 'ora@example.com')
    const known = await authCall(s, 'POST', '/sign-in/magic-link', { email: 'ora@example.com' })
    const unknown = await authCall(s, 'POST', '/sign-in/magic-link', { email: 'nobody-here@example.com' })
    expect(unknown.status).toBe(known.status)
    expect(unknown.body).toEqual(known.body)
    await mail.next('ora@example.com', /sign-in link/i)
    await mail.next('nobody-here@example.com', /sign-in link/i)
  })
})

describe('email OTP', () => {
  const sendCode = async (email: string) => {
    const r = await authCall(s, 'POST', '/email-otp/send-verification-otp', { email, type: 'sign-in' })
    expect(r.status).toBe(200)
    return codeIn(await mail.next(email, /is your Bastide code/))
  }
  const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0')

  it('signs in with the mailed code, refuses a wrong one', async () => {
    const u = await signUp(s, 'pia@example.com')
    const code = await sendCode('pia@example.com')
    const bad = await authCall(s, 'POST', '/sign-in/email-otp', {
      email: 'pia@example.com',
      otp: wrong(code),
    })
    expect(bad.status).toBe(400)
    expect(bad.body.code).toBe('INVALID_OTP')
    const ok = await authCall(s, 'POST', '/sign-in/email-otp', { email: 'pia@example.com', otp: code })
    expect(ok.status).toBe(200)
    expect(ok.body.user.id).toBe(u.id)
    expect((await records(`/api/collections/users/records/${u.id}`, ok.body.token)).status).toBe(200)
    // Used: the code is gone.
    const reuse = await authCall(s, 'POST', '/sign-in/email-otp', { email: 'pia@example.com', otp: code })
    expect(reuse.status).toBe(400)
  })

  it('gives exactly one session when one correct code is used 50 times at once', async () => {
    // Verified first: an OTP sign-in to an unverified account ends that account's other sessions.
    const u = await signUp(s, 'quin@example.com', { mailbox: mail })
    const before = await sessionCount(u.id)
    const code = await sendCode('quin@example.com')
    const all = await Promise.all(
      Array.from({ length: 50 }, () =>
        authCall(s, 'POST', '/sign-in/email-otp', { email: 'quin@example.com', otp: code }),
      ),
    )
    expect(all.filter((r) => r.status === 200)).toHaveLength(1)
    expect(all.filter((r) => r.status !== 200).every((r) => r.status === 400)).toBe(true)
    expect(await sessionCount(u.id)).toBe(before + 1)
  })

  it('kills the code after 3 wrong tries', async () => {
    await signUp(s, 'rex@example.com')
    const code = await sendCode('rex@example.com')
    for (let i = 0; i < 3; i++) {
      const r = await authCall(s, 'POST', '/sign-in/email-otp', {
        email: 'rex@example.com',
        otp: wrong(code),
      })
      expect(r.status).toBe(400)
    }
    const late = await authCall(s, 'POST', '/sign-in/email-otp', { email: 'rex@example.com', otp: code })
    expect(late.status).toBe(403)
    expect(late.body.code).toBe('TOO_MANY_ATTEMPTS')
    const after = await authCall(s, 'POST', '/sign-in/email-otp', { email: 'rex@example.com', otp: code })
    expect(after.status).toBe(400)
  })
})

describe('phone OTP', () => {
  it('posts a signed SMS to the webhook; the code signs up a user with a verified phone', async () => {
    sms.length = 0
    const r = await authCall(s, 'POST', '/phone-number/send-otp', { phoneNumber: '+33612345678' })
    expect(r.status).toBe(200)
    expect(sms).toHaveLength(1)
    const { headers, raw } = sms[0]!
    expect(headers['content-type']).toBe('application/json')
    expect(headers['x-bastide-signature']).toBe(
      `sha256=${createHmac('sha256', TEST_SECRET).update(raw).digest('hex')}`,
    )
    const body = JSON.parse(raw)
    expect(body.to).toBe('+33612345678')
    expect(body.text).toMatch(/^\d{6} is your Bastide code\.$/)
    const code = /\d{6}/.exec(body.text)![0]
    const bad = await authCall(s, 'POST', '/phone-number/verify', {
      phoneNumber: '+33612345678',
      code: code === '000000' ? '111111' : '000000',
    })
    expect(bad.status).toBe(400)
    const v = await authCall(s, 'POST', '/phone-number/verify', { phoneNumber: '+33612345678', code })
    expect(v.status).toBe(200)
    expect(typeof v.body.token).toBe('string')
    const me = await records(`/api/collections/users/records/${v.body.user.id}`, v.body.token)
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ phone: '+33612345678', phoneVerified: true })
    // Signing in again with a new code finds the same user.
    await authCall(s, 'POST', '/phone-number/send-otp', { phoneNumber: '+33612345678' })
    const code2 = /\d{6}/.exec(JSON.parse(sms[1]!.raw).text)![0]
    const again = await authCall(s, 'POST', '/phone-number/verify', {
      phoneNumber: '+33612345678',
      code: code2,
    })
    expect(again.status).toBe(200)
    expect(again.body.user.id).toBe(v.body.user.id)
  })

  it('refuses a malformed phone number with 400 and sends nothing', async () => {
    sms.length = 0
    for (const phoneNumber of ['0612345678', '+0123', 'not a phone', '+33 6 12 34 56 78']) {
      const r = await authCall(s, 'POST', '/phone-number/send-otp', { phoneNumber })
      expect(r.status, phoneNumber).toBe(400)
    }
    expect(sms).toHaveLength(0)
  })
})

describe('anonymous users', () => {
  beforeAll(async () => {
    const own = (c: string) => ({
      list: `${c} = @request.auth.id`,
      view: `${c} = @request.auth.id`,
      create: `${c} = @request.auth.id`,
      update: `${c} = @request.auth.id`,
      delete: `${c} = @request.auth.id`,
    })
    await createCollection(s, {
      name: 'drafts',
      fields: [
        { name: 'text', type: 'text' },
        { name: 'owner', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
      ],
      rules: own('owner'),
    })
    await createCollection(s, {
      name: 'boards',
      fields: [
        { name: 'title', type: 'text' },
        {
          name: 'members',
          type: 'relation',
          options: { collection: 'users', multiple: true, onDelete: 'cascade' },
        },
      ],
      rules: {
        list: 'members ?= @request.auth.id',
        view: 'members ?= @request.auth.id',
        create: 'members ?= @request.auth.id',
      },
    })
    await createCollection(s, {
      name: 'reviews',
      fields: [{ name: 'text', type: 'text' }],
      rules: { create: '@request.auth.anonymous = false', list: '' },
    })
  })

  const anonymousSession = async () => {
    const r = await authCall(s, 'POST', '/sign-in/anonymous')
    expect(r.status).toBe(200)
    expect(r.body.user.isAnonymous).toBe(true)
    return { id: r.body.user.id as string, token: r.body.token as string }
  }

  it('keeps its records when it signs in with email and password', async () => {
    const anon = await anonymousSession()
    const me = await records(`/api/collections/users/records/${anon.id}`, anon.token)
    expect(me.body.anonymous).toBe(true)
    for (const text of ['one', 'two']) {
      const r = await s.api(
        'POST',
        '/api/collections/drafts/records',
        { text, owner: anon.id },
        { as: anon.token },
      )
      expect(r.status).toBe(201)
    }
    const board = await s.api(
      'POST',
      '/api/collections/boards/records',
      { title: 'b', members: [anon.id] },
      { as: anon.token },
    )
    expect(board.status).toBe(201)
    const anonJwt = await accessToken(s, anon.token)

    // The account exists already (signed up elsewhere); signing in while holding the anonymous session links it.
    const password = 'lantern over the harbour'
    const real = await authCall(s, 'POST', '/sign-up/email', {
      email: 'sam@example.com',
      password,
      name: 'Sam',
    })
    expect(real.status).toBe(200)
    const r = await authCall(
      s,
      'POST',
      '/sign-in/email',
      { email: 'sam@example.com', password },
      { token: anon.token },
    )
    expect(r.status).toBe(200)
    const token = r.body.token as string
    expect(r.body.user.id).toBe(real.body.user.id)

    const drafts = await records('/api/collections/drafts/records?sort=created', token)
    expect(drafts.body.items.map((d: any) => [d.text, d.owner])).toEqual([
      ['one', real.body.user.id],
      ['two', real.body.user.id],
    ])
    const boards = await records('/api/collections/boards/records', token)
    expect(boards.body.items.map((b: any) => b.members)).toEqual([[real.body.user.id]])
    expect(await userExists(anon.id)).toBe(false)
    expect(await statusOf(anon.token)).toBe(401)
    expect(await statusOf(anonJwt)).toBe(401)
  })

  it('keeps its records when it signs up with an email OTP', async () => {
    const anon = await anonymousSession()
    await s.api(
      'POST',
      '/api/collections/drafts/records',
      { text: 'otp', owner: anon.id },
      { as: anon.token },
    )
    await authCall(s, 'POST', '/email-otp/send-verification-otp', {
      email: 'tess@example.com',
      type: 'sign-in',
    })
    const code = codeIn(await mail.next('tess@example.com', /is your Bastide code/))
    const r = await authCall(
      s,
      'POST',
      '/sign-in/email-otp',
      { email: 'tess@example.com', otp: code },
      { token: anon.token },
    )
    expect(r.status).toBe(200)
    expect(r.body.user.id).not.toBe(anon.id)
    const drafts = await records('/api/collections/drafts/records', r.body.token)
    expect(drafts.body.items.map((d: any) => [d.text, d.owner])).toEqual([['otp', r.body.user.id]])
    expect(await userExists(anon.id)).toBe(false)
    const me = await records(`/api/collections/users/records/${r.body.user.id}`, r.body.token)
    expect(me.body).toMatchObject({ email: 'tess@example.com', anonymous: false })
  })

  it('is anonymous to rules: @request.auth.anonymous', async () => {
    const anon = await anonymousSession()
    const denied = await s.api('POST', '/api/collections/reviews/records', { text: 'x' }, { as: anon.token })
    expect(denied.status).toBe(403)
    const u = await signUp(s, 'uma@example.com')
    const ok = await s.api('POST', '/api/collections/reviews/records', { text: 'y' }, { as: u.token })
    expect(ok.status).toBe(201)
  })
})

describe('sessions per device', () => {
  const signInAs = async (email: string, password: string, ua: string) => {
    const r = await authCall(
      s,
      'POST',
      '/sign-in/email',
      { email, password },
      { headers: { 'user-agent': ua } },
    )
    expect(r.status).toBe(200)
    return r.body.token as string
  }

  it('lists sessions with their user agent and revokes one, its JWT too', async () => {
    const u = await signUp(s, 'val@example.com')
    const a = await signInAs(u.email, u.password, 'PhoneApp/1.0')
    const b = await signInAs(u.email, u.password, 'Laptop/2.0')
    const list = await authCall(s, 'GET', '/list-sessions', undefined, { token: a })
    expect(list.status).toBe(200)
    const agents = list.body.map((x: any) => x.userAgent)
    expect(agents).toEqual(expect.arrayContaining(['PhoneApp/1.0', 'Laptop/2.0']))
    // One device's credential must not reveal the others': the list carries ids, never tokens.
    expect(JSON.stringify(list.body)).not.toContain(b.split('.')[0])
    for (const x of list.body) expect(x).not.toHaveProperty('token')
    expect(list.body.filter((x: any) => x.current).map((x: any) => x.userAgent)).toEqual(['PhoneApp/1.0'])
    const laptop = list.body.find((x: any) => x.userAgent === 'Laptop/2.0')
    const bJwt = await accessToken(s, b)
    expect(await statusOf(bJwt)).toBe(200)
    // Another user cannot revoke it by id (their ids are scoped to them), nor can a made-up id.
    const other = await signUp(s, 'val-other@example.com')
    const notYours = await authCall(s, 'POST', '/revoke-session', { id: laptop.id }, { token: other.token })
    expect(notYours.status).toBe(404)
    expect((await authCall(s, 'POST', '/revoke-session', { id: 'nope' }, { token: a })).status).toBe(404)
    expect(await statusOf(b)).toBe(200)
    const rev = await authCall(s, 'POST', '/revoke-session', { id: laptop.id }, { token: a })
    expect(rev.status).toBe(200)
    expect(await statusOf(b)).toBe(401)
    expect(await statusOf(bJwt)).toBe(401)
    expect(await statusOf(a)).toBe(200)
  })

  it('revokes the other sessions, and sign-out ends the session and its JWTs', async () => {
    const u = await signUp(s, 'wes@example.com')
    const a = await signInAs(u.email, u.password, 'A')
    const b = await signInAs(u.email, u.password, 'B')
    const bJwt = await accessToken(s, b)
    const r = await authCall(s, 'POST', '/revoke-other-sessions', undefined, { token: a })
    expect(r.status).toBe(200)
    for (const t of [u.token, u.jwt, b, bJwt]) expect(await statusOf(t)).toBe(401)
    expect(await statusOf(a)).toBe(200)
    const aJwt = await accessToken(s, a)
    const out = await authCall(s, 'POST', '/sign-out', undefined, { token: a })
    expect(out.status).toBe(200)
    expect(await statusOf(a)).toBe(401)
    expect(await statusOf(aJwt)).toBe(401)
    expect(await sessionCount(u.id)).toBe(0)
  })

  it('mails a new-device notice once per new user agent', async () => {
    const u = await signUp(s, 'xia@example.com')
    await signInAs(u.email, u.password, 'Tablet/1')
    const first = await mail.next('xia@example.com', /New sign-in/)
    expect(first.subject).toBe('New sign-in to your Bastide account')
    expect(first.text).toContain('Tablet/1')
    await signInAs(u.email, u.password, 'Tablet/1')
    await signInAs(u.email, u.password, 'Desktop/9')
    // Had the second Tablet/1 sign-in mailed, that notice would come first.
    const next = await mail.next('xia@example.com', /New sign-in/)
    expect(next.text).toContain('Desktop/9')
    expect(next.text).not.toContain('Tablet/1')
  })

  it('ends the oldest session past BASTIDE_MAX_SESSIONS_PER_USER', async () => {
    const capped = await startTestServer({ env: { BASTIDE_MAX_SESSIONS_PER_USER: '2' } })
    try {
      const u = await signUp(capped, 'yan@example.com')
      const t2 = await signIn(capped, u.email, u.password)
      const t3 = await signIn(capped, u.email, u.password)
      const st = async (t: string) =>
        (await capped.api('GET', '/api/collections/users/records', undefined, { as: t })).status
      expect(await st(u.token)).toBe(401)
      expect(await st(u.jwt)).toBe(401)
      expect(await st(t2)).toBe(200)
      expect(await st(t3)).toBe(200)
      const list = await capped.api('GET', '/api/auth/list-sessions', undefined, { as: t3 })
      expect(list.body).toHaveLength(2)
    } finally {
      await capped.close()
    }
  })
})

describe('account data (GDPR)', () => {
  beforeAll(async () => {
    await createCollection(s, {
      name: 'posts',
      fields: [
        { name: 'title', type: 'text' },
        { name: 'author', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
      ],
      rules: { list: '', view: '', create: 'author = @request.auth.id' },
    })
    await createCollection(s, {
      name: 'comments',
      fields: [
        { name: 'body', type: 'text' },
        { name: 'secret', type: 'text', hidden: true },
        { name: 'by', type: 'relation', options: { collection: 'users', onDelete: 'set_null' } },
      ],
      rules: { list: '', view: '', create: 'by = @request.auth.id' },
    })
    await createCollection(s, {
      name: 'invoices',
      fields: [
        { name: 'total', type: 'number' },
        { name: 'customer', type: 'relation', options: { collection: 'users', onDelete: 'restrict' } },
      ],
    })
  })

  it('exports the user, sessions, providers and their records, never a secret', async () => {
    const u = await signUp(s, 'zoe@example.com')
    const other = await signUp(s, 'zed@example.com')
    await s.api('POST', '/api/collections/posts/records', { title: 'hello', author: u.id }, { as: u.token })
    await s.api(
      'POST',
      '/api/collections/posts/records',
      { title: 'not mine', author: other.id },
      { as: other.token },
    )
    await s.api('POST', '/api/collections/comments/records', { body: 'c1', secret: 's', by: u.id })
    const r = await authCall(s, 'GET', '/account/export', undefined, { token: u.token })
    expect(r.status).toBe(200)
    expect(r.headers.get('cache-control')).toBe('no-store')
    expect(r.body.user).toMatchObject({ id: u.id, email: 'zoe@example.com' })
    expect(r.body.sessions.length).toBeGreaterThanOrEqual(1)
    for (const x of r.body.sessions) expect(x).not.toHaveProperty('token')
    expect(r.body.accounts).toEqual([expect.objectContaining({ providerId: 'credential' })])
    expect(Object.keys(r.body.accounts[0]).sort()).toEqual(['createdAt', 'providerId', 'updatedAt'])
    expect(r.body.passkeys).toEqual([])
    expect(r.body.records.posts.map((p: any) => p.title)).toEqual(['hello'])
    expect(r.body.records.comments.map((c: any) => c.body)).toEqual(['c1'])
    expect(r.body.records.comments[0]).not.toHaveProperty('secret')
    // Locked view rule: the user cannot read invoices through the API, so the export leaves them out.
    expect(r.body.records).not.toHaveProperty('invoices')
    expect(r.body.records).not.toHaveProperty('users')
    const text = JSON.stringify(r.body)
    expect(text).not.toContain(u.token)
    const hash = (
      await sql<{
        password: string
      }>`SELECT password FROM bastide.auth_accounts WHERE "userId" = ${u.id}`.execute(s.bastide.database.db)
    ).rows[0]!.password
    expect(text).not.toContain(hash)
    expect((await authCall(s, 'GET', '/account/export')).status).toBe(401)
  })

  it('deletes the account with its password: cascade and set_null apply, every token dies', async () => {
    const u = await signUp(s, 'amy@example.com')
    const other = await signIn(s, u.email, u.password)
    const post = await s.api(
      'POST',
      '/api/collections/posts/records',
      { title: 'p', author: u.id },
      { as: u.token },
    )
    const comment = await s.api(
      'POST',
      '/api/collections/comments/records',
      { body: 'c', by: u.id },
      { as: u.token },
    )
    expect([post.status, comment.status]).toEqual([201, 201])

    const wrong = await authCall(
      s,
      'POST',
      '/delete-user',
      { password: 'not the password at all' },
      { token: u.token },
    )
    expect(wrong.status).toBe(400)
    expect(wrong.body.code).toBe('INVALID_PASSWORD')
    expect(await userExists(u.id)).toBe(true)

    const del = await authCall(s, 'POST', '/delete-user', { password: u.password }, { token: u.token })
    expect(del.status).toBe(200)
    expect(del.body).toMatchObject({ success: true })
    expect(await userExists(u.id)).toBe(false)
    expect((await s.api('GET', `/api/collections/posts/records/${post.body.id}`)).status).toBe(404)
    const c = await s.api('GET', `/api/collections/comments/records/${comment.body.id}`)
    expect(c.status).toBe(200)
    expect(c.body.by).toBe(null)
    for (const t of [u.token, u.jwt, other]) expect(await statusOf(t)).toBe(401)
    expect(
      (await authCall(s, 'POST', '/sign-in/email', { email: u.email, password: u.password })).status,
    ).toBe(401)
  })

  it('deletes a fresh session without a password', async () => {
    const u = await signUp(s, 'bo@example.com')
    const del = await authCall(s, 'POST', '/delete-user', {}, { token: u.token })
    expect(del.status).toBe(200)
    expect(await userExists(u.id)).toBe(false)
  })

  it('refuses with 409, deleting nothing, while a restrict relation points at the user', async () => {
    const u = await signUp(s, 'cy@example.com')
    const inv = await s.api('POST', '/api/collections/invoices/records', { total: 10, customer: u.id })
    expect(inv.status).toBe(201)
    const del = await authCall(s, 'POST', '/delete-user', { password: u.password }, { token: u.token })
    expect(del.status).toBe(409)
    expect(del.body.code).toBe('ACCOUNT_HAS_RESTRICTED_RECORDS')
    expect(await userExists(u.id)).toBe(true)
    expect(await statusOf(u.token)).toBe(200)
    await signIn(s, u.email, u.password)
    expect((await s.api('DELETE', `/api/collections/invoices/records/${inv.body.id}`)).status).toBe(204)
    expect(
      (await authCall(s, 'POST', '/delete-user', { password: u.password }, { token: u.token })).status,
    ).toBe(200)
  })
})
