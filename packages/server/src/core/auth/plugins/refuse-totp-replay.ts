import { timingSafeEqual } from 'node:crypto'
import { createOTP } from '@better-auth/utils/otp'
import { APIError } from 'better-auth'
import { createAuthMiddleware, getSessionFromCtx } from 'better-auth/api'
import { symmetricDecrypt } from 'better-auth/crypto'
import { TWO_FACTOR_ERROR_CODES, type twoFactor } from 'better-auth/plugins'
import type { Kysely } from 'kysely'

/** better-auth's TOTP settings (its defaults: Bastide sets neither). */
const PERIOD_SECONDS = 30
const DIGITS = 6
/**
 * better-auth accepts the codes of one step either side of now. This looks one step further each way: the
 * step is taken before better-auth checks the code, and the clock may cross a step boundary in between.
 */
const LOOK_AROUND = 2
const CODE = new RegExp(`^\\d{${DIGITS}}$`)
/** better-auth's name for the cookie of a pending two-factor sign-in (before its prefix). */
const TWO_FACTOR_COOKIE = 'two_factor'

type TwoFactorPlugin = ReturnType<typeof twoFactor>

/**
 * A TOTP code works once (RFC 6238 §5.2). better-auth accepts a valid code as often as it is sent within
 * its window, so a code seen over a shoulder, in a log or through a phishing proxy can be played again. This
 * adds a check to `/two-factor/verify-totp` (turning TOTP on and signing in alike) that finds the time step
 * the code belongs to and takes it, in one conditional UPDATE on the user's two-factor row: only a step
 * later than the last one taken goes through. Two requests with the same code, on one node or on several,
 * race for the same row: exactly one wins, and the other is answered like a wrong code.
 *
 * The check runs as the endpoint's own middleware (after every before-hook: the bearer plugin's and
 * two-factor-pending's headers are in place) and before better-auth's check, so a replay creates no
 * session. A code that matches no step is left to better-auth, which counts it as a failure.
 *
 * `table` is the plugin's two-factor table (the app users' or the console admins'); it has a
 * `lastTotpStep` column (migration `totp-last-step`).
 */
export function refuseTotpReplay<P extends TwoFactorPlugin>(
  plugin: P,
  deps: { readonly db: Kysely<any>; readonly table: string },
): P {
  const guard = createAuthMiddleware(async (ctx) => {
    const code = (ctx.body as { code?: unknown } | undefined)?.code
    // Anything but DIGITS digits matches no step: better-auth refuses it.
    if (typeof code !== 'string' || !CODE.test(code)) return
    const who = await verifyingUser(ctx)
    if (!who) return
    const row = await deps.db
      .selectFrom(deps.table)
      .select(['id', 'secret', 'lockedUntil'])
      .where('userId', '=', who.userId)
      .executeTakeFirst()
    if (!row) return
    // A locked sign-in is refused by better-auth whatever the code: its answer says so, and no step is spent.
    if (who.signIn && row.lockedUntil && new Date(row.lockedUntil).getTime() > Date.now()) return
    const secret = await symmetricDecrypt({ key: ctx.context.secretConfig, data: row.secret })
    const step = await matchingStep(secret, code)
    if (step === undefined) return
    const taken = await deps.db
      .updateTable(deps.table)
      .set({ lastTotpStep: step })
      .where('id', '=', row.id)
      .where((eb) => eb.or([eb('lastTotpStep', 'is', null), eb('lastTotpStep', '<', step)]))
      .executeTakeFirst()
    // The same answer as a wrong code: a replay tells nothing more than that the code does not work.
    if (taken.numUpdatedRows === 0n) throw APIError.from('UNAUTHORIZED', TWO_FACTOR_ERROR_CODES.INVALID_CODE)
  })
  const endpoint = plugin.endpoints.verifyTOTP as unknown as { options: { use?: unknown[] } }
  // better-call runs an endpoint's `use` middlewares on every call, after the hooks and body validation.
  // This plugin instance's endpoint is its own (twoFactor() builds new ones on each call).
  endpoint.options.use = [...(endpoint.options.use ?? []), guard]
  return plugin
}

/**
 * Whose code this is, the way better-auth's verifyTwoFactor decides it: the session's user (turning TOTP
 * on, or a signed-in user confirming), else the user of the pending sign-in the signed two-factor cookie
 * names. Undefined when neither: better-auth refuses the request itself.
 */
async function verifyingUser(
  ctx: Parameters<Parameters<typeof createAuthMiddleware>[0]>[0],
): Promise<{ userId: string; signIn: boolean } | undefined> {
  // disableRefresh: this lookup must set no cookie; better-auth reuses the session it caches on the context.
  const session = await getSessionFromCtx(ctx, { disableRefresh: true })
  if (session) return { userId: session.user.id, signIn: false }
  const cookie = ctx.context.createAuthCookie(TWO_FACTOR_COOKIE)
  const identifier = await ctx.getSignedCookie(cookie.name, ctx.context.secret)
  if (!identifier) return undefined
  const pending = await ctx.context.internalAdapter.findVerificationValue(identifier)
  return pending ? { userId: pending.value, signIn: true } : undefined
}

/** The latest time step near now whose code is `code`, compared in constant time. */
async function matchingStep(secret: string, code: string): Promise<number | undefined> {
  const otp = createOTP(secret, { period: PERIOD_SECONDS, digits: DIGITS })
  const now = Math.floor(Date.now() / (PERIOD_SECONDS * 1000))
  const given = Buffer.from(code)
  let found: number | undefined
  for (let step = now - LOOK_AROUND; step <= now + LOOK_AROUND; step++) {
    if (timingSafeEqual(Buffer.from(await otp.hotp(step)), given)) found = step
  }
  return found
}
