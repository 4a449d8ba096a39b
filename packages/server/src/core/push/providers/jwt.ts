import crypto, { type KeyObject } from 'node:crypto'

/**
 * Signs a compact JWS. ES256 signatures are the raw 64-byte r||s of RFC 7518 (`dsaEncoding: 'ieee-p1363'`;
 * node's default DER form is not a valid JWS signature), RS256 is PKCS#1 v1.5 over SHA-256.
 */
export function signJwt(
  alg: 'ES256' | 'RS256',
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
  key: KeyObject | string,
): string {
  const k = typeof key === 'string' ? crypto.createPrivateKey(key) : key
  const input = `${b64(JSON.stringify({ alg, ...header }))}.${b64(JSON.stringify(claims))}`
  const signature =
    alg === 'ES256'
      ? crypto.sign('sha256', Buffer.from(input), { key: k, dsaEncoding: 'ieee-p1363' })
      : crypto.sign('sha256', Buffer.from(input), k)
  return `${input}.${signature.toString('base64url')}`
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64url')
}
