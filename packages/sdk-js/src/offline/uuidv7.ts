import { randomHex } from '../ids.ts'

let lastMs = 0
let seq = 0

/**
 * RFC 9562 UUIDv7 (48-bit Unix ms, a 12-bit counter that keeps one device's ids increasing within a
 * millisecond, random bits), as the server makes them: records created offline sort by creation time too.
 */
export function uuidv7(now = Date.now()): string {
  if (now <= lastMs) {
    seq++
    if (seq > 0xfff) {
      lastMs++
      seq = 0
    }
    now = lastMs
  } else {
    lastMs = now
    seq = Number.parseInt(randomHex(2), 16) & 0x3ff
  }
  const r = randomHex(10)
  const variant = ((Number.parseInt(r.slice(0, 1), 16) & 0x3) | 0x8).toString(16)
  const h = `${now.toString(16).padStart(12, '0')}${(0x7000 | seq).toString(16)}${variant}${r.slice(1, 16)}`
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}
