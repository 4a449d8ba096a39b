import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNED_URL_OPERATIONS = ['read', 'write'] as const
export type SignedUrlOperation = (typeof SIGNED_URL_OPERATIONS)[number]

/** Longest life of a signed URL, in seconds (7 days, as S3). */
export const MAX_SIGNED_URL_SECONDS = 7 * 86_400

export interface SignedGrant {
  readonly operation: SignedUrlOperation
  readonly bucket: string
  readonly key: string
  /** Unix seconds. */
  readonly expires: number
  /** For writes: who will own what is uploaded (the signer), or null. */
  readonly owner: string | null
}

/**
 * Signed URL tokens: `<base64url JSON grant>.<base64url HMAC-SHA256>`, under a key derived from the
 * server secret for this purpose only. A token names one operation on one object of one bucket and an
 * expiry; anything else (another key, another bucket, a write with a read token) does not verify.
 */
export function createUrlSigner(secret: string) {
  const key = createHmac('sha256', secret).update('bastide/storage/signed-url/v1').digest()
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest()

  return {
    sign(g: SignedGrant): string {
      const payload = Buffer.from(
        JSON.stringify({ o: g.operation, b: g.bucket, k: g.key, e: g.expires, u: g.owner }),
      ).toString('base64url')
      return `${payload}.${mac(payload).toString('base64url')}`
    },

    /** The grant when `token` is genuine, unexpired, and for exactly this operation, bucket and key. */
    verify(
      token: string,
      expect: { operation: SignedUrlOperation; bucket: string; key: string },
      now = Date.now(),
    ): SignedGrant | undefined {
      if (token.length > 4096) return undefined
      const dot = token.indexOf('.')
      if (dot <= 0) return undefined
      const payload = token.slice(0, dot)
      const sig = token.slice(dot + 1)
      const given = Buffer.from(sig, 'base64url')
      // One spelling per signature: base64url's unused trailing bits must not make variants that verify.
      if (given.toString('base64url') !== sig) return undefined
      const want = mac(payload)
      if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined
      let g: { o?: unknown; b?: unknown; k?: unknown; e?: unknown; u?: unknown }
      try {
        g = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
      } catch {
        return undefined
      }
      if (g.o !== expect.operation || g.b !== expect.bucket || g.k !== expect.key) return undefined
      if (typeof g.e !== 'number' || g.e * 1000 <= now) return undefined
      return {
        operation: expect.operation,
        bucket: expect.bucket,
        key: expect.key,
        expires: g.e,
        owner: typeof g.u === 'string' ? g.u : null,
      }
    },
  }
}

export type UrlSigner = ReturnType<typeof createUrlSigner>
