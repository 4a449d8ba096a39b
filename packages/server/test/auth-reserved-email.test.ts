import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, signUp } from './support/auth.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

/**
 * Users who sign up by phone get a made-up address at `phone.invalid` (anonymous users one at
 * `anonymous.invalid`). Nobody may take such an address by email: it would stand in the way of the phone's
 * owner. And should one be taken anyway (an account from before the rule), the phone sign-up still works.
 */
let s: TestServer
let smsServer: Server
const sms: string[] = []

beforeAll(async () => {
  smsServer = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      sms.push(JSON.parse(Buffer.concat(chunks).toString('utf8')).text)
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => smsServer.listen(0, '127.0.0.1', resolve))
  const port = (smsServer.address() as AddressInfo).port
  s = await startTestServer({ env: { BASTIDE_SMS_WEBHOOK_URL: `http://127.0.0.1:${port}/sms` } })
})
afterAll(async () => {
  await s?.close()
  await new Promise<void>((resolve) => (smsServer ? smsServer.close(() => resolve()) : resolve()))
})

const RESERVED = [
  '33611111111@phone.invalid',
  '33611111111@PHONE.INVALID',
  'Someone@Phone.Invalid',
  'a@sub.phone.invalid',
  'temp-x@anonymous.invalid',
]
const PASSWORD = 'a long and unusual passphrase'

function expectReserved(r: { status: number; body: any }, field: string, what: string) {
  expect(r.status, `${what}: ${JSON.stringify(r.body)}`).toBe(400)
  expect(r.body).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
  expect(r.body.details.fields[field]).toMatchObject({ code: 'reserved' })
  expect(r.body.details.fields[field].message).toMatch(/reserved/)
}

async function usersWithEmail(email: string): Promise<number> {
  const r = await sql<{
    n: number
  }>`SELECT count(*)::int AS n FROM data.users WHERE lower(email) = ${email.toLowerCase()}`.execute(
    s.bastide.database.db,
  )
  return r.rows[0]!.n
}

describe('addresses at phone.invalid and anonymous.invalid are reserved', () => {
  it('refuses them at email sign-up, and creates nothing', async () => {
    for (const email of RESERVED) {
      expectReserved(
        await authCall(s, 'POST', '/sign-up/email', { email, password: PASSWORD, name: 'X' }),
        'email',
        email,
      )
      expect(await usersWithEmail(email)).toBe(0)
    }
  })

  it('refuses them for a magic link, an email OTP and an email change', async () => {
    const u = await signUp(s, 'owner@example.com')
    for (const email of RESERVED) {
      expectReserved(await authCall(s, 'POST', '/sign-in/magic-link', { email }), 'email', email)
      expectReserved(
        await authCall(s, 'POST', '/email-otp/send-verification-otp', { email, type: 'sign-in' }),
        'email',
        email,
      )
      expectReserved(
        await authCall(s, 'POST', '/sign-in/email-otp', { email, otp: '123456' }),
        'email',
        email,
      )
      expectReserved(
        await authCall(s, 'POST', '/change-email', { newEmail: email }, { token: u.token }),
        'newEmail',
        email,
      )
      expect(await usersWithEmail(email)).toBe(0)
    }
  })

  it('takes addresses that only look alike', async () => {
    for (const email of ['a@phone.invalid.example.com', 'a@notphone.invalid.example.com']) {
      const r = await authCall(s, 'POST', '/sign-up/email', { email, password: PASSWORD, name: 'X' })
      expect(r.status, email).toBe(200)
    }
  })
})

describe('phone sign-up', () => {
  it('works even when its made-up address is already taken, and leaves that account alone', async () => {
    // An account that took the address before it was reserved.
    const squatter = await signUp(s, 'squatter@example.com')
    await sql`UPDATE data.users SET email = '33622222222@phone.invalid' WHERE id = ${squatter.id}`.execute(
      s.bastide.database.db,
    )
    sms.length = 0
    const sent = await authCall(s, 'POST', '/phone-number/send-otp', { phoneNumber: '+33622222222' })
    expect(sent.status).toBe(200)
    const code = /\d{6}/.exec(sms[0] ?? '')?.[0]
    expect(code).toBeDefined()
    const v = await authCall(s, 'POST', '/phone-number/verify', { phoneNumber: '+33622222222', code })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    expect(v.body.user.id).not.toBe(squatter.id)
    expect(v.body.user).toMatchObject({ phoneNumber: '+33622222222', phoneNumberVerified: true })
    expect(v.body.user.email).toMatch(/^33622222222[^@]*@phone\.invalid$/)
    expect(v.body.user.email).not.toBe('33622222222@phone.invalid')
    const me = await s.api('GET', `/api/collections/users/records/${v.body.user.id}`, undefined, {
      as: v.body.token,
    })
    expect(me.status).toBe(200)
    // The other account keeps its address and has no phone.
    const other = await sql<{ email: string; phone: string | null }>`
      SELECT email, phone FROM data.users WHERE id = ${squatter.id}`.execute(s.bastide.database.db)
    expect(other.rows[0]).toEqual({ email: '33622222222@phone.invalid', phone: null })
  })
})

describe('errors better-auth does not expect', () => {
  it('leave through the server’s error handler: a database refusal of bad input is a 4xx, not a 500', async () => {
    // The race two phone sign-ups could run into is a unique violation (409); a NUL byte is the bad input
    // PostgreSQL refuses that is easiest to send.
    const u = await signUp(s, 'nul@example.com')
    const r = await authCall(s, 'POST', '/update-user', { name: 'a\u0000b' }, { token: u.token })
    expect(r.status, JSON.stringify(r.body)).toBe(400)
    expect(r.body).toMatchObject({ code: 'BAD_REQUEST', status: 400 })
  })
})
