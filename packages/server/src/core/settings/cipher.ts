import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/** A secret as stored in bastide.settings: AES-256-GCM, versioned so that the scheme can change later. */
export interface SealedSecret {
  readonly $sealed: 'v1'
  /** 12 random bytes, base64. */
  readonly iv: string
  /** The 16-byte GCM tag, base64. */
  readonly tag: string
  /** The ciphertext, base64. */
  readonly data: string
}

export interface SettingsCipher {
  seal(plain: string): SealedSecret
  /** Throws when the envelope was not sealed with this key (BASTIDE_SECRET changed) or was tampered with. */
  open(sealed: SealedSecret): string
}

const INFO = 'bastide settings v1'

/**
 * Encryption of settings' secrets at rest (SMTP URL, OAuth client secrets): AES-256-GCM under a key derived
 * from BASTIDE_SECRET with HKDF-SHA256 (info `bastide settings v1`) and a random 12-byte IV per value, so
 * the database (or a dump of it) alone reveals nothing.
 */
export function createSettingsCipher(secret: string): SettingsCipher {
  const key = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), INFO, 32))
  return {
    seal(plain) {
      const iv = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', key, iv)
      const data = Buffer.concat([c.update(plain, 'utf8'), c.final()])
      return {
        $sealed: 'v1',
        iv: iv.toString('base64'),
        tag: c.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      }
    },
    open(sealed) {
      if (sealed?.$sealed !== 'v1') throw new Error('unknown settings envelope version')
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'))
      d.setAuthTag(Buffer.from(sealed.tag, 'base64'))
      return Buffer.concat([d.update(Buffer.from(sealed.data, 'base64')), d.final()]).toString('utf8')
    },
  }
}

export function isSealed(v: unknown): v is SealedSecret {
  return (
    !!v &&
    typeof v === 'object' &&
    (v as SealedSecret).$sealed === 'v1' &&
    typeof (v as SealedSecret).iv === 'string' &&
    typeof (v as SealedSecret).tag === 'string' &&
    typeof (v as SealedSecret).data === 'string'
  )
}
