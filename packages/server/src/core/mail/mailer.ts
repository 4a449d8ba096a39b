import nodemailer from 'nodemailer'
import type { Logger } from 'pino'

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
 * with no mail server at all.
 */
export function createMailer(opts: { smtpUrl: string | undefined; from: string; log: Logger }): Mailer {
  const { smtpUrl, from, log } = opts
  if (!smtpUrl) {
    return {
      async send(mail) {
        log.info(
          { mail: { to: mail.to, subject: mail.subject, text: mail.text } },
          'email (no SMTP configured)',
        )
      },
      close() {},
    }
  }
  const transport = nodemailer.createTransport(smtpUrl)
  return {
    async send(mail) {
      await transport.sendMail({ from, ...mail })
    },
    close: () => transport.close(),
  }
}
