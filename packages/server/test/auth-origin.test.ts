import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, signUp } from './support/auth.ts'
import type { ApiResponse, TestServer } from './support/harness.ts'
import { startTestServer } from './support/harness.ts'

/**
 * A request that carries cookies is refused unless it comes from a trusted origin (CSRF), on both
 * better-auth instances, and that holds under vitest too: better-auth turns the check off when NODE_ENV is
 * `test` unless told otherwise. Without BASTIDE_PUBLIC_URL the server calls itself http://localhost:$PORT
 * and trusts the loopback addresses of that port as well; any other origin is told what to set.
 */
let s: TestServer
/** The same server with a public URL: only that origin is trusted. */
let pub: TestServer

const PUBLIC_URL = 'https://app.example.test'

beforeAll(async () => {
  s = await startTestServer()
  pub = await startTestServer({ env: { BASTIDE_PUBLIC_URL: PUBLIC_URL } })
})
afterAll(async () => {
  await s?.close()
  await pub?.close()
})

/** A user's session cookie (`name=value`), from a password sign-in. */
async function sessionCookie(server: TestServer, email: string): Promise<{ id: string; cookie: string }> {
  const u = await signUp(server, email)
  const r = await authCall(server, 'POST', '/sign-in/email', { email, password: u.password })
  const cookie = r.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    // `__Secure-` in front when the public URL is https.
    .find((c) => /^(__Secure-)?bastide\.session_token=/.test(c))
  if (!cookie) throw new Error('no session cookie')
  return { id: u.id, cookie }
}

function rename(server: TestServer, cookie: string, origin: string | undefined, name: string) {
  return authCall(
    server,
    'POST',
    '/update-user',
    { name },
    {
      headers: { cookie, ...(origin ? { origin } : {}) },
    },
  )
}

async function nameOf(server: TestServer, cookie: string): Promise<string> {
  const r = await authCall(server, 'GET', '/get-session', undefined, { headers: { cookie } })
  return r.body.user.name
}

function expectUntrusted(r: ApiResponse, origin: string, publicUrl: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(403)
  expect(r.body.code).toBe('INVALID_ORIGIN')
  expect(r.body.message).toBe(
    `This page was opened at ${origin}, but the server's public URL (BASTIDE_PUBLIC_URL) is ${publicUrl}: ` +
      `open ${publicUrl} instead, or set BASTIDE_PUBLIC_URL to the address you use, or add ${origin} to ` +
      'BASTIDE_TRUSTED_ORIGINS.',
  )
  expect(r.body.details).toEqual({ origin, publicUrl })
}

describe('origin checks (CSRF) under vitest', () => {
  it('runs in test mode, where better-auth would skip them by default', () => {
    expect(process.env.NODE_ENV).toBe('test')
  })

  it('refuses a cookie-bearing POST from a foreign origin or from none; takes it from the public URL', async () => {
    const { cookie } = await sessionCookie(s, 'ines@example.com')
    expectUntrusted(
      await rename(s, cookie, 'https://evil.example', 'Mallory'),
      'https://evil.example',
      'http://localhost:8787',
    )
    const none = await rename(s, cookie, undefined, 'Mallory')
    expect(none.status).toBe(403)
    expect(none.body.code).toBe('MISSING_OR_NULL_ORIGIN')
    expect(await nameOf(s, cookie)).toBe('ines')
    const ok = await rename(s, cookie, 'http://localhost:8787', 'Inès')
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    expect(await nameOf(s, cookie)).toBe('Inès')
  })

  it('refuses one on the console admins’ instance too', async () => {
    const r = await s.api(
      'POST',
      '/api/admin/auth/sign-in/email',
      { email: 'admin@example.com', password: 'whatever it may be' },
      { as: 'anon', headers: { cookie: 'bastide_admin.session_token=x', origin: 'https://evil.example' } },
    )
    expectUntrusted(r, 'https://evil.example', 'http://localhost:8787')
  })
})

describe('the public URL', () => {
  it('is joined by its loopback addresses when BASTIDE_PUBLIC_URL is unset', async () => {
    const { cookie } = await sessionCookie(s, 'jon@example.com')
    for (const origin of ['http://127.0.0.1:8787', 'http://[::1]:8787']) {
      const r = await rename(s, cookie, origin, `Jon ${origin}`)
      expect(r.status, `${origin}: ${JSON.stringify(r.body)}`).toBe(200)
    }
    // Another port, or another address of the machine, is another origin: told what to set.
    for (const origin of ['http://127.0.0.1:3000', 'http://192.168.1.20:8787']) {
      expectUntrusted(await rename(s, cookie, origin, 'Nope'), origin, 'http://localhost:8787')
    }
  })

  it('is the only origin trusted when it is set', async () => {
    const { cookie } = await sessionCookie(pub, 'kim@example.com')
    expectUntrusted(
      await rename(pub, cookie, 'http://127.0.0.1:8787', 'Nope'),
      'http://127.0.0.1:8787',
      PUBLIC_URL,
    )
    expect((await rename(pub, cookie, PUBLIC_URL, 'Kim')).status).toBe(200)
  })

  it('explains a refused sign-in from a page opened at another address', async () => {
    await signUp(pub, 'lou@example.com')
    // A browser's sign-in: no cookie yet, but fetch metadata, so the origin is checked.
    const r = await authCall(
      pub,
      'POST',
      '/sign-in/email',
      { email: 'lou@example.com', password: 'a long and unusual passphrase' },
      {
        headers: {
          origin: 'http://localhost:8787',
          'sec-fetch-site': 'cross-site',
          'sec-fetch-mode': 'cors',
          'sec-fetch-dest': 'empty',
        },
      },
    )
    expectUntrusted(r, 'http://localhost:8787', PUBLIC_URL)
  })
})
