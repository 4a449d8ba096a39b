import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { RateLimiter, RateLimitResult } from '../rate-limit/index.ts'

/** How a message reaches its recipient: an email address or a phone number. */
export type Channel = 'email' | 'sms'

export interface RecipientBudget {
  /**
   * Counts one message to `to` and says whether it may go out. Never rejects: when the counter store
   * cannot be reached, the message goes (see createRecipientBudget).
   */
  take(channel: Channel, to: string): Promise<boolean>
}

/**
 * One budget per recipient, shared by everything that mails or texts (sign-up, verification, reset, magic
 * link, OTPs, email change, new-device notices), so no endpoint, nor all of them together, can flood an
 * inbox or a phone: at most `limit` messages per `windowSeconds`. Counted in the rate-limit store
 * (PostgreSQL or Redis), so the budget holds across nodes.
 *
 * A message past the budget is dropped where it would be sent, so the caller's HTTP answer is the same
 * whether it went or not (no enumeration); the operator gets one warning per recipient and window.
 * When the store is unreachable the message goes (fail open, as the auth limits do): an outage of an
 * auxiliary cache must not stop every verification mail.
 */
export function createRecipientBudget(opts: {
  readonly limiter: RateLimiter
  readonly limit: number
  readonly windowSeconds: number
  readonly log: Logger
}): RecipientBudget {
  const { limiter, limit, windowSeconds, log } = opts
  let lastWarned = 0
  return {
    async take(channel, to) {
      const recipient = normalizeRecipient(channel, to)
      let result: RateLimitResult
      try {
        result = await limiter.hit(recipientKey(channel, recipient), limit, windowSeconds)
      } catch (err) {
        if (Date.now() - lastWarned > 30_000) {
          lastWarned = Date.now()
          log.warn(
            { err: (err as Error).message },
            'rate limit store unreachable: messages per recipient not limited',
          )
        }
        return true
      }
      if (result.allowed) return true
      // The first drop of a window warns; the rest would only let a flood of requests flood the log too.
      log[result.count === limit + 1 ? 'warn' : 'debug'](
        {
          channel,
          recipient: masked(channel, recipient),
          limit,
          windowSeconds,
          retryAfterSeconds: result.retryAfterSeconds,
        },
        `${channel === 'email' ? 'mail' : 'sms'} dropped: recipient budget spent`,
      )
      return false
    },
  }
}

/**
 * The recipient a budget is kept for. Emails: trimmed, lower-cased, and without a `+tag` subaddress, which
 * the major providers deliver to the same inbox (so `victim+1@`, `victim+2@`… share one budget). Phone
 * numbers: their digits.
 */
export function normalizeRecipient(channel: Channel, to: string): string {
  if (channel === 'sms') return to.replace(/\D/g, '')
  const address = to.trim().toLowerCase()
  const at = address.lastIndexOf('@')
  if (at <= 0) return address
  const local = address.slice(0, at)
  const plus = local.indexOf('+')
  return plus > 0 ? `${local.slice(0, plus)}${address.slice(at)}` : address
}

/** Hashed: the store holds no addresses or phone numbers. */
function recipientKey(channel: Channel, recipient: string): string {
  return `rcpt:${channel}:${createHash('sha256').update(recipient).digest('base64url').slice(0, 27)}`
}

/** Enough for the operator to recognise a recipient, not a copy of it in every log line. */
function masked(channel: Channel, recipient: string): string {
  if (channel === 'sms') return `…${recipient.slice(-3)}`
  const at = recipient.lastIndexOf('@')
  return at > 0 ? `${recipient[0]}…${recipient.slice(at)}` : '…'
}
