import { codeIn, linkIn, type Mailbox, startMailbox } from '@bastide/server/test/support/mailbox.ts'
import * as OTPAuth from 'otpauth'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError, memoryStorage } from '../src/index.ts'
import { eventLog, PASSWORD, recordingFetch, slowAsyncStore, until } from './support/auth.ts'
import {
  ADMIN_KEY,
  clientFor,
  createCollection,
  email,
  startServer,
  type TestServer,
} from './support/server.ts'

let s: TestServer & { url: string }
let mail: Mailbox

beforeAll(async () => {
  mail = await startMailbox()
  s = await startServer({ BASTIDE_SMTP_URL: mail.url, BASTIDE_SMTP_FROM: 'bastide@example.test' })
  const own = 'owner = @request.auth.id'
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'owner', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } },
    ],
    rules: { list: own, view: own, create: own, update: own, delete: own },
  })
})
afterAll(async () => {
  await s?.close()
  await mail?.close()
})

/** The session token as the server sees it now: does it still refresh? (Refreshing it would rotate it.) */
async function sessionAlive(token: string): Promise<boolean> {
  const r = await fetch(`${s.url}/api/auth/get-session`, { headers: { authorization: `Bearer ${token}` } })
  return (await r.json()) !== null
}

describe('password sign-up and sign-in', () => {
  it('signs up, is signed in, and calls the records API with the access JWT', async () => {
    const rec = recordingFetch()
    const c = clientFor(s, { fetch: rec.fetch })
    const addr = email('ada')
    const { user, session } = await c.auth.signUp({
      email: addr,
      password: PASSWORD,
      name: 'Ada',
      locale: 'fr',
    })
    expect(session).not.toBeNull()
    expect(user).toMatchObject({ email: addr, name: 'Ada', verified: false, anonymous: false, version: 1 })
    expect(user.locale).toBe('fr')
    expect(c.auth.user?.id).toBe(user.id)
    expect(session!.accessToken.split('.')).toHaveLength(3)
    expect(Date.parse(session!.accessTokenExpiresAt)).toBeGreaterThan(Date.now() + 800_000)

    rec.reset()
    const note = await c.collection('notes').create({ text: 'hello', owner: user.id })
    expect(note.owner).toBe(user.id)
    expect((await c.collection('notes').list()).items.map((n) => n.id)).toEqual([note.id])
    // Records calls carry the JWT, never the session token.
    const recordCalls = rec.calls.filter((x) => x.path.startsWith('/api/collections/'))
    expect(recordCalls.length).toBe(2)
    for (const x of recordCalls) expect(x.authorization).toBe(`Bearer ${session!.accessToken}`)

    // A new client signs in with the same password.
    const c2 = clientFor(s)
    const r = await c2.auth.signInWithPassword({ email: addr, password: PASSWORD })
    expect(r.twoFactorRequired).toBe(false)
    expect(r.session?.user.id).toBe(user.id)
    expect(r.session?.token).not.toBe(session!.token)
    await c.close()
    await c2.close()
  })

  it('surfaces a wrong password as the server code, without a session', async () => {
    const c = clientFor(s)
    const addr = email('bob')
    await c.auth.signUp({ email: addr, password: PASSWORD, name: 'Bob' })
    await c.auth.signOut()
    const err = await c.auth
      .signInWithPassword({ email: addr, password: 'not the password at all' })
      .catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err).toMatchObject({ status: 401, code: 'INVALID_EMAIL_OR_PASSWORD' })
    expect(c.auth.session).toBeNull()
  })

  it('works with an API key instead: no session, the key on every request', async () => {
    const rec = recordingFetch()
    const c = clientFor(s, { apiKey: ADMIN_KEY, fetch: rec.fetch })
    expect(await c.auth.getToken('access')).toBe(ADMIN_KEY)
    expect(await c.auth.getToken('session')).toBe(ADMIN_KEY)
    expect(await c.auth.ready()).toBeNull()
    await c.collection('notes').list()
    expect(rec.calls.at(-1)?.authorization).toBe(`Bearer ${ADMIN_KEY}`)
  })
})

describe('persistence', () => {
  it('keeps the session in a synchronous storage for the next client', async () => {
    const storage = memoryStorage()
    const c = clientFor(s, { storage })
    const { session } = await c.auth.signUp({ email: email('sync'), password: PASSWORD, name: 'S' })
    expect(JSON.parse(storage.getItem('bastide.session') as string).token).toBe(session!.token)
    await c.close()

    const again = clientFor(s, { storage })
    // Read synchronously: available on first access.
    expect(again.auth.session?.token).toBe(session!.token)
    expect((await again.collection('notes').list()).items).toEqual([])
    // Another key, another session.
    expect(clientFor(s, { storage, storageKey: 'other' }).auth.session).toBeNull()
  })

  it('loads an async storage lazily: ready() and getToken wait for it; INITIAL_SESSION carries it', async () => {
    const { storage, kv } = slowAsyncStore(30)
    const c = clientFor(s, { storage })
    const { session } = await c.auth.signUp({ email: email('async'), password: PASSWORD, name: 'A' })
    expect(JSON.parse(kv.map.get('bastide.session')!).token).toBe(session!.token)
    await c.close()

    const again = clientFor(s, { storage })
    const log = eventLog()
    again.auth.onAuthStateChange(log.listener)
    expect(again.auth.session).toBeNull()
    // getToken before ready(): waits for the storage rather than answering "signed out".
    expect(await again.auth.getToken('access')).toBe(session!.accessToken)
    expect((await again.auth.ready())?.user.id).toBe(session!.user.id)
    await until(() => log.events.length > 0)
    expect(log.events).toEqual([['INITIAL_SESSION', session!.user.id]])
    const page = await again.collection('notes').list()
    expect(page.items).toEqual([])
    await again.close()
  })

  it('ignores a stored session that is corrupt or expired', async () => {
    const storage = memoryStorage()
    storage.setItem('bastide.session', '{not json')
    expect(await clientFor(s, { storage }).auth.ready()).toBeNull()
    storage.setItem(
      'bastide.session',
      JSON.stringify({
        token: 't',
        accessToken: 'a.b.c',
        accessTokenExpiresAt: new Date(0).toISOString(),
        expiresAt: new Date(Date.now() - 1000).toISOString(),
        user: { id: 'u' },
      }),
    )
    expect(await clientFor(s, { storage }).auth.ready()).toBeNull()
  })
})

describe('refresh and revocation', () => {
  it('rotates the session token and stores the new one; the old one is dead', async () => {
    const storage = memoryStorage()
    const c = clientFor(s, { storage })
    const { session } = await c.auth.signUp({ email: email('rot'), password: PASSWORD, name: 'R' })
    const next = await c.auth.refresh()
    expect(next.token).not.toBe(session!.token)
    expect(next.user.id).toBe(session!.user.id)
    expect(JSON.parse(storage.getItem('bastide.session') as string).token).toBe(next.token)
    expect(await sessionAlive(session!.token)).toBe(false)
    expect(await sessionAlive(next.token)).toBe(true)
    // Both access JWTs name the same session, which lives on: the old one works until it expires.
    expect((await c.collection('notes').list()).items).toEqual([])
    await c.close()
  })

  it('shares one refresh among concurrent callers', async () => {
    const rec = recordingFetch()
    const c = clientFor(s, { fetch: rec.fetch })
    await c.auth.signUp({ email: email('conc'), password: PASSWORD, name: 'C' })
    rec.reset()
    const all = await Promise.all(Array.from({ length: 10 }, () => c.auth.refresh()))
    expect(new Set(all.map((x) => x.token)).size).toBe(1)
    expect(rec.count('/api/auth/session/refresh')).toBe(1)
    await c.close()
  })

  it('signs out when the session is revoked elsewhere (SIGNED_OUT), after listing sessions by id', async () => {
    const addr = email('rev')
    const storageB = memoryStorage()
    const a = clientFor(s)
    const b = clientFor(s, { storage: storageB })
    await a.auth.signUp({ email: addr, password: PASSWORD, name: 'R' })
    await b.auth.signInWithPassword({ email: addr, password: PASSWORD })
    const log = eventLog()
    b.auth.onAuthStateChange(log.listener)

    const listed = await a.auth.listSessions()
    expect(listed).toHaveLength(2)
    expect(listed.filter((x) => x.current)).toHaveLength(1)
    for (const x of listed) {
      expect(x.id).toMatch(/^[0-9a-f-]{36}$/)
      expect(x).not.toHaveProperty('token')
    }
    const other = listed.find((x) => !x.current)!
    await a.auth.revokeSession(other.id)
    expect(await a.auth.listSessions()).toHaveLength(1)

    // B's JWT names an ended session: 401, the refresh answers 401 too, B is signed out.
    const err = await b
      .collection('notes')
      .list()
      .catch((e) => e)
    expect(err).toMatchObject({ status: 401 })
    expect(b.auth.session).toBeNull()
    expect(storageB.getItem('bastide.session')).toBeFalsy()
    await until(() => log.names().includes('SIGNED_OUT'))
    expect(log.names()).toEqual(['INITIAL_SESSION', 'SIGNED_OUT'])
    // A is untouched.
    expect((await a.collection('notes').list()).items).toEqual([])
    await a.close()
    await b.close()
  })

  it('revokes every other session, and revoking the current one signs out here', async () => {
    const addr = email('others')
    const a = clientFor(s)
    const b = clientFor(s)
    await a.auth.signUp({ email: addr, password: PASSWORD, name: 'O' })
    const bSession = (await b.auth.signInWithPassword({ email: addr, password: PASSWORD })).session!
    await a.auth.revokeOtherSessions()
    expect(await sessionAlive(bSession.token)).toBe(false)
    const [mine] = await a.auth.listSessions()
    expect(mine?.current).toBe(true)
    await a.auth.revokeSession(mine!.id)
    expect(a.auth.session).toBeNull()
  })

  it('keeps the session when the refresh cannot reach the server', async () => {
    const storage = memoryStorage()
    const rec = recordingFetch()
    const c = clientFor(s, { storage, fetch: rec.fetch })
    const { session } = await c.auth.signUp({ email: email('offline'), password: PASSWORD, name: 'O' })
    const log = eventLog()
    c.auth.onAuthStateChange(log.listener)
    rec.failWhen((p) => p === '/api/auth/session/refresh')
    const err = await c.auth.refresh().catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err.isNetworkError).toBe(true)
    expect(rec.calls.filter((x) => x.path === '/api/auth/session/refresh')).toHaveLength(1)
    expect(c.auth.session?.token).toBe(session!.token)
    expect(JSON.parse(storage.getItem('bastide.session') as string).token).toBe(session!.token)
    // A 401 on a records call while offline for refreshes: the session stays too.
    rec.failWhen((p) => p === '/api/auth/session/refresh')
    const r = await c.collection('notes').list()
    expect(r.items).toEqual([])
    rec.failWhen(undefined)
    const next = await c.auth.refresh()
    expect(next.token).not.toBe(session!.token)
    expect(log.names()).toEqual(['INITIAL_SESSION', 'TOKEN_REFRESHED'])
    await c.close()
  })
})

describe('sign-out and events', () => {
  it('reports INITIAL_SESSION, SIGNED_IN, TOKEN_REFRESHED, USER_UPDATED, SIGNED_OUT in order', async () => {
    const c = clientFor(s)
    const log = eventLog()
    const off = c.auth.onAuthStateChange(log.listener)
    await until(() => log.events.length === 1)
    expect(log.events).toEqual([['INITIAL_SESSION', null]])
    const { user } = await c.auth.signUp({ email: email('ev'), password: PASSWORD, name: 'Eve' })
    await c.auth.refresh()
    // The same user renamed through the records API: getUser() notices.
    await c.collection('users').update(user.id, { name: 'Eve Renamed' })
    expect((await c.auth.getUser())?.name).toBe('Eve Renamed')
    expect(c.auth.user?.name).toBe('Eve Renamed')
    // Unchanged: no event.
    await c.auth.getUser()
    const token = c.auth.session!.token
    await c.auth.signOut()
    expect(log.events).toEqual([
      ['INITIAL_SESSION', null],
      ['SIGNED_IN', user.id],
      ['TOKEN_REFRESHED', user.id],
      ['USER_UPDATED', user.id],
      ['SIGNED_OUT', null],
    ])
    expect(await sessionAlive(token)).toBe(false)
    expect(await c.auth.getToken('access')).toBeNull()
    off()
    await c.auth.signInAnonymously()
    expect(log.events).toHaveLength(5)
    // A late subscriber gets its own INITIAL_SESSION with the current state.
    const late = eventLog()
    c.auth.onAuthStateChange(late.listener)
    await until(() => late.events.length === 1)
    expect(late.events).toEqual([['INITIAL_SESSION', c.auth.user!.id]])
  })

  it('signs out locally even when the server cannot be reached', async () => {
    const storage = memoryStorage()
    const rec = recordingFetch()
    const c = clientFor(s, { storage, fetch: rec.fetch })
    const { session } = await c.auth.signUp({ email: email('out'), password: PASSWORD, name: 'O' })
    rec.failWhen(() => true)
    await c.auth.signOut()
    expect(c.auth.session).toBeNull()
    expect(storage.getItem('bastide.session')).toBeFalsy()
    expect(rec.calls.at(-1)).toMatchObject({ path: '/api/auth/sign-out', status: 'network-error' })
    // The server never heard of it: the session is still alive there.
    expect(await sessionAlive(session!.token)).toBe(true)
  })
})

describe('passwordless', () => {
  it('signs in with a magic link from the mailbox', async () => {
    const c = clientFor(s)
    const addr = email('magic')
    await c.auth.sendMagicLink({ email: addr })
    const link = linkIn(await mail.next(addr))
    expect(link.pathname).toBe('/api/auth/magic-link/verify')
    const session = await c.auth.signInWithMagicLink(link.toString())
    expect(session.user).toMatchObject({ email: addr, verified: true })
    expect((await c.collection('notes').list()).items).toEqual([])
    // Single use.
    const again = await clientFor(s)
      .auth.signInWithMagicLink(link.searchParams.get('token')!)
      .catch((e) => e)
    expect(again).toBeInstanceOf(BastideError)
    expect(again).toMatchObject({ status: 401, code: 'INVALID_TOKEN' })
  })

  it('signs in with an email OTP from the mailbox', async () => {
    const c = clientFor(s)
    const addr = email('otp')
    await c.auth.sendEmailOtp({ email: addr })
    const code = codeIn(await mail.next(addr, /code/i))
    const wrong = await c.auth
      .signInWithEmailOtp({ email: addr, otp: code === '000000' ? '111111' : '000000' })
      .catch((e) => e)
    expect(wrong).toBeInstanceOf(BastideError)
    expect(c.auth.session).toBeNull()
    const session = await c.auth.signInWithEmailOtp({ email: addr, otp: code })
    expect(session.user.email).toBe(addr)
    expect(c.auth.user?.id).toBe(session.user.id)
  })

  it('moves an anonymous user’s records to the account it signs up as', async () => {
    const c = clientFor(s)
    const anon = await c.auth.signInAnonymously()
    expect(anon.user.anonymous).toBe(true)
    expect(await c.auth.signInAnonymously()).toBe(anon)
    const notes = c.collection('notes')
    await notes.create({ text: 'one', owner: anon.user.id })
    await notes.create({ text: 'two', owner: anon.user.id })
    const addr = email('upgrade')
    const { session } = await c.auth.signUp({ email: addr, password: PASSWORD, name: 'Up' })
    expect(session!.user).toMatchObject({ email: addr, anonymous: false })
    expect(session!.user.id).not.toBe(anon.user.id)
    const mine = await notes.list({ sort: ['created'] })
    expect(mine.items.map((n) => [n.text, n.owner])).toEqual([
      ['one', session!.user.id],
      ['two', session!.user.id],
    ])
    expect(await sessionAlive(anon.token)).toBe(false)
  })
})

describe('TOTP two-factor', () => {
  it('enables TOTP, then signs in with a code and with a backup code, without cookies', async () => {
    const c = clientFor(s)
    const addr = email('totp')
    const { user } = await c.auth.signUp({ email: addr, password: PASSWORD, name: 'T' })
    const before = c.auth.session!
    const setup = await c.auth.totp.enable({ password: PASSWORD })
    expect(setup.backupCodes.length).toBeGreaterThanOrEqual(8)
    const totp = OTPAuth.URI.parse(setup.totpURI) as OTPAuth.TOTP
    const log = eventLog()
    c.auth.onAuthStateChange(log.listener)
    const enabled = await c.auth.totp.verify({ code: totp.generate() })
    expect(enabled.twoFactorEnabled).toBe(true)
    // The server swapped the session for a new one; the client followed.
    expect(c.auth.session!.token).not.toBe(before.token)
    expect(await sessionAlive(before.token)).toBe(false)
    expect((await c.collection('notes').list()).items).toEqual([])
    expect(log.names()).toContain('USER_UPDATED')
    await c.auth.signOut()

    const r = await c.auth.signInWithPassword({ email: addr, password: PASSWORD })
    expect(r).toEqual({ session: null, twoFactorRequired: true, twoFactorMethods: ['totp'] })
    expect(c.auth.session).toBeNull()
    const bad = await c.auth
      .verifyTotp({ code: '000000' === totp.generate() ? '111111' : '000000' })
      .catch((e) => e)
    expect(bad).toMatchObject({ status: 401, code: 'INVALID_CODE' })
    // A code works once: the one that turned TOTP on is spent, the next time step's is not.
    const session = await c.auth.verifyTotp({ code: totp.generate({ timestamp: Date.now() + 30_000 }) })
    expect(session.user.id).toBe(user.id)
    expect((await c.collection('notes').list()).items).toEqual([])
    await c.auth.signOut()

    // Without a pending sign-in, a code goes nowhere.
    await expect(c.auth.verifyTotp({ code: totp.generate() })).rejects.toMatchObject({
      code: 'NO_TWO_FACTOR_PENDING',
    })
    const again = await c.auth.signInWithPassword({ email: addr, password: PASSWORD })
    expect(again.twoFactorRequired).toBe(true)
    const viaBackup = await c.auth.verifyBackupCode({ code: setup.backupCodes[0]! })
    expect(viaBackup.user.id).toBe(user.id)

    const off = await c.auth.totp.disable({ password: PASSWORD })
    expect(off.twoFactorEnabled).toBe(false)
    await c.auth.signOut()
    const plain = await c.auth.signInWithPassword({ email: addr, password: PASSWORD })
    expect(plain.twoFactorRequired).toBe(false)
  })
})

describe('account', () => {
  it('changes the password, signing out the other devices', async () => {
    const addr = email('pw')
    const a = clientFor(s)
    const b = clientFor(s)
    await a.auth.signUp({ email: addr, password: PASSWORD, name: 'P' })
    await b.auth.signInWithPassword({ email: addr, password: PASSWORD })
    const newPassword = 'another quite unusual passphrase'
    await a.auth.changePassword({ currentPassword: PASSWORD, newPassword, revokeOtherSessions: true })
    expect((await a.collection('notes').list()).items).toEqual([])
    expect(await a.auth.listSessions()).toHaveLength(1)
    await expect(b.collection('notes').list()).rejects.toMatchObject({ status: 401 })
    expect(b.auth.session).toBeNull()
    await a.auth.signOut()
    await expect(a.auth.signInWithPassword({ email: addr, password: PASSWORD })).rejects.toMatchObject({
      status: 401,
    })
    expect((await a.auth.signInWithPassword({ email: addr, password: newPassword })).twoFactorRequired).toBe(
      false,
    )
  })

  it('resets a forgotten password through the mailed link', async () => {
    const c = clientFor(s)
    const addr = email('reset')
    await c.auth.signUp({ email: addr, password: PASSWORD, name: 'R' })
    await c.auth.requestPasswordReset({ email: addr, redirectTo: '/reset' })
    const link = linkIn(await mail.next(addr, /reset/i))
    // The link goes through the server, which redirects to redirectTo with the token.
    const res = await fetch(link, { redirect: 'manual' })
    const token = new URL(res.headers.get('location')!, s.url).searchParams.get('token')!
    await c.auth.resetPassword({ token, newPassword: 'a brand new passphrase here' })
    // Every session ended, this one included.
    await expect(c.collection('notes').list()).rejects.toMatchObject({ status: 401 })
    expect(c.auth.session).toBeNull()
    const r = await c.auth.signInWithPassword({ email: addr, password: 'a brand new passphrase here' })
    expect(r.twoFactorRequired).toBe(false)
  })

  it('exports the user’s data and deletes the account', async () => {
    const c = clientFor(s)
    const { user } = await c.auth.signUp({ email: email('gdpr'), password: PASSWORD, name: 'G' })
    await c.collection('notes').create({ text: 'mine', owner: user.id })
    const data = await c.auth.exportData()
    expect(data.user.id).toBe(user.id)
    expect(data.records.notes?.map((n) => n.text)).toEqual(['mine'])
    expect(data.sessions).toHaveLength(1)
    const token = c.auth.session!.token
    await c.auth.deleteAccount({ password: PASSWORD })
    expect(c.auth.session).toBeNull()
    expect(await sessionAlive(token)).toBe(false)
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    await expect(admin.collection('users').getOne(user.id)).rejects.toMatchObject({ status: 404 })
  })

  it('adopts a session token from elsewhere with setSessionFromToken', async () => {
    const other = clientFor(s)
    const { session } = await other.auth.signUp({ email: email('adopt'), password: PASSWORD, name: 'A' })
    const c = clientFor(s)
    const log = eventLog()
    c.auth.onAuthStateChange(log.listener)
    const adopted = await c.auth.setSessionFromToken(session!.token)
    expect(adopted.user.id).toBe(session!.user.id)
    expect(adopted.accessToken).not.toBe('')
    expect(log.names()).toEqual(['INITIAL_SESSION', 'SIGNED_IN'])
    await expect(c.auth.setSessionFromToken('nonsense')).rejects.toMatchObject({ status: 401 })
    expect(c.auth.user?.id).toBe(session!.user.id)
  })
})
