import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addressGroup, endpointKey } from '../src/http/middleware/rate-limit.ts'
import { authCall } from './support/auth.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

// BASTIDE_AUTH_RATE_LIMIT=5: 5/min per address on ordinary endpoints, ceil(5/3) = 2 on sign-in and other
// secret-checking ones, and 2 per account (whatever the address) where the body names one.
const PER_IP = 5
const STRICT = 2
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const PASSWORD = 'a long and unusual passphrase'

/** Whether Redis answers, and why not when it does not. */
async function probeRedis(): Promise<string | undefined> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1_000, retryStrategy: () => null })
  let cause: Error | undefined
  r.on('error', (err: Error) => {
    cause ??= err
  })
  try {
    await r.connect()
    await r.ping()
    return undefined
  } catch (err) {
    return (cause ?? (err as Error)).message || String(err)
  } finally {
    r.disconnect()
  }
}
const redisDown = await probeRedis()
if (redisDown)
  console.warn(`[auth-rate-limit] Redis suite skipped: ${REDIS_URL} is unreachable (${redisDown})`)

let n = 0
/** A fresh address, so each test starts with untouched per-account counters. */
const fresh = (tag: string) => `${tag}-${++n}-${randomBytes(3).toString('hex')}@example.com`

function signIn(s: TestServer, email: string, ip?: string, path = '/sign-in/email') {
  return authCall(
    s,
    'POST',
    path,
    { email, password: PASSWORD },
    ip ? { headers: { 'x-forwarded-for': ip } } : {},
  )
}

/** Over the network, as a client behind the operator's proxy (BASTIDE_TRUST_PROXY) at `ip`. */
async function signInOverHttp(s: TestServer, email: string, ip: string) {
  const res = await fetch(`${s.bastide.url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ email, password: PASSWORD }),
  })
  return { status: res.status, headers: res.headers, body: (await res.json()) as any }
}

function expectLimited(r: { status: number; body: any; headers: Headers }) {
  expect(r.status).toBe(429)
  expect(r.body).toMatchObject({ code: 'RATE_LIMITED', status: 429 })
  expect(typeof r.body.message).toBe('string')
  const retryAfter = Number(r.headers.get('retry-after'))
  expect(retryAfter).toBeGreaterThan(0)
  expect(retryAfter).toBeLessThanOrEqual(60)
  expect(r.body.details).toEqual({ retryAfter })
}

/** Refused by better-auth (wrong password, unknown account): the request went through the limits. */
function expectThrough(r: { status: number; body: any }) {
  expect(r.status).toBe(401)
  expect(r.body.code).toBe('INVALID_EMAIL_OR_PASSWORD')
}

function rateLimitSuite(store: 'postgres' | 'redis') {
  const prefix = `bst-test:${randomBytes(6).toString('hex')}:`
  let s: TestServer

  beforeAll(async () => {
    s = await startTestServer({
      listen: true,
      env: {
        BASTIDE_TRUST_PROXY: 'true',
        BASTIDE_AUTH_RATE_LIMIT: String(PER_IP),
        ...(store === 'redis' ? { REDIS_URL, BASTIDE_REDIS_PREFIX: prefix } : {}),
      },
    })
  })
  afterAll(async () => {
    await s?.close()
    if (store === 'redis') {
      // Only this run's keys: the Redis may be shared.
      const r = new Redis(REDIS_URL)
      let cursor = '0'
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
        if (keys.length) await r.del(...keys)
        cursor = next
      } while (cursor !== '0')
      await r.quit()
    }
  })

  it('lets requests through, body intact, in process and over the network', async () => {
    const email = fresh('ok')
    const up = await authCall(s, 'POST', '/sign-up/email', { email, password: PASSWORD, name: 'Ok' })
    expect(up.status).toBe(200)
    // In process, without an address (key `local`): better-auth gets the very request, body unread.
    const local = await signIn(s, email)
    expect(local.status).toBe(200)
    expect(typeof local.body.token).toBe('string')
    const remote = await signInOverHttp(s, email.toUpperCase(), '198.51.100.7')
    expect(remote.status).toBe(200)
    expect(typeof remote.body.token).toBe('string')
  })

  it('keeps counters in the configured store', async () => {
    await signIn(s, fresh('store'), '198.51.100.8')
    if (store === 'postgres') {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.rate_limits`.execute(
        s.bastide.database.db,
      )
      expect(rows[0]!.n).toBeGreaterThan(0)
    } else {
      const r = new Redis(REDIS_URL)
      const [, keys] = await r.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 1000)
      await r.quit()
      expect(keys.length).toBeGreaterThan(0)
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.rate_limits`.execute(
        s.bastide.database.db,
      )
      expect(rows[0]!.n).toBe(0)
    }
  })

  it('gives no fresh allowance to spelling variants of an exhausted endpoint', async () => {
    const ip = '203.0.113.10'
    for (let i = 0; i < STRICT; i++) expectThrough(await signIn(s, fresh('matrix'), ip))
    expectLimited(await signIn(s, fresh('matrix'), ip))
    for (const path of [
      '//sign-in//email',
      '/sign-in/email/',
      '/sign-in/email//',
      '/SIGN-IN/email',
      '/Sign-In/Email/',
      '/sign-in/%65mail',
      '/sign-in/email?x=1',
    ]) {
      const r = await signIn(s, fresh('matrix'), ip, path)
      // 429, or a 404 from routing that never reached better-auth; never a 401 from a fresh allowance.
      if (r.status === 404) expect(r.body.code).toBe('NOT_FOUND')
      else expectLimited(r)
    }
    // The whole path varies too, not only the part after /api/auth.
    const upper = await s.api(
      'POST',
      '/API/AUTH/sign-in/email',
      { email: fresh('matrix'), password: PASSWORD },
      { as: 'anon', headers: { 'x-forwarded-for': ip } },
    )
    if (upper.status === 404) expect(upper.body.code).toBe('NOT_FOUND')
    else expectLimited(upper)
    const r = await s.api(
      'POST',
      '//api//auth/sign-in/email',
      { email: fresh('matrix'), password: PASSWORD },
      { as: 'anon', headers: { 'x-forwarded-for': ip } },
    )
    expectLimited(r)
    // Another endpoint has its own counter.
    const other = await authCall(
      s,
      'POST',
      '/sign-up/email',
      { email: fresh('matrix'), password: PASSWORD, name: 'M' },
      {
        headers: { 'x-forwarded-for': ip },
      },
    )
    expect(other.status).toBe(200)
  })

  it('holds a client to its address limit whichever accounts it names', async () => {
    const ip = '203.0.113.11'
    for (let i = 0; i < PER_IP; i++) {
      const r = await authCall(
        s,
        'POST',
        '/sign-up/email',
        { email: fresh('ip'), password: PASSWORD, name: 'I' },
        {
          headers: { 'x-forwarded-for': ip },
        },
      )
      expect(r.status).toBe(200)
    }
    expectLimited(
      await authCall(
        s,
        'POST',
        '/sign-up/email',
        { email: fresh('ip'), password: PASSWORD, name: 'I' },
        {
          headers: { 'x-forwarded-for': ip },
        },
      ),
    )
    // Sign-in, a secret-checking endpoint, allows fewer.
    const ip2 = '203.0.113.12'
    for (let i = 0; i < STRICT; i++) expectThrough(await signIn(s, fresh('ip'), ip2))
    expectLimited(await signIn(s, fresh('ip'), ip2))
  })

  it('caps guesses at one account spread over many addresses', async () => {
    const victim = fresh('victim')
    for (let i = 1; i <= STRICT; i++) expectThrough(await signInOverHttp(s, victim, `192.0.2.${i}`))
    // A new address, but the same account (in any case): the account's counter says no.
    expectLimited(await signInOverHttp(s, victim.toUpperCase(), `192.0.2.${STRICT + 1}`))
    expectLimited(await signInOverHttp(s, ` ${victim} `, `192.0.2.${STRICT + 2}`))
    // That address itself is not limited: another account goes through.
    expectThrough(await signInOverHttp(s, fresh('bystander'), `192.0.2.${STRICT + 1}`))
  })

  it('counts form-encoded bodies against the account too', async () => {
    const victim = fresh('form')
    const form = (ip: string) =>
      fetch(`${s.bastide.url}/api/auth/sign-in/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
        body: new URLSearchParams({ email: victim, password: PASSWORD }),
      })
    for (let i = 1; i <= STRICT; i++) await (await form(`192.0.2.${100 + i}`)).arrayBuffer()
    expectLimited(await signInOverHttp(s, victim, '192.0.2.150'))
  })

  it('counts IPv6 clients per /64', async () => {
    for (let i = 0; i < STRICT; i++) expectThrough(await signIn(s, fresh('v6'), '2001:db8:aaaa:1::1'))
    expectLimited(await signIn(s, fresh('v6'), '2001:db8:aaaa:1:ffff:ffff:ffff:2'))
    expectLimited(await signInOverHttp(s, fresh('v6'), '2001:0db8:AAAA:0001::9'))
    expectThrough(await signIn(s, fresh('v6'), '2001:db8:aaaa:2::1'))
  })
}

describe('auth rate limits, PostgreSQL store', () => rateLimitSuite('postgres'))
describe.skipIf(redisDown !== undefined)('auth rate limits, Redis store', () => rateLimitSuite('redis'))

describe('auth rate limits, Redis unreachable', () => {
  let s: TestServer
  beforeAll(async () => {
    // Port 1: nothing listens there; the limiter fails open (and logs a warning) instead of locking out.
    s = await startTestServer({ env: { REDIS_URL: 'redis://127.0.0.1:1', BASTIDE_AUTH_RATE_LIMIT: '1' } })
  })
  afterAll(async () => {
    await s?.close()
  })

  it('lets auth requests through', async () => {
    for (let i = 0; i < 3; i++) expectThrough(await signIn(s, 'nobody@example.com'))
  })
})

describe('counter keys', () => {
  it('groups IPv6 addresses by /64 and keeps IPv4 ones whole', () => {
    expect(addressGroup('203.0.113.5')).toBe('203.0.113.5')
    expect(addressGroup('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64')
    expect(addressGroup('2001:0db8:0001:0002:ffff:0:0:1')).toBe('2001:db8:1:2::/64')
    expect(addressGroup('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64')
    expect(addressGroup('::1')).toBe('0:0:0:0::/64')
    expect(addressGroup('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(addressGroup('::ffff:198.51.100.3')).toBe('198.51.100.3')
    expect(addressGroup('64:ff9b::198.51.100.3')).toBe('64:ff9b:0:0::/64')
  })

  it('names an endpoint by its canonical, decoded, lower-cased path', () => {
    const key = endpointKey('/api/auth/sign-in/email')
    for (const p of ['//api//auth/sign-in/email', '/api/auth/sign-in/email/', '/API/Auth/SIGN-IN/%65mail'])
      expect(endpointKey(p)).toBe(key)
    expect(endpointKey('/api/auth/sign-up/email')).not.toBe(key)
  })
})
