import { createHMAC } from '@better-auth/utils/hmac'

/**
 * The stored value of a session token as a client presents it: raw, or `value.signature` signed with the
 * instance's secret (better-auth's bearer plugin hands that form out, maybe URL-encoded). Undefined for a
 * bad signature, a JWT-shaped token, or anything that cannot be a session token, before any query runs.
 */
export async function sessionTokenValue(token: string, secret: string): Promise<string | undefined> {
  let raw = token
  if (token.includes('.')) {
    let signed = token
    try {
      signed = decodeURIComponent(token)
    } catch {}
    const dot = signed.indexOf('.')
    if (signed.indexOf('.', dot + 1) >= 0) return undefined
    const ok = await createHMAC('SHA-256', 'base64urlnopad')
      .verify(secret, signed.slice(0, dot), signed.slice(dot + 1))
      .catch(() => false)
    if (!ok) return undefined
    raw = signed.slice(0, dot)
  }
  return /^[A-Za-z0-9_-]{16,128}$/.test(raw) ? raw : undefined
}
