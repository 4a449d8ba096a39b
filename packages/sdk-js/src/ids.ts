/** Random hex, from `crypto.getRandomValues` when the platform has it (browsers, Node, Hermes with a polyfill). */
export function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes)
  const c = (globalThis as { crypto?: Crypto }).crypto
  if (c?.getRandomValues) c.getRandomValues(buf)
  // Without Web Crypto (bare React Native): good enough for idempotency keys, which need uniqueness, not secrecy.
  else for (let i = 0; i < bytes; i++) buf[i] = Math.floor(Math.random() * 256)
  let out = ''
  for (const b of buf) out += b.toString(16).padStart(2, '0')
  return out
}

/** A random RFC 4122 version-4 UUID string. */
export function uuid(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto
  if (c?.randomUUID) return c.randomUUID()
  const h = randomHex(16).split('')
  h[12] = '4'
  h[16] = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)
  const s = h.join('')
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`
}
