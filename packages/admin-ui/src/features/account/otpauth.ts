/** What an `otpauth://totp/…` URI says, for people who type the secret into their app instead of scanning. */
export interface OtpauthInfo {
  /** The base32 secret, in groups of four for reading aloud or typing. */
  readonly secret: string
  readonly issuer: string | null
  readonly account: string | null
  readonly digits: number
  readonly period: number
  readonly algorithm: string
}

/**
 * Parses a TOTP key URI (Google Authenticator's key URI format): `otpauth://totp/Issuer:account?secret=…&issuer=…`.
 * Returns null for anything else (another scheme, HOTP, no secret), so that the page shows the URI as it is.
 */
export function parseOtpauth(uri: string): OtpauthInfo | null {
  let u: URL
  try {
    u = new URL(uri)
  } catch {
    return null
  }
  if (u.protocol !== 'otpauth:' || u.hostname.toLowerCase() !== 'totp') return null
  const secret = (u.searchParams.get('secret') ?? '').replace(/[\s=]/g, '').toUpperCase()
  if (!/^[A-Z2-7]+$/.test(secret)) return null
  let label: string
  try {
    label = decodeURIComponent(u.pathname.replace(/^\/+/, ''))
  } catch {
    label = u.pathname.replace(/^\/+/, '')
  }
  const colon = label.indexOf(':')
  const labelIssuer = colon >= 0 ? label.slice(0, colon).trim() : ''
  const account = (colon >= 0 ? label.slice(colon + 1) : label).trim()
  const issuer = u.searchParams.get('issuer')?.trim() || labelIssuer
  const num = (name: string, fallback: number) => {
    const n = Number(u.searchParams.get(name))
    return Number.isInteger(n) && n > 0 ? n : fallback
  }
  return {
    secret: groupsOfFour(secret),
    issuer: issuer || null,
    account: account || null,
    digits: num('digits', 6),
    period: num('period', 30),
    algorithm: (u.searchParams.get('algorithm') ?? 'SHA1').toUpperCase(),
  }
}

/** `JBSWY3DPEHPK3PXP` → `JBSW Y3DP EHPK 3PXP`. */
export function groupsOfFour(s: string): string {
  return s.replace(/(.{4})(?=.)/g, '$1 ')
}
