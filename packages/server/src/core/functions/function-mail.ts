import type { Mailer } from '../mail/mailer.ts'
import type { FunctionMailMessage } from './runtime/mail-message.ts'

/** Recipients one invocation may mail at most, all its `ctx.mail.send` calls together. */
export const MAX_MAILS_PER_INVOCATION = 50

/**
 * `ctx.mail.send` for one invocation (its messages already checked, see runtime/mail-message.ts), with the
 * server's mailer: one mail per recipient, so that no recipient sees the others' addresses and each one's budget
 * applies (a mail past it is dropped silently, as every mail of the server's is), and MAX_MAILS_PER_INVOCATION
 * recipients in all, so that a function cannot be made a mass mailer. Rejects on the first mail that cannot go,
 * with a message for the function's author: what happened, never where the SMTP server is (`onError` gets the
 * mailer's own error, for the server's log).
 */
export function functionMailSender(
  mailer: Pick<Mailer, 'send'>,
  onError: (err: Error) => void,
): (m: FunctionMailMessage) => Promise<void> {
  let mailed = 0
  return async (m) => {
    const recipients = [...new Set((typeof m.to === 'string' ? [m.to] : m.to).map((a) => a.toLowerCase()))]
    if (mailed + recipients.length > MAX_MAILS_PER_INVOCATION)
      throw new Error(`one run may mail ${MAX_MAILS_PER_INVOCATION} recipients at most`)
    mailed += recipients.length
    let sent = 0
    for (const to of recipients) {
      try {
        await mailer.send({ to, subject: m.subject, text: m.text ?? '', html: m.html ?? '' })
      } catch (err) {
        onError(err as Error)
        const partly = sent > 0 ? ` (it went to ${sent} of ${recipients.length} recipients first)` : ''
        throw new Error(`the mail could not be sent: ${reason(err)}${partly}`)
      }
      sent++
    }
  }
}

/** nodemailer's error as the author may see it: the SMTP reply code, or that the server was out of reach. */
function reason(err: unknown): string {
  const e = err as { responseCode?: unknown; code?: unknown }
  if (typeof e.responseCode === 'number') return `the SMTP server refused it (${e.responseCode})`
  if (e.code === 'ECONNECTION' || e.code === 'ETIMEDOUT' || e.code === 'ESOCKET' || e.code === 'EDNS')
    return 'the SMTP server could not be reached'
  return 'the SMTP server could not take it'
}
