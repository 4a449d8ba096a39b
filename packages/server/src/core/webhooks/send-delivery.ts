import type { WebhookPayload } from '@bastide/protocol'
import { WEBHOOK_SIGNATURE_HEADER } from '@bastide/protocol'
import { safeFetch } from '../net/safe-fetch.ts'
import { signPayload } from './sign-payload.ts'

export const USER_AGENT = 'Bastide-Webhooks/1'

/** What the history keeps of a receiver's answer. */
const RESPONSE_PREFIX_BYTES = 1024

export interface AttemptResult {
  readonly statusCode: number | null
  readonly durationMs: number
  readonly responseBody: string | null
  /** Null when delivered (a 2xx answer). */
  readonly error: string | null
}

/**
 * One POST of a delivery through safeFetch (the destination is checked again on every send: DNS may have moved
 * it to a private address since it was saved), signed at send time. A 2xx is delivered; a redirect is not
 * followed (it counts as a failure, like any other status), and nothing it throws escapes: it is the result.
 */
export async function sendDelivery(o: {
  readonly url: string
  readonly payload: WebhookPayload
  readonly secrets: readonly string[]
  readonly allowHosts: readonly string[]
  readonly timeoutMs: number
}): Promise<AttemptResult> {
  const body = JSON.stringify(o.payload)
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    [WEBHOOK_SIGNATURE_HEADER]: signPayload(o.secrets, body, Math.floor(Date.now() / 1000)),
    'Bastide-Delivery': o.payload.id,
    'Bastide-Event': o.payload.event,
  }
  const started = performance.now()
  const ms = () => Math.round(performance.now() - started)
  try {
    const res = await safeFetch(
      o.url,
      { method: 'POST', headers, body: Buffer.from(body, 'utf8') },
      // Only the first KiB is read (readPrefix): a large answer is not refused, just not kept.
      {
        allowHosts: o.allowHosts,
        timeoutMs: o.timeoutMs,
        maxResponseBytes: Number.MAX_SAFE_INTEGER,
        maxRedirects: 0,
      },
    )
    const responseBody = await readPrefix(res)
    const ok = res.status >= 200 && res.status < 300
    return {
      statusCode: res.status,
      durationMs: ms(),
      responseBody,
      error: ok ? null : `The receiver answered ${res.status}.`,
    }
  } catch (err) {
    return { statusCode: null, durationMs: ms(), responseBody: null, error: describe(err) }
  }
}

/** The first KiB of the answer (as text); the rest is not read. */
async function readPrefix(res: Response): Promise<string | null> {
  if (!res.body) return null
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < RESPONSE_PREFIX_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } catch {
    // Cut short (timeout, reset): keep what came.
  } finally {
    reader.cancel().catch(() => {})
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, RESPONSE_PREFIX_BYTES))
  return text === '' ? null : text
}

function describe(err: unknown): string {
  const e = err as {
    name?: string
    message?: string
    code?: string
    cause?: { code?: string; message?: string }
  }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'Timed out waiting for the receiver.'
  // safeFetch with maxRedirects 0: a redirect is refused rather than followed (a 3xx is not a delivery).
  if (e?.message?.startsWith('Too many redirects'))
    return 'The receiver answered with a redirect (not followed).'
  const detail = e?.cause?.code ?? e?.cause?.message
  return `${e?.message ?? String(err)}${detail && !e?.message?.includes(detail) ? ` (${detail})` : ''}`.slice(
    0,
    500,
  )
}
