import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/**
 * The key functions' secrets are sealed with: HKDF of BASTIDE_SECRET with its own label, so the server secret
 * itself never keys anything outside its purpose (as core/backup derives its HMAC key).
 */
export function secretsKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'bastide/functions/secrets', 32))
}

/**
 * AES-256-GCM: 12-byte random nonce ‖ ciphertext ‖ 16-byte tag. The function and secret names are the
 * additional data, so a sealed value moved to another row does not open.
 */
export function sealSecret(key: Buffer, where: string, value: string): Buffer {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(where))
  const body = Buffer.concat([c.update(value, 'utf8'), c.final()])
  return Buffer.concat([iv, body, c.getAuthTag()])
}

/** The value sealed by sealSecret; throws when the key, the row or the bytes differ. */
export function openSecret(key: Buffer, where: string, sealed: Uint8Array): string {
  const b = Buffer.from(sealed)
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12))
  d.setAAD(Buffer.from(where))
  d.setAuthTag(b.subarray(b.length - 16))
  return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]).toString('utf8')
}
