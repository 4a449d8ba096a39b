import type { Logger } from 'pino'
import type { RecipientBudget } from '../mail/recipient-budget.ts'

export interface Sms {
  readonly to: string
  readonly text: string
}

/** Where phone codes go. Drivers: `log` (default, for development) and `webhook` (POST JSON to a URL). */
export interface SmsSender {
  send(sms: Sms): Promise<void>
}

/**
 * The configured driver behind the recipient budget (shared with mail, see recipient-budget.ts): past it,
 * `send` drops the SMS and resolves as if it had gone, so the endpoint answers the same either way.
 */
export function createSmsSender(opts: {
  webhookUrl: string | undefined
  /** Signs webhook calls. */
  secret: string
  log: Logger
  budget: RecipientBudget
}): SmsSender {
  const driver = opts.webhookUrl ? webhookSmsSender(opts.webhookUrl, opts.secret) : logSmsSender(opts.log)
  return {
    async send(sms) {
      if (await opts.budget.take('sms', sms.to)) await driver.send(sms)
    },
  }
}

function logSmsSender(log: Logger): SmsSender {
  return {
    async send(sms) {
      log.info({ sms }, 'sms (no SMS webhook configured)')
    },
  }
}

/**
 * POSTs `{"to","text"}` to the operator's endpoint (their SMS gateway, Twilio function, n8n...) with an
 * HMAC-SHA256 signature of the body in `X-Bastide-Signature`, so the endpoint can tell the call is ours.
 */
function webhookSmsSender(url: string, secret: string): SmsSender {
  return {
    async send(sms) {
      const body = JSON.stringify({ to: sms.to, text: sms.text })
      const { createHmac } = await import('node:crypto')
      const signature = createHmac('sha256', secret).update(body).digest('hex')
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-bastide-signature': `sha256=${signature}` },
        body,
        signal: AbortSignal.timeout(10_000),
      })
      if (!res.ok) throw new Error(`SMS webhook answered ${res.status}`)
    },
  }
}
