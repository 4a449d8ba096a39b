import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './support/harness.ts'

/**
 * The SDK in Node signs in without an Origin header; browsers keep their CSRF checks. (Both better-auth
 * instances set the checks on explicitly, so they run under vitest as in production: auth-origin.test.ts.)
 */
const PUBLIC_URL = 'http://app.example.test'
let s: TestServer
let url: string

beforeAll(async () => {
  s = await startTestServer({ listen: true, env: { BASTIDE_PUBLIC_URL: PUBLIC_URL } })
  url = s.bastide.url
})
afterAll(async () => {
  await s?.close()
})

const PASSWORD = 'a long and unusual passphrase'

async function signUp(email: string): Promise<void> {
  const r = await fetch(`${url}/api/auth/sign-up/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, name: 'N' }),
  })
  expect(r.status, await r.clone().text()).toBe(200)
}

/** A raw HTTP request: Node's fetch would overwrite `Sec-Fetch-Mode` with `cors`. */
function rawPost(
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${path}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        )
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

describe('password sign-in without an Origin header', () => {
  it("accepts Node's fetch (it sends Sec-Fetch-Mode: cors and nothing else)", async () => {
    await signUp('node@example.com')
    const r = await fetch(`${url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'node@example.com', password: PASSWORD }),
    })
    const body = (await r.json()) as { token?: unknown; user?: { email?: string } }
    expect(r.status, JSON.stringify(body)).toBe(200)
    expect(typeof body.token).toBe('string')
    expect(body.user?.email).toBe('node@example.com')
  })

  it('still checks requests that look like a browser', async () => {
    await signUp('browser@example.com')
    const sameOrigin = await fetch(`${url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ email: 'browser@example.com', password: PASSWORD }),
    })
    expect(sameOrigin.status).toBe(403)
    expect(((await sameOrigin.json()) as { token?: unknown }).token).toBeUndefined()
    // With the server's public origin, the same request is fine.
    const trusted = await fetch(`${url}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin', origin: PUBLIC_URL },
      body: JSON.stringify({ email: 'browser@example.com', password: PASSWORD }),
    })
    expect(trusted.status).toBe(200)
  })

  it('refuses a cross-site navigation (a form posted from another site)', async () => {
    await signUp('form@example.com')
    const r = await rawPost(
      '/api/auth/sign-in/email',
      { email: 'form@example.com', password: PASSWORD },
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' },
    )
    expect(r.status).toBe(403)
    expect(r.body.code).toBe('CROSS_SITE_NAVIGATION_LOGIN_BLOCKED')
    expect(r.body.token).toBeUndefined()
    // The bare navigate header (no Sec-Fetch-Site) is a browser too, not a lone undici header: refused.
    const bare = await rawPost(
      '/api/auth/sign-in/email',
      { email: 'form@example.com', password: PASSWORD },
      { 'sec-fetch-mode': 'navigate', origin: 'https://evil.example' },
    )
    expect(bare.status).toBe(403)
  })
})
