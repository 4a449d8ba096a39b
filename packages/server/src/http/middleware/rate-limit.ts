import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import type { MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import type { RateLimiter, RateLimitResult } from '../../core/rate-limit/index.ts'
import { AppError } from '../../errors/index.ts'
import { canonicalPath } from '../canonical-path.ts'
import type { AppEnv } from '../context.ts'

const WINDOW_SECONDS = 60

/** Endpoints that check a secret (password, TOTP, backup code, OTP, reset token): the tighter per-IP limit. */
const SENSITIVE = /\/sign-in\/|verify|backup-code|reset-password/

/** Body fields naming the account a request is about; better-auth lower-cases emails, so do we. */
const IDENTIFIERS = ['email', 'phoneNumber'] as const

export interface AuthRateLimitOptions {
  readonly limiter: RateLimiter
  readonly log: Logger
  /** Requests per minute per client address on each endpoint (config.auth.rateLimit). */
  readonly perIp: number
  /** The client's address (undefined for in-process calls, which share the key `local`). */
  readonly clientIp: (req: Request, env: unknown) => string | undefined
}

/**
 * Fixed one-minute windows (see rate-limiter.ts) on every auth endpoint, counted by:
 * - endpoint and client address: `perIp`, or a third of it (10 by default) on endpoints that check a
 *   secret. The endpoint is the canonical, lower-cased, percent-decoded path, so `//`, trailing slashes,
 *   case and encoding variants share one counter; a query string is not part of it. IPv6 clients count
 *   per /64, the block one subscriber usually gets, so rotating addresses inside it buys nothing.
 * - endpoint and account, when the body names one (email, phone number): a third of `perIp`, whatever
 *   the address, so spreading guesses at one account over many addresses is capped as well.
 * Past a limit: 429 RATE_LIMITED with `details.retryAfter` and a Retry-After header.
 */
export function authRateLimit(opts: AuthRateLimitOptions): MiddlewareHandler<AppEnv> {
  const { limiter, log } = opts
  const strict = Math.max(1, Math.ceil(opts.perIp / 3))
  let lastWarned = 0
  return async (c, next) => {
    const path = endpointKey(c.req.path)
    const ip = opts.clientIp(c.req.raw, c.env)
    const account = await accountOf(c.req.raw)
    const hits: Promise<RateLimitResult>[] = [
      limiter.hit(
        digestIfLong(`ip:${path}:${ip === undefined ? 'local' : addressGroup(ip)}`),
        SENSITIVE.test(path) ? strict : opts.perIp,
        WINDOW_SECONDS,
      ),
    ]
    if (account !== undefined) {
      // Hashed: the store holds no addresses or phone numbers, and keys stay short whatever is sent.
      const id = createHash('sha256').update(account).digest('base64url').slice(0, 27)
      hits.push(limiter.hit(digestIfLong(`acct:${path}:${id}`), strict, WINDOW_SECONDS))
    }
    let results: RateLimitResult[]
    try {
      results = await Promise.all(hits)
    } catch (err) {
      // Fail open. With PostgreSQL as the store, an unreachable store means better-auth cannot answer
      // either, so refusing adds nothing; with Redis, refusing would turn an outage of an auxiliary cache
      // into nobody being able to sign in. Password hashing (scrypt) still slows guessing meanwhile, and
      // the warning tells the operator that limits are off.
      if (Date.now() - lastWarned > 30_000) {
        lastWarned = Date.now()
        log.warn({ err: (err as Error).message }, 'rate limit store unreachable: auth requests not limited')
      }
      return next()
    }
    const denied = results.filter((r) => !r.allowed)
    if (denied.length > 0) {
      const retryAfter = Math.max(...denied.map((r) => r.retryAfterSeconds))
      throw new AppError('RATE_LIMITED', `Too many requests; retry in ${retryAfter} seconds.`, { retryAfter })
    }
    return next()
  }
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
 * The account a request names: its body read as better-call reads it (JSON, form-encoded or multipart),
 * from a clone, so better-auth still gets the body. Undefined when there is none.
 */
async function accountOf(req: Request): Promise<string | undefined> {
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
  for (const field of IDENTIFIERS) {
    const v = body[field]
    if (typeof v === 'string' && v.trim()) return `${field}:${v.trim().toLowerCase()}`
  }
  return undefined
}

function digestIfLong(key: string): string {
  return key.length <= 200 ? key : `h:${createHash('sha256').update(key).digest('base64url')}`
}
