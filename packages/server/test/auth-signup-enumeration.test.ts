import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, signUp } from './support/auth.ts'
import type { ApiResponse, TestServer } from './support/harness.ts'
import { startTestServer } from './support/harness.ts'

/**
 * Sign-up answers the same whether or not the address already has an account: apart from values that are
 * random anyway (the id, the timestamps), the two answers are the same bytes, with the same headers.
 */
let s: TestServer

beforeAll(async () => {
  s = await startTestServer()
})
afterAll(async () => {
  await s?.close()
})

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** The answer as text, with the random values (and the address, which the caller chose) replaced by tags. */
function comparable(r: ApiResponse, email: string): string {
  const text = JSON.stringify(r.body, (_key, value) => {
    if (typeof value !== 'string') return value
    if (value === email) return '<email>'
    if (UUID.test(value)) return '<uuid>'
    if (ISO.test(value)) return '<timestamp>'
    return value
  })
  return text
}

/** Headers a client or an observer could tell the answers apart by (not the request id or the date). */
function headersOf(r: ApiResponse): Record<string, string> {
  const out: Record<string, string> = {}
  r.headers.forEach((value, name) => {
    if (name !== 'x-request-id' && name !== 'date' && name !== 'etag') out[name] = value
  })
  return out
}

const signUpAs = (email: string, extra: Record<string, unknown> = {}) =>
  authCall(s, 'POST', '/sign-up/email', {
    email,
    password: 'a long and unusual passphrase',
    name: 'Same Name',
    ...extra,
  })

describe('sign-up does not tell whether an address is taken', () => {
  it('answers a taken address with the bytes and headers of a new one', async () => {
    // Same length: the Content-Length of the two answers must be equal too.
    const taken = 'taken01@example.com'
    const fresh = 'fresh01@example.com'
    await signUp(s, taken)
    const a = await signUpAs(taken)
    const b = await signUpAs(fresh)
    expect(a.status).toBe(200)
    expect(b.status).toBe(200)
    expect(comparable(a, taken)).toBe(comparable(b, fresh))
    expect(headersOf(a)).toEqual(headersOf(b))
    // The random values are there, with their types, in both.
    for (const r of [a, b]) {
      expect(r.body.token).toBe(null)
      expect(r.body.user.id).toMatch(UUID)
      expect(r.body.user.createdAt).toMatch(ISO)
      expect(r.body.user.updatedAt).toBe(r.body.user.createdAt)
    }
  })

  it('also with the optional fields a sign-up may carry', async () => {
    const taken = 'taken02@example.com'
    const fresh = 'fresh02@example.com'
    await signUp(s, taken)
    const a = await signUpAs(taken, { locale: 'fr', image: 'https://example.com/a.png' })
    const b = await signUpAs(fresh, { locale: 'fr', image: 'https://example.com/a.png' })
    expect(comparable(a, taken)).toBe(comparable(b, fresh))
    expect(headersOf(a)).toEqual(headersOf(b))
  })
})
