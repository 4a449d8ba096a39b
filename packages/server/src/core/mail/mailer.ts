import nodemailer, { type Transporter } from 'nodemailer'
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

/** The SMTP server to use and the sender, as they stand now (runtime settings over BASTIDE_SMTP_*). */
export interface SmtpSettings {
  readonly url: string | undefined
  readonly from: string
}

/**
 * SMTP through nodemailer when an SMTP URL is configured (`smtps://` for implicit TLS, STARTTLS is used
 * whenever the server offers it); otherwise every mail is written to the log, so local development works
 * with no mail server at all. `smtp()` is read for every mail: a change in the settings applies to the next
 * mail, the transport being rebuilt only when the URL changes. Every mail first takes its place in the
 * recipient's budget: past it, `send` drops the mail and resolves as if it had gone, so no caller can tell
 * (nor tell its client).
 */
export function createMailer(opts: {
  smtp: () => SmtpSettings
  log: Logger
  budget: RecipientBudget
}): Mailer {
  const { log, budget } = opts
  let current: { url: string; transport: Transporter } | undefined
  const transportFor = (url: string | undefined) => {
    if (current && current.url !== url) {
      current.transport.close()
      current = undefined
    }
    if (url && !current) current = { url, transport: nodemailer.createTransport(url) }
    return current?.transport
  }
  const deliver = async (mail: Mail) => {
    const { url, from } = opts.smtp()
    const transport = transportFor(url)
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
    close: () => current?.transport.close(),
  }
}

/**
 * One mail through `url`, outside any budget, with short timeouts (the console's "send a test mail" waits for
 * it): rejects with nodemailer's error, which carries the SMTP server's reply.
 */
export async function sendTestMail(url: string, mail: Mail & { readonly from: string }): Promise<void> {
  const transport = nodemailer.createTransport({
    url,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  } as Parameters<typeof nodemailer.createTransport>[0])
  try {
    await transport.sendMail(mail)
  } finally {
    transport.close()
  }
}
