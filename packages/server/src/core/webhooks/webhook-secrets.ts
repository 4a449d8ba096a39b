import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/** A signing secret as stored in bastide.webhooks: AES-256-GCM, versioned so that the scheme can change later. */
export interface SealedWebhookSecret {
  readonly v: 1
  /** 12 random bytes, base64. */
  readonly iv: string
  /** The 16-byte GCM tag, base64. */
  readonly tag: string
  readonly data: string
}

export interface WebhookSecrets {
  /** A new signing secret: `whsec_` and 32 random bytes, base64url. */
  generate(): string
  seal(plain: string): SealedWebhookSecret
  /** Throws when sealed under another key (BASTIDE_SECRET changed) or tampered with. */
  open(sealed: SealedWebhookSecret): string
}

const INFO = 'bastide/webhooks/secrets'

/**
 * Signing secrets are encrypted at rest, not hashed: the server must sign every delivery with them. The key is
 * HKDF-SHA256(BASTIDE_SECRET, info `bastide/webhooks/secrets`), of its own, so no other sealed value opens here.
 */
export function createWebhookSecrets(serverSecret: string): WebhookSecrets {
  const key = Buffer.from(hkdfSync('sha256', Buffer.from(serverSecret, 'utf8'), Buffer.alloc(0), INFO, 32))
  return {
    generate: () => `whsec_${randomBytes(32).toString('base64url')}`,
    seal(plain) {
      const iv = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', key, iv)
      const data = Buffer.concat([c.update(plain, 'utf8'), c.final()])
      return {
        v: 1,
        iv: iv.toString('base64'),
        tag: c.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      }
    },
    open(sealed) {
      if (sealed?.v !== 1) throw new Error('unknown webhook secret envelope')
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'))
      d.setAuthTag(Buffer.from(sealed.tag, 'base64'))
      return Buffer.concat([d.update(Buffer.from(sealed.data, 'base64')), d.final()]).toString('utf8')
    },
  }
}

/** What lists show of a secret: enough to tell two apart, far too little to sign with. */
export function secretHint(secret: string): string {
  return `${secret.slice(0, 10)}…`
}
