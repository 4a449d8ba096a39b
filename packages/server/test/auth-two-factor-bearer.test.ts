import * as OTPAuth from 'otpauth'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { appOrigin, authCall, signUp } from './support/auth.ts'
import { startTestServer, type TestServer } from './support/harness.ts'
import { freshCodes } from './support/totp.ts'

/**
 * Clients without a cookie jar (Node, React Native) or that cannot read Set-Cookie (browsers) finish a
 * 2FA sign-in with the `twoFactorToken` of the pending answer, sent back as `X-Bastide-Two-Factor`.
 */
let s: TestServer

beforeAll(async () => {
  s = await startTestServer({ env: { BASTIDE_AUTH_RATE_LIMIT: '10000' } })
})
afterAll(async () => {
  await s?.close()
})

const HEADER = 'X-Bastide-Two-Factor'

async function userWith2fa(email: string) {
  const u = await signUp(s, email)
  const en = await authCall(s, 'POST', '/two-factor/enable', { password: u.password }, { token: u.token })
  expect(en.status).toBe(200)
  const totp = OTPAuth.URI.parse(en.body.totpURI) as OTPAuth.TOTP
  // Each code for a time step not used yet: the server takes each step once.
  const code = freshCodes(totp)
  const ok = await authCall(s, 'POST', '/two-factor/verify-totp', { code: await code() }, { token: u.token })
  expect(ok.status).toBe(200)
  return { ...u, totp, code, backupCodes: en.body.backupCodes as string[] }
}

async function pending(u: { email: string; password: string }): Promise<string> {
  const r = await authCall(s, 'POST', '/sign-in/email', { email: u.email, password: u.password })
  expect(r.status).toBe(200)
  expect(r.body.twoFactorRedirect).toBe(true)
  expect(r.body.token).toBeUndefined()
  expect(typeof r.body.twoFactorToken).toBe('string')
  return r.body.twoFactorToken
}

describe('2FA without cookies', () => {
  it('finishes a TOTP sign-in with the token in a header; the token works once', async () => {
    const u = await userWith2fa('bea@example.com')
    const token = await pending(u)
    const code = await u.code()
    const v = await authCall(s, 'POST', '/two-factor/verify-totp', { code }, { headers: { [HEADER]: token } })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    expect(v.body.user.id).toBe(u.id)
    const me = await s.api('GET', '/api/collections/users/records', undefined, { as: v.body.token })
    expect(me.body.items.map((r: { id: string }) => r.id)).toEqual([u.id])
    const again = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      { headers: { [HEADER]: token } },
    )
    expect(again.status).toBe(401)
    expect(again.body.code).toBe('INVALID_TWO_FACTOR_COOKIE')
  })

  it('finishes with a backup code too', async () => {
    const u = await userWith2fa('cid@example.com')
    const token = await pending(u)
    const v = await authCall(
      s,
      'POST',
      '/two-factor/verify-backup-code',
      { code: u.backupCodes[0] },
      { headers: { [HEADER]: token } },
    )
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    expect(v.body.user.id).toBe(u.id)
  })

  it('refuses a forged or altered token, and a code without any', async () => {
    const u = await userWith2fa('dov@example.com')
    const token = await pending(u)
    const code = await u.code()
    const id = token.slice(0, token.indexOf('.'))
    for (const bad of [id, `${id}.${'A'.repeat(43)}=`, `${token}x`, 'nonsense']) {
      const r = await authCall(s, 'POST', '/two-factor/verify-totp', { code }, { headers: { [HEADER]: bad } })
      expect(r.status, bad).toBe(401)
      expect(r.body.code).toBe('INVALID_TWO_FACTOR_COOKIE')
    }
    // The genuine token still works after the failures above (they never reached its challenge).
    const ok = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      { headers: { [HEADER]: token } },
    )
    expect(ok.status).toBe(200)
  })

  it('leaves a cookie that is already there alone', async () => {
    const u = await userWith2fa('eli@example.com')
    const first = await pending(u)
    const second = await pending(u)
    // The cookie wins over the header: `first` is consumed, `second` is still good afterwards.
    const code = await u.code()
    const r = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      {
        headers: {
          cookie: `bastide.two_factor=${encodeURIComponent(first)}`,
          origin: appOrigin(s),
          [HEADER]: second,
        },
      },
    )
    expect(r.status).toBe(200)
    const reuse = await authCall(
      s,
      'POST',
      '/two-factor/verify-totp',
      { code },
      { headers: { [HEADER]: first } },
    )
    expect(reuse.status).toBe(401)
    expect(reuse.body.code).toBe('INVALID_TWO_FACTOR_COOKIE')
    // The TOTP code is spent: a backup code finishes the second challenge.
    const r2 = await authCall(
      s,
      'POST',
      '/two-factor/verify-backup-code',
      { code: u.backupCodes[0] },
      { headers: { [HEADER]: second } },
    )
    expect(r2.status).toBe(200)
  })

  it('is not a credential anywhere else', async () => {
    const u = await userWith2fa('fay@example.com')
    const token = await pending(u)
    const g = await authCall(s, 'GET', '/get-session', undefined, { headers: { [HEADER]: token } })
    expect(g.body).toBe(null)
    const en = await authCall(
      s,
      'POST',
      '/two-factor/enable',
      { password: u.password },
      { headers: { [HEADER]: token } },
    )
    expect(en.status).toBe(401)
    const rec = await s.api('GET', '/api/collections/users/records', undefined, {
      as: 'anon',
      headers: { [HEADER]: token },
    })
    expect(rec.body.items).toEqual([])
  })
})
