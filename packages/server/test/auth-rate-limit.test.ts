import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addressGroup, endpointKey } from '../src/http/middleware/rate-limit.ts'
import { authCall } from './support/auth.ts'
import { probeRedis, REDIS_URL } from './support/cluster-redis.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

// BASTIDE_AUTH_RATE_LIMIT=5: 5/min per address on ordinary endpoints, ceil(5/3) = 2 on sign-in and other
// secret-checking ones; on an account's secret checks, 2 failures per client per 15 minutes and 10 × 2 = 20
// failures from everywhere per hour.
const PER_IP = 5
const STRICT = 2
const ACCOUNT_FAILURES = 10 * STRICT
const PASSWORD = 'a long and unusual passphrase'
const WRONG = 'not the passphrase at all'

const redisDown = await probeRedis()
if (redisDown)
  console.warn(`[auth-rate-limit] Redis suite skipped: ${REDIS_URL} is unreachable (${redisDown})`)

let n = 0
/** A fresh address, so each test starts with untouched per-account counters. */
const fresh = (tag: string) => `${tag}-${++n}-${randomBytes(3).toString('hex')}@example.com`

function signIn(s: TestServer, email: string, ip?: string, path = '/sign-in/email', password = PASSWORD) {
  return authCall(s, 'POST', path, { email, password }, ip ? { headers: { 'x-forwarded-for': ip } } : {})
}

/** A POST to /api/auth`path` from a client at `ip` (behind the operator's proxy). */
function from(s: TestServer, ip: string, path: string, body: unknown) {
  return authCall(s, 'POST', path, body, { headers: { 'x-forwarded-for': ip } })
}

/** An account with PASSWORD, signed up from an address of its own (sign-up has its per-address limit). */
async function account(s: TestServer, tag: string): Promise<string> {
  const email = fresh(tag)
  const r = await from(s, `10.${n % 250}.${(n * 7) % 250}.1`, '/sign-up/email', {
    email,
    password: PASSWORD,
    name: tag,
  })
  expect(r.status).toBe(200)
  return email
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

/** 429 RATE_LIMITED with a Retry-After of at most `maxRetryAfter` seconds; returns that Retry-After. */
function expectLimited(r: { status: number; body: any; headers: Headers }, maxRetryAfter = 60): number {
  expect(r.status).toBe(429)
  expect(r.body).toMatchObject({ code: 'RATE_LIMITED', status: 429 })
  expect(typeof r.body.message).toBe('string')
  const retryAfter = Number(r.headers.get('retry-after'))
  expect(retryAfter).toBeGreaterThan(0)
  expect(retryAfter).toBeLessThanOrEqual(maxRetryAfter)
  expect(r.body.details).toEqual({ retryAfter })
  return retryAfter
}

/** Throttled by an account's failure budgets: per client (15 minutes) or the account's (an hour). */
const expectThrottled = (r: { status: number; body: any; headers: Headers }) => expectLimited(r, 3600)

/** Answered by better-auth (a wrong code, an unknown account...): not held back by a limit. */
function expectAnswered(r: { status: number; body: any }) {
  expect(r.status).toBeGreaterThanOrEqual(400)
  expect(r.status).toBeLessThan(429)
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

  it('lets the owner sign in while a stranger guessing from another address is throttled', async () => {
    const victim = await account(s, 'victim')
    const attacker = '198.18.1.1'
    for (let i = 0; i < STRICT; i++) expectThrough(await signIn(s, victim, attacker, undefined, WRONG))
    expectThrottled(await signIn(s, victim, attacker, undefined, WRONG))
    // The owner, from an address that has not failed: in at once, with no 429 in the way.
    const owner = await signIn(s, victim, '198.18.1.2')
    expect(owner.status).toBe(200)
    expect(typeof owner.body.token).toBe('string')
    // The stranger stays throttled, even with the right password.
    expectThrottled(await signIn(s, victim, attacker))
  })

  it("budgets a client's failures on an account across its secret checks and spellings", async () => {
    const victim = fresh('cross')
    const client = '198.18.2.1'
    for (let i = 0; i < STRICT; i++) expectThrough(await signIn(s, victim, client))
    // Another secret check (with a per-address counter of its own) on the same account: no more guesses.
    expectThrottled(
      await from(s, client, '/sign-in/email-otp', { email: victim.toUpperCase(), otp: '000000' }),
    )
    expectThrottled(await from(s, client, '/sign-in/email-otp', { email: ` ${victim} `, otp: '000000' }))
    // That client on another account, and another client on this account, are answered.
    expectAnswered(await from(s, client, '/email-otp/verify-email', { email: fresh('cross'), otp: '000000' }))
    expectAnswered(await from(s, '198.18.2.2', '/email-otp/verify-email', { email: victim, otp: '000000' }))
  })

  it("clears a client's failures on an account when it proves the secret", async () => {
    const owner = await account(s, 'typo')
    const client = '198.18.3.1'
    expectThrough(await signIn(s, owner, client, undefined, WRONG))
    expect((await signIn(s, owner, client)).status).toBe(200)
    // A fresh budget: STRICT more failures are answered (elsewhere than /sign-in/email, whose own
    // per-address counter is spent), then the client is throttled.
    for (let i = 0; i < STRICT; i++)
      expectAnswered(await from(s, client, '/sign-in/email-otp', { email: owner, otp: '000000' }))
    expectThrottled(await from(s, client, '/email-otp/verify-email', { email: owner, otp: '000000' }))
  })

  it('counts form-encoded bodies against the account too', async () => {
    const victim = fresh('form')
    const client = '198.18.4.1'
    const form = () =>
      fetch(`${s.bastide.url}/api/auth/sign-in/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': client },
        body: new URLSearchParams({ email: victim, password: PASSWORD }),
      })
    for (let i = 0; i < STRICT; i++)
      expect(((await (await form()).json()) as { code: string }).code).toBe('INVALID_EMAIL_OR_PASSWORD')
    expectThrottled(await from(s, client, '/sign-in/email-otp', { email: victim, otp: '000000' }))
  })

  it('counts a phone sign-in against the phone number, whatever else the body names', async () => {
    const phoneNumber = `+3361${String(n++).padStart(7, '0')}`
    const client = '198.18.5.1'
    for (let i = 0; i < STRICT; i++)
      expectAnswered(
        await from(s, client, '/sign-in/phone-number', {
          phoneNumber,
          password: WRONG,
          email: fresh('decoy'),
        }),
      )
    expectThrottled(await from(s, client, '/phone-number/verify', { phoneNumber, code: '000000' }))
  })

  it('once an account is under attack from many addresses, lets in only clients it knows', async () => {
    const victim = await account(s, 'siege')
    const home = '198.18.6.1'
    expect((await signIn(s, victim, home)).status).toBe(200)
    // Failures spread over many addresses, each within its own budget, spend the account's.
    for (let i = 0; i < ACCOUNT_FAILURES / STRICT; i++)
      for (let j = 0; j < STRICT; j++)
        expectThrough(await signIn(s, victim, `198.18.7.${i + 1}`, undefined, WRONG))
    // A new address gets no guess at all, until the account's hour is over (longer than a per-minute limit).
    expect(expectThrottled(await signIn(s, victim, '198.18.7.200', undefined, WRONG))).toBeGreaterThan(60)
    // Neither does the owner from an address the account has never seen (the price of stopping the botnet).
    expect(expectThrottled(await signIn(s, victim, '198.18.6.2'))).toBeGreaterThan(60)
    // From the address that signed in before, and has not failed since, the right password works.
    const owner = await signIn(s, victim, home)
    expect(owner.status).toBe(200)
    expect(typeof owner.body.token).toBe('string')
  })

  it('lets no stranger stop the owner from asking for a reset link', async () => {
    const victim = await account(s, 'reset')
    for (let i = 1; i <= PER_IP; i++) {
      const r = await from(s, `198.18.8.${i}`, '/request-password-reset', { email: victim })
      expect(r.status).toBe(200)
    }
    // Mails to the owner are capped by the recipient budget (test/mail-recipient-budget.test.ts), not by
    // refusing requests that name the account.
    expect((await from(s, '198.18.8.100', '/request-password-reset', { email: victim })).status).toBe(200)
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

describe('auth rate limits, default figures', () => {
  // BASTIDE_AUTH_RATE_LIMIT's default, 30: 10 failures per account and client per 15 minutes.
  const FAILURES = 10
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer({ env: { BASTIDE_TRUST_PROXY: 'true', BASTIDE_AUTH_RATE_LIMIT: '30' } })
  })
  afterAll(async () => {
    await s?.close()
  })

  /** Ten wrong passwords from `attacker`, then the owner from `owner`, then the attacker again. */
  async function lockOutAttempt(
    call: (ip: string, password: string) => Promise<{ status: number; body: any; headers: Headers }>,
    attacker: string,
    owner: string,
  ) {
    for (let i = 0; i < FAILURES; i++) {
      const r = await call(attacker, WRONG)
      expect(r.status).toBe(401)
    }
    // The eleventh guess from that address is throttled for up to the 15 minutes of its window.
    expectLimited(await call(attacker, WRONG), 900)
    const signedIn = await call(owner, PASSWORD)
    expect(signedIn.status).toBe(200)
    expect(typeof signedIn.body.token).toBe('string')
    expectLimited(await call(attacker, PASSWORD), 900)
  }

  it("ten wrong passwords from a stranger's address do not lock an app user out", async () => {
    const email = fresh('owner')
    expect(
      (await authCall(s, 'POST', '/sign-up/email', { email, password: PASSWORD, name: 'O' })).status,
    ).toBe(200)
    await lockOutAttempt(
      (ip, password) => from(s, ip, '/sign-in/email', { email, password }),
      '198.18.10.1',
      '198.18.10.2',
    )
  })

  it("ten wrong passwords from a stranger's address do not lock a console admin out", async () => {
    const admin = { email: 'root@console.test', password: PASSWORD, name: 'Root' }
    expect((await s.api('POST', '/api/admin/setup', admin)).status).toBe(201)
    await lockOutAttempt(
      (ip, password) =>
        s.api(
          'POST',
          '/api/admin/auth/sign-in/email',
          { email: admin.email, password },
          { as: 'anon', headers: { 'x-forwarded-for': ip } },
        ),
      '198.18.11.1',
      '198.18.11.2',
    )
  })
})

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
