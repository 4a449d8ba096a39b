import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * The `Bastide-Signature` header of a delivery: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`,
 * with one `v1` per secret still valid (after a rotation, the previous one signs too until it expires).
 */
export function signPayload(secrets: readonly string[], body: string, unixSeconds: number): string {
  const v1 = secrets.map(
    (s) => `v1=${createHmac('sha256', s).update(`${unixSeconds}.${body}`).digest('hex')}`,
  )
  return [`t=${unixSeconds}`, ...v1].join(',')
}

/**
 * What a receiver does (docs/webhooks.md): the signed timestamp is recent (`toleranceSeconds`, against replays)
 * and one `v1` is the HMAC of `t.body` under its secret, compared in constant time.
 */
export function verifySignature(
  secret: string,
  body: string,
  header: string,
  o: { readonly toleranceSeconds?: number; readonly now?: number } = {},
): boolean {
  const parts = header.split(',').map((p) => p.trim().split('=', 2) as [string, string | undefined])
  const t = Number(parts.find(([k]) => k === 't')?.[1])
  if (!Number.isInteger(t)) return false
  const now = o.now ?? Math.floor(Date.now() / 1000)
  if (Math.abs(now - t) > (o.toleranceSeconds ?? 300)) return false
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest()
  return parts.some(([k, v]) => {
    if (k !== 'v1' || !v || !/^[0-9a-f]{64}$/.test(v)) return false
    return timingSafeEqual(Buffer.from(v, 'hex'), expected)
  })
}
