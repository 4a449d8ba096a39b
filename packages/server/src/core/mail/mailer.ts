import nodemailer from 'nodemailer'
import type { Logger } from 'pino'
import type { RecipientBudget } from './recipient-budget.ts'

export interface Mail {
  readonly to: string
  readonly subject: string
  readonly text: string
  readonly html: string
}

export interface Mailer {
  send(mail: Mail): Promise<void>
  close(): void
}

/**
 * SMTP through nodemailer when `BASTIDE_SMTP_URL` is set (`smtps://` for implicit TLS, STARTTLS is used
 * whenever the server offers it); otherwise every mail is written to the log, so local development works
 * with no mail server at all. Every mail first takes its place in the recipient's budget: past it, `send`
 * drops the mail and resolves as if it had gone, so no caller can tell (nor tell its client).
 */
export function createMailer(opts: {
  smtpUrl: string | undefined
  from: string
  log: Logger
  budget: RecipientBudget
}): Mailer {
  const { smtpUrl, from, log, budget } = opts
  const transport = smtpUrl ? nodemailer.createTransport(smtpUrl) : undefined
  const deliver = async (mail: Mail) => {
    if (transport) await transport.sendMail({ from, ...mail })
    else
      log.info(
        { mail: { to: mail.to, subject: mail.subject, text: mail.text } },
        'email (no SMTP configured)',
      )
  }
  return {
    async send(mail) {
      if (await budget.take('email', mail.to)) await deliver(mail)
    },
    close: () => transport?.close(),
  }
}
