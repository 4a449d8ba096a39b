import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { RateLimiter } from '../../core/rate-limit/index.ts'
import { AppError } from '../../errors/index.ts'
import { canonicalPath } from '../canonical-path.ts'
import type { AppEnv } from '../context.ts'

const WINDOW_SECONDS = 60
/** Window of a client's failures on one account; the budget is a third of `perIp` (10 by default). */
const CLIENT_FAILURE_WINDOW_SECONDS = 15 * 60
/** Window of an account's failures from everywhere; the budget is ten clients' worth (100 by default). */
const ACCOUNT_FAILURE_WINDOW_SECONDS = 3600
/** A client that proved an account's secret stays known to that account this long. */
const KNOWN_CLIENT_SECONDS = 30 * 86_400

/** Endpoints that check a secret (password, TOTP, backup code, OTP, reset token): the tighter per-IP limit. */
const SENSITIVE = /\/sign-in\/|verify|backup-code|reset-password/

/**
 * Endpoints whose success proves a secret (password or code) of the account their body names, with the
 * field that names it (only that one: `{phoneNumber: victim, email: decoy}` is about the phone). Listed,
 * not guessed from the body: a 2xx from an endpoint that checks nothing (a magic-link request) must never
 * clear a client's failures.
 */
const SECRET_CHECKS: Readonly<Record<string, 'email' | 'phoneNumber'>> = {
  '/sign-in/email': 'email',
  '/sign-in/email-otp': 'email',
  '/email-otp/verify-email': 'email',
  '/email-otp/check-verification-otp': 'email',
  '/email-otp/reset-password': 'email',
  '/sign-in/phone-number': 'phoneNumber',
  '/phone-number/verify': 'phoneNumber',
  '/phone-number/reset-password': 'phoneNumber',
}

export interface AuthRateLimitOptions {
  readonly limiter: RateLimiter
  readonly log: Logger
  /**
   * Requests per minute per client address on each endpoint (config.auth.rateLimit), or a function read on
   * every request (the runtime setting `rateLimits.authPerMinute`, which an admin may change at any time).
   */
  readonly perIp: number | (() => number)
  /** The client's address (undefined for in-process calls, which share the key `local`). */
  readonly clientIp: (req: Request, env: unknown) => string | undefined
}

/**
 * Limits on every auth endpoint of both populations (app users at /api/auth, console admins at
 * /api/admin/auth), in fixed windows (see rate-limiter.ts):
 * - per endpoint and client address: `perIp` requests a minute, or a third of it (10 by default) on
 *   endpoints that check a secret. The endpoint is the canonical, lower-cased, percent-decoded path, so
 *   `//`, trailing slashes, case and encoding variants share one counter; a query string is not part of
 *   it. IPv6 clients count per /64, the block one subscriber usually gets, so rotating addresses inside it
 *   buys nothing.
 * - on the secret checks of an account (SECRET_CHECKS), failures rather than requests, so that strangers
 *   cannot lock the owner out:
 *   - per account and client: a third of `perIp` (10) per 15 minutes; a success clears the client's count;
 *   - per account, from everywhere: ten times that (100) per hour. Once it is spent, only clients that
 *     know the account (proved its secret in the last 30 days) and have not failed on it since their
 *     count was last cleared get through: a correct password from the owner's usual device still works,
 *     while guesses spread over many addresses stop.
 * Past a limit: 429 RATE_LIMITED with `details.retryAfter` and a Retry-After header.
 */
export function authRateLimit(opts: AuthRateLimitOptions): MiddlewareHandler<AppEnv> {
  const { limiter, log } = opts
  const perIpNow = typeof opts.perIp === 'function' ? opts.perIp : () => opts.perIp as number
  let lastWarned = 0
  // Fail open. With PostgreSQL as the store, an unreachable store means better-auth cannot answer either,
  // so refusing adds nothing; with Redis, refusing would turn an outage of an auxiliary cache into nobody
  // being able to sign in. Password hashing (scrypt) still slows guessing meanwhile, and the warning tells
  // the operator that limits are off.
  const storeDown = (err: unknown) => {
    if (Date.now() - lastWarned > 30_000) {
      lastWarned = Date.now()
      log.warn({ err: (err as Error).message }, 'rate limit store unreachable: auth requests not limited')
    }
  }
  return async (c, next) => {
    const perIp = perIpNow()
    const strict = Math.max(1, Math.ceil(perIp / 3))
    const accountFailures = strict * 10
    const path = endpointKey(c.req.path)
    const ip = opts.clientIp(c.req.raw, c.env)
    const client = ip === undefined ? 'local' : addressGroup(ip)
    const check = secretCheckOf(path)
    const account = check && (await accountOf(c.req.raw, check.field))
    const keys = check && account !== undefined ? failureKeys(check.population, account, client) : undefined
    let retryAfter: number | undefined
    try {
      const [ipHit, mine, all] = await Promise.all([
        limiter.hit(
          digestIfLong(`ip:${path}:${client}`),
          SENSITIVE.test(path) || check ? strict : perIp,
          WINDOW_SECONDS,
        ),
        // Counted before the check runs, so parallel guesses cannot all slip in ahead of their failures.
        keys && limiter.hit(keys.client, strict, CLIENT_FAILURE_WINDOW_SECONDS),
        keys && limiter.peek(keys.account),
      ])
      const denied = [ipHit, mine].filter((r) => r && !r.allowed).map((r) => r!.retryAfterSeconds)
      if (denied.length === 0 && keys && mine && all && all.count >= accountFailures) {
        const known = (await limiter.peek(keys.known)).count > 0
        // `mine.count > 1`: this client already failed on the account since its count was last cleared.
        if (!known) denied.push(all.resetInSeconds)
        else if (mine.count > 1) denied.push(Math.min(all.resetInSeconds, mine.retryAfterSeconds))
      }
      if (denied.length > 0) retryAfter = Math.max(...denied)
    } catch (err) {
      storeDown(err)
      return next()
    }
    if (retryAfter !== undefined) {
      throw new AppError('RATE_LIMITED', `Too many requests; retry in ${retryAfter} seconds.`, { retryAfter })
    }
    await next()
    if (!keys) return
    const status = c.res.status
    try {
      if (status < 400) {
        await Promise.all([limiter.reset(keys.client), limiter.hit(keys.known, 1, KNOWN_CLIENT_SECONDS)])
      } else if (status < 500 && status !== 404) {
        await limiter.hit(keys.account, accountFailures, ACCOUNT_FAILURE_WINDOW_SECONDS)
      }
    } catch (err) {
      storeDown(err)
    }
  }
}

/** The secret check a path is, if any, and which population's accounts it is about. */
function secretCheckOf(
  path: string,
): { population: 'app' | 'admin'; field: 'email' | 'phoneNumber' } | undefined {
  const m = /^\/api\/(admin\/)?auth(\/.*)$/.exec(path)
  const field = m ? SECRET_CHECKS[m[2]!] : undefined
  return m && field ? { population: m[1] ? 'admin' : 'app', field } : undefined
}

/**
 * Counter names for an account: hashed, so the store holds no addresses or phone numbers, and keys stay
 * short whatever is sent. App users and console admins are different accounts even with one address.
 */
function failureKeys(population: 'app' | 'admin', account: string, client: string) {
  const id = `${population}:${createHash('sha256').update(account).digest('base64url').slice(0, 27)}`
  return {
    client: digestIfLong(`fail:${id}:${client}`),
    account: `fail:${id}`,
    known: digestIfLong(`known:${id}:${client}`),
  } as const
}

/** The counter name of an endpoint: canonical, percent-decoded, lower-cased path. */
export function endpointKey(path: string): string {
  let p = path
  if (p.includes('%')) {
    try {
      p = decodeURIComponent(p)
    } catch {}
  }
  return canonicalPath(p).toLowerCase()
}

/** IPv4 addresses as they are; IPv6 ones by their /64 (IPv4-mapped ones as the IPv4 address). */
export function addressGroup(ip: string): string {
  const version = isIP(ip.split('%')[0]!)
  if (version !== 6) return ip
  const groups = expandIPv6(ip.split('%')[0]!.toLowerCase())
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [a, b] = [groups[6]!, groups[7]!]
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

function expandIPv6(addr: string): number[] {
  let a = addr
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a)
  if (v4) {
    const [x, y, z, w] = v4.slice(1).map(Number) as [number, number, number, number]
    a = `${a.slice(0, v4.index)}${((x << 8) | y).toString(16)}:${((z << 8) | w).toString(16)}`
  }
  const parts = (s: string) => (s ? s.split(':') : [])
  const gap = a.indexOf('::')
  const head = parts(gap < 0 ? a : a.slice(0, gap))
  const tail = gap < 0 ? [] : parts(a.slice(gap + 2))
  const fill = gap < 0 ? [] : Array<string>(8 - head.length - tail.length).fill('0')
  return [...head, ...fill, ...tail].map((g) => Number.parseInt(g, 16))
}

/**
 * The account a request names in `field`: its body read as better-call reads it (JSON, form-encoded or
 * multipart), from a clone, so better-auth still gets the body. Lower-cased and trimmed, as better-auth
 * lower-cases emails. Undefined when there is none.
 */
async function accountOf(req: Request, field: 'email' | 'phoneNumber'): Promise<string | undefined> {
  if (req.method === 'GET' || req.method === 'HEAD' || !req.body) return undefined
  const type = (req.headers.get('content-type') ?? '').toLowerCase()
  let body: Record<string, unknown>
  try {
    if (/^application\/([a-z0-9.+-]*\+)?json/.test(type)) {
      const parsed: unknown = await req.clone().json()
      if (!parsed || typeof parsed !== 'object') return undefined
      body = parsed as Record<string, unknown>
    } else if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
      body = {}
      // Last value wins, as in better-call.
      for (const [k, v] of await req.clone().formData()) body[k] = v
    } else return undefined
  } catch {
    return undefined
  }
  const v = body[field]
  return typeof v === 'string' && v.trim() ? `${field}:${v.trim().toLowerCase()}` : undefined
}

function digestIfLong(key: string): string {
  return key.length <= 200 ? key : `h:${createHash('sha256').update(key).digest('base64url')}`
}
