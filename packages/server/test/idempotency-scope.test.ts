/**
 * Whose Idempotency-Keys are whose: a stored answer is replayed to the caller who made it, never to a
 * stranger who happens to send the same key. Anonymous callers have no identity, so their network address
 * scopes their keys (BASTIDE_TRUST_PROXY makes X-Forwarded-For that address here, as behind a proxy).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp } from './support/auth.ts'
import { type ApiResponse, createCollection, startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
beforeAll(async () => {
  s = await startTestServer({ env: { BASTIDE_TRUST_PROXY: 'true' } })
  await createCollection(s, {
    name: 'notes',
    fields: [{ name: 't', type: 'text' }],
    rules: { list: '', view: '', create: '', update: '' },
  })
})
afterAll(() => s?.close())

const base = '/api/collections/notes/records'
/** An anonymous POST from `ip` (undefined: in-process, no address at all). */
const post = (body: unknown, key: string, ip?: string, as = 'anon'): Promise<ApiResponse> =>
  s.api('POST', base, body, {
    as,
    headers: { 'idempotency-key': key, ...(ip ? { 'x-forwarded-for': ip } : {}) },
  })
const count = async () => (await s.api('GET', `${base}?count=true`)).body.totalItems as number

describe('anonymous Idempotency-Keys', () => {
  it('two anonymous clients with the same key do not see each other’s answers', async () => {
    const key = 'shared-key-1'
    const a = await post({ t: 'from a' }, key, '203.0.113.1')
    expect(a.status).toBe(201)
    const b = await post({ t: 'from a' }, key, '198.51.100.7')
    expect(b.status).toBe(201)
    expect(b.headers.get('idempotency-replayed')).toBeNull()
    expect(b.body.id).not.toBe(a.body.id)
    // Nor does a third one learn, through a 422, that the key was used with another body.
    const c = await post({ t: 'from c' }, key, '192.0.2.99')
    expect(c.status).toBe(201)
    expect(c.body.t).toBe('from c')
  })

  it('the same anonymous client’s retry still replays its own answer', async () => {
    const key = 'retry-key-1'
    const first = await post({ t: 'once' }, key, '203.0.113.5')
    const before = await count()
    const retry = await post({ t: 'once' }, key, '203.0.113.5')
    expect(retry.status).toBe(201)
    expect(retry.headers.get('idempotency-replayed')).toBe('true')
    expect(retry.body).toEqual(first.body)
    expect(await count()).toBe(before)
    const otherBody = await post({ t: 'twice' }, key, '203.0.113.5')
    expect(otherBody.status).toBe(422)
    expect(otherBody.body.code).toBe('IDEMPOTENCY_KEY_REUSED')
  })

  it('without a known address nothing is stored for an anonymous caller: each request runs', async () => {
    const key = 'no-address-key'
    const one = await post({ t: 'n' }, key)
    const two = await post({ t: 'n' }, key)
    expect([one.status, two.status]).toEqual([201, 201])
    expect(two.headers.get('idempotency-replayed')).toBeNull()
    expect(two.body.id).not.toBe(one.body.id)
  })

  it('a signed-in user’s key follows the user, whatever the address', async () => {
    const u = await signUp(s, 'idem@example.com')
    const key = 'user-key-1'
    const first = await post({ t: 'u' }, key, '203.0.113.20', u.token)
    const moved = await post({ t: 'u' }, key, '198.51.100.20', u.token)
    expect(moved.headers.get('idempotency-replayed')).toBe('true')
    expect(moved.body.id).toBe(first.body.id)
    // An anonymous caller on the user's address does not get the user's answer.
    const anon = await post({ t: 'u' }, key, '203.0.113.20')
    expect(anon.headers.get('idempotency-replayed')).toBeNull()
    expect(anon.body.id).not.toBe(first.body.id)
  })
})
