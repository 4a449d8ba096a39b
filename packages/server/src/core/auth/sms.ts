import type { Logger } from 'pino'

export interface Sms {
  readonly to: string
  readonly text: string
}

/** Where phone codes go. Drivers: `log` (default, for development) and `webhook` (POST JSON to a URL). */
export interface SmsSender {
  send(sms: Sms): Promise<void>
}

export function logSmsSender(log: Logger): SmsSender {
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
export function webhookSmsSender(url: string, secret: string): SmsSender {
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
