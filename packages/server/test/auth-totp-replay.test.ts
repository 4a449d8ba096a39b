import * as OTPAuth from 'otpauth'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, pageHeaders, signUp } from './support/auth.ts'
import type { ApiResponse, TestServer } from './support/harness.ts'
import { startTestServer } from './support/harness.ts'
import { codeAt, stepAt } from './support/totp.ts'

/**
 * A TOTP code works once (RFC 6238 §5.2): once a code of a time step has been accepted for a user, that
 * step and every earlier one are refused, whether the code turned TOTP on or signed in, and whichever of
 * two simultaneous requests came second.
 */
let s: TestServer

beforeAll(async () => {
  s = await startTestServer({ env: { BASTIDE_AUTH_RATE_LIMIT: '10000' } })
})
afterAll(async () => {
  await s?.close()
})

interface Enrolled {
  readonly id: string
  readonly email: string
  readonly password: string
  readonly totp: OTPAuth.TOTP
  /** The session token after TOTP was turned on (the activation rotates it). */
  readonly token: string
  /** The time step of the code that turned TOTP on. */
  readonly step: number
}

/** Signs up and asks for TOTP; returns the secret, not yet confirmed. */
async function enrol(email: string) {
  const u = await signUp(s, email)
  const en = await authCall(s, 'POST', '/two-factor/enable', { password: u.password }, { token: u.token })
  expect(en.status, JSON.stringify(en.body)).toBe(200)
  const totp = OTPAuth.URI.parse(en.body.totpURI)
  if (!(totp instanceof OTPAuth.TOTP)) throw new Error(`not a TOTP URI: ${en.body.totpURI}`)
  return { ...u, totp }
}

/** Turns TOTP on with the code of the current step. */
async function enrolled(email: string): Promise<Enrolled> {
  const u = await enrol(email)
  const step = stepAt()
  const ok = await verify(codeAt(u.totp, step), { token: u.token })
  expect(ok.status, JSON.stringify(ok.body)).toBe(200)
  return { ...u, token: ok.headers.get('set-auth-token')!, step }
}

function verify(code: string, o: { token?: string; cookie?: string }): Promise<ApiResponse> {
  return authCall(
    s,
    'POST',
    '/two-factor/verify-totp',
    { code },
    o.cookie ? { headers: pageHeaders(s, o.cookie) } : o.token ? { token: o.token } : {},
  )
}

/** The password step of a sign-in: the pending sign-in's cookie (`name=value`). */
async function passwordStep(u: { email: string; password: string }): Promise<string> {
  const r = await authCall(s, 'POST', '/sign-in/email', { email: u.email, password: u.password })
  expect(r.body.twoFactorRedirect, JSON.stringify(r.body)).toBe(true)
  const cookie = r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('bastide.two_factor='))
  if (!cookie) throw new Error('no two-factor cookie')
  return cookie
}

function expectRefusedLikeAWrongCode(r: ApiResponse) {
  expect(r.status, JSON.stringify(r.body)).toBe(401)
  expect(r.body).toMatchObject({ code: 'INVALID_CODE', message: 'Invalid code', status: 401 })
  expect(r.body.token).toBeUndefined()
  expect(r.headers.get('set-auth-token')).toBe(null)
}

async function sessionsOf(userId: string): Promise<number> {
  const row = await s.bastide.auth.authDb
    .selectFrom('bastide.auth_sessions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('userId', '=', userId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

describe('a TOTP code works once', () => {
  it('refuses at sign-in the code that turned TOTP on; the next step signs in', async () => {
    const u = await enrolled('rene@example.com')
    const cookie = await passwordStep(u)
    expectRefusedLikeAWrongCode(await verify(codeAt(u.totp, u.step), { cookie }))
    expect(await sessionsOf(u.id)).toBe(1)
    // The challenge is still open: a code of a later step finishes it.
    const ok = await verify(codeAt(u.totp, u.step + 1), { cookie })
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    expect(ok.body.user.id).toBe(u.id)
  })

  it('refuses a code turning TOTP on twice, or confirming again once on', async () => {
    const u = await enrol('sara@example.com')
    const step = stepAt()
    const code = codeAt(u.totp, step)
    const first = await verify(code, { token: u.token })
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    const rotated = first.headers.get('set-auth-token')!
    expectRefusedLikeAWrongCode(await verify(code, { token: rotated }))
    // An earlier step than the one used is refused too.
    expectRefusedLikeAWrongCode(await verify(codeAt(u.totp, step - 1), { token: rotated }))
    expect((await verify(codeAt(u.totp, step + 1), { token: rotated })).status).toBe(200)
  })

  it('refuses a sign-in code on a second sign-in, and any earlier step', async () => {
    const u = await enrolled('tomas@example.com')
    const code = codeAt(u.totp, u.step + 1)
    const first = await verify(code, { cookie: await passwordStep(u) })
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    const second = await passwordStep(u)
    expectRefusedLikeAWrongCode(await verify(code, { cookie: second }))
    expectRefusedLikeAWrongCode(await verify(codeAt(u.totp, u.step), { cookie: second }))
    expect(await sessionsOf(u.id)).toBe(2)
  })

  it('refuses a replay from a client without cookies (X-Bastide-Two-Factor) too', async () => {
    const u = await enrolled('xia@example.com')
    const r = await authCall(s, 'POST', '/sign-in/email', { email: u.email, password: u.password })
    const pending = { 'x-bastide-two-factor': r.body.twoFactorToken as string }
    const replay = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code: codeAt(u.totp, u.step) },
      { headers: pending },
    )
    expectRefusedLikeAWrongCode(replay)
    const ok = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code: codeAt(u.totp, u.step + 1) },
      { headers: pending },
    )
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
  })

  it('lets exactly one of two simultaneous sign-ins with the same code through', async () => {
    const u = await enrolled('ulla@example.com')
    const [a, b] = [await passwordStep(u), await passwordStep(u)]
    const before = await sessionsOf(u.id)
    const code = codeAt(u.totp, u.step + 1)
    const answers = await Promise.all([verify(code, { cookie: a }), verify(code, { cookie: b })])
    expect(answers.map((r) => r.status).sort()).toEqual([200, 401])
    expectRefusedLikeAWrongCode(answers.find((r) => r.status === 401)!)
    expect(await sessionsOf(u.id)).toBe(before + 1)
  })

  it('lets exactly one of two simultaneous confirmations with the same code through', async () => {
    const u = await enrol('vera@example.com')
    const code = codeAt(u.totp, stepAt())
    const answers = await Promise.all([verify(code, { token: u.token }), verify(code, { token: u.token })])
    expect(answers.map((r) => r.status).sort()).toEqual([200, 401])
  })

  it('keeps the last step in PostgreSQL, where every node sees it', async () => {
    const u = await enrolled('wim@example.com')
    const row = await s.bastide.auth.authDb
      .selectFrom('bastide.auth_two_factors')
      .select(['lastTotpStep'])
      .where('userId', '=', u.id)
      .executeTakeFirstOrThrow()
    expect(Number(row.lastTotpStep)).toBe(u.step)
  })
})
