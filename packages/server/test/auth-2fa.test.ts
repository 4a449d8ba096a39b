import * as OTPAuth from 'otpauth'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, pageHeaders, signUp } from './support/auth.ts'
import type { ApiResponse, TestServer } from './support/harness.ts'
import { startTestServer } from './support/harness.ts'
import { freshCodes, wrongCode } from './support/totp.ts'

let s: TestServer

beforeAll(async () => {
  // Many sign-ins and codes a minute from one (in-process) client: Bastide's own per-address limits are
  // not what these tests are about.
  s = await startTestServer({ env: { BASTIDE_AUTH_RATE_LIMIT: '10000' } })
})
afterAll(async () => {
  await s?.close()
})

const TWO_FACTOR_COOKIE = 'bastide.two_factor'
const SESSION_COOKIE = 'bastide.session_token'

/** The cookies a response sets, by name (cookies it expires are left out). */
function setCookies(r: ApiResponse): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of r.headers.getSetCookie()) {
    const [pair = '', ...attrs] = line.split(';')
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))
    if (value && !expired) out.set(name, value)
  }
  return out
}

interface TwoFactorUser {
  readonly id: string
  readonly email: string
  readonly password: string
  readonly totp: OTPAuth.TOTP
  /** A code for a time step not used yet: the server takes each step once. */
  readonly code: () => Promise<string>
  readonly backupCodes: string[]
}

/** Signs up, enables TOTP (verified with a first code), and signs out. */
async function userWith2fa(email: string): Promise<TwoFactorUser> {
  const u = await signUp(s, email)
  const en = await authCall(s, 'POST', '/two-factor/enable', { password: u.password }, { token: u.token })
  expect(en.status, JSON.stringify(en.body)).toBe(200)
  expect(en.body.totpURI).toMatch(/^otpauth:\/\/totp\/Bastide:/)
  expect(en.body.backupCodes.length).toBeGreaterThanOrEqual(8)
  // The secret lands in the app users' table (the console's instance has a table of its own).
  const row = await s.bastide.auth.authDb
    .selectFrom('bastide.auth_two_factors')
    .select(['verified'])
    .where('userId', '=', u.id)
    .executeTakeFirst()
  expect(row).toEqual({ verified: false })
  const totp = OTPAuth.URI.parse(en.body.totpURI)
  if (!(totp instanceof OTPAuth.TOTP)) throw new Error(`not a TOTP URI: ${en.body.totpURI}`)
  expect(totp.label).toBe(u.email)
  const code = freshCodes(totp)

  // Not active until a first code is verified: the password alone still signs in.
  const before = await authCall(s, 'POST', '/sign-in/email', { email, password: u.password })
  expect(before.status).toBe(200)
  expect(typeof before.body.token).toBe('string')
  await authCall(s, 'POST', '/sign-out', undefined, { token: before.body.token })

  const wrong = await authCall(
    s,
    'POST',
    '/two-factor/verify-totp',
    { code: wrongCode(totp) },
    { token: u.token },
  )
  expect(wrong.status).toBe(401)
  const ok = await authCall(s, 'POST', '/two-factor/verify-totp', { code: await code() }, { token: u.token })
  expect(ok.status, JSON.stringify(ok.body)).toBe(200)
  // Activation rotates the session: the new one arrives in set-auth-token, the old one is gone (the body
  // still carries the old token and the user as it was before: better-auth answers from its snapshot).
  const rotated = ok.headers.get('set-auth-token')
  expect(rotated).toBeTruthy()
  const now = await authCall(s, 'GET', '/get-session', undefined, { token: rotated! })
  expect(now.body.user).toMatchObject({ id: u.id, twoFactorEnabled: true })
  expect((await s.api('GET', '/api/collections/users/records', undefined, { as: u.token })).status).toBe(401)
  const out = await authCall(s, 'POST', '/sign-out', undefined, { token: rotated! })
  expect(out.status).toBe(200)
  expect((await s.api('GET', '/api/collections/users/records', undefined, { as: rotated! })).status).toBe(401)
  return { id: u.id, email: u.email, password: u.password, totp, code, backupCodes: en.body.backupCodes }
}

/** Signs in with the password; 2FA must stop it half-way. Returns the two-factor cookie (`name=value`). */
async function passwordStep(u: TwoFactorUser): Promise<{ cookie: string; value: string; res: ApiResponse }> {
  const r = await authCall(s, 'POST', '/sign-in/email', { email: u.email, password: u.password })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  const cookies = setCookies(r)
  const value = cookies.get(TWO_FACTOR_COOKIE)
  if (!value) throw new Error(`no two-factor cookie in ${JSON.stringify(r.headers.getSetCookie())}`)
  // The cookie's value also rides in the body, for clients without cookies (auth-two-factor-bearer.test.ts).
  expect(r.body).toEqual({
    twoFactorRedirect: true,
    twoFactorMethods: ['totp'],
    twoFactorToken: decodeURIComponent(value),
  })
  return { cookie: `${TWO_FACTOR_COOKIE}=${value}`, value, res: r }
}

async function sessionsOf(userId: string): Promise<number> {
  const row = await s.bastide.auth.authDb
    .selectFrom('bastide.auth_sessions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('userId', '=', userId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

const records = (headers: Record<string, string>, as = 'anon') =>
  s.api('GET', '/api/collections/users/records', undefined, { as, headers })

describe('two-factor sign-in (TOTP)', () => {
  it('stops the password step short of a session; nothing from it reaches a protected route', async () => {
    const u = await userWith2fa('tess@example.com')
    expect(await sessionsOf(u.id)).toBe(0)
    const { cookie, value, res } = await passwordStep(u)

    // No session token anywhere in the answer, and no session behind it.
    expect(res.body.token).toBeUndefined()
    expect(res.headers.get('set-auth-token')).toBe(null)
    expect(setCookies(res).has(SESSION_COOKIE)).toBe(false)
    expect([...setCookies(res).keys()]).toEqual([TWO_FACTOR_COOKIE])
    expect(await sessionsOf(u.id)).toBe(0)

    // The two-factor cookie, however it is presented, is not a credential.
    const decoded = decodeURIComponent(value)
    const rawId = decoded.slice(0, decoded.indexOf('.'))
    for (const bearer of [value, decoded, rawId]) {
      expect((await records({}, bearer)).status, bearer).toBe(401)
      expect((await authCall(s, 'GET', '/get-session', undefined, { token: bearer })).body).toBe(null)
    }
    expect((await records({ cookie })).status).toBe(200)
    expect((await records({ cookie })).body.items).toEqual([])
    for (const c of [cookie, `${SESSION_COOKIE}=${value}`]) {
      const g = await authCall(s, 'GET', '/get-session', undefined, { headers: { cookie: c } })
      expect(g.status).toBe(200)
      expect(g.body, c).toBe(null)
      const en = await authCall(
        s,
        'POST',
        '/two-factor/enable',
        { password: u.password },
        { headers: pageHeaders(s, c) },
      )
      expect(en.status).toBe(401)
    }

    // The code completes the sign-in: a real session, which the records API accepts as this user.
    const code = await u.code()
    const v = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      { headers: pageHeaders(s, cookie) },
    )
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    expect(v.body.user).toMatchObject({ id: u.id, email: u.email, twoFactorEnabled: true })
    const token = v.body.token as string
    expect(token).toMatch(/^[\w-]{20,}$/)
    expect(v.headers.get('set-auth-token')).toBeTruthy()
    expect(await sessionsOf(u.id)).toBe(1)
    const me = await records({}, token)
    expect(me.status).toBe(200)
    expect(me.body.items.map((r: { id: string }) => r.id)).toEqual([u.id])
    const g = await authCall(s, 'GET', '/get-session', undefined, { token })
    expect(g.body.user.id).toBe(u.id)

    // The two-factor cookie was for one sign-in only (the answer names the cookie, not the spent code).
    const again = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      { headers: pageHeaders(s, cookie) },
    )
    expect(again.status).toBe(401)
    expect(again.body.code).toBe('INVALID_TWO_FACTOR_COOKIE')
    expect(await sessionsOf(u.id)).toBe(1)
  })

  it('refuses a wrong code, then accepts the right one on the same challenge', async () => {
    const u = await userWith2fa('uma@example.com')
    const { cookie } = await passwordStep(u)
    const bad = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code: wrongCode(u.totp) },
      { headers: pageHeaders(s, cookie) },
    )
    expect(bad.status).toBe(401)
    expect(bad.body).toMatchObject({ code: 'INVALID_CODE', status: 401 })
    expect(bad.body.token).toBeUndefined()
    expect(bad.headers.get('set-auth-token')).toBe(null)
    expect(await sessionsOf(u.id)).toBe(0)
    const garbage = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code: 'abcdef' },
      { headers: pageHeaders(s, cookie) },
    )
    expect(garbage.status).toBe(401)
    const good = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code: await u.code() },
      { headers: pageHeaders(s, cookie) },
    )
    expect(good.status).toBe(200)
    expect((await records({}, good.body.token)).status).toBe(200)
  })

  it('refuses a code without the two-factor cookie, or with a forged one', async () => {
    const u = await userWith2fa('vic@example.com')
    const code = await u.code()
    const none = await authCall(s, 'POST', '/two-factor/verify-totp', { code })
    expect(none.status).toBe(401)
    expect(none.body.code).toBe('INVALID_TWO_FACTOR_COOKIE')
    const { value } = await passwordStep(u)
    const decoded = decodeURIComponent(value)
    const forged = `${TWO_FACTOR_COOKIE}=${encodeURIComponent(`${decoded.slice(0, decoded.indexOf('.'))}.${'A'.repeat(43)}=`)}`
    const f = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      { headers: pageHeaders(s, forged) },
    )
    expect(f.status).toBe(401)
    expect(await sessionsOf(u.id)).toBe(0)
  })

  it('signs in with a backup code once; the same code fails the second time', async () => {
    const u = await userWith2fa('wes@example.com')
    const code = u.backupCodes[0]!
    const first = await passwordStep(u)
    const ok = await authCall(
      s,
      'POST',
      '/two-factor/verify-backup-code',
      { code },
      { headers: pageHeaders(s, first.cookie) },
    )
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    expect(ok.body.user.id).toBe(u.id)
    expect((await records({}, ok.body.token)).status).toBe(200)

    const second = await passwordStep(u)
    const reused = await authCall(
      s,
      'POST',
      '/two-factor/verify-backup-code',
      { code },
      { headers: pageHeaders(s, second.cookie) },
    )
    expect(reused.status).toBe(401)
    expect(reused.body.code).toBe('INVALID_BACKUP_CODE')
    expect(reused.body.token).toBeUndefined()
    // Another backup code still works on the same challenge.
    const other = await authCall(
      s,
      'POST',
      '/two-factor/verify-backup-code',
      { code: u.backupCodes[1] },
      { headers: pageHeaders(s, second.cookie) },
    )
    expect(other.status).toBe(200)
    expect((await records({}, other.body.token)).status).toBe(200)
  })

  it('locks the account after 5 wrong codes: even the right code, on a new challenge, is refused', async () => {
    const u = await userWith2fa('xan@example.com')
    const { cookie } = await passwordStep(u)
    for (let i = 1; i <= 5; i++) {
      const r = await authCall(
        s,
        'POST',
        '/two-factor/verify-totp',
        { code: wrongCode(u.totp) },
        { headers: pageHeaders(s, cookie) },
      )
      expect(r.status, `attempt ${i}`).toBe(401)
      expect(r.body.code).toBe('INVALID_CODE')
    }
    // A right code, which a locked account does not spend.
    const code = await u.code()
    const locked = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      { headers: pageHeaders(s, cookie) },
    )
    expect(locked.status).toBe(429)
    expect(locked.body).toMatchObject({ code: 'ACCOUNT_TEMPORARILY_LOCKED', status: 429 })
    expect(locked.body.token).toBeUndefined()

    // Signing in again starts a new challenge, not a new budget.
    const fresh = await passwordStep(u)
    for (const [path, c] of [
      ['/two-factor/verify-totp', code],
      ['/two-factor/verify-backup-code', u.backupCodes[0]!],
    ] as const) {
      const r = await authCall(s, 'POST', path, { code: c }, { headers: pageHeaders(s, fresh.cookie) })
      expect(r.status, path).toBe(429)
      expect(r.body.code).toBe('ACCOUNT_TEMPORARILY_LOCKED')
    }
    expect(await sessionsOf(u.id)).toBe(0)
  })
})
