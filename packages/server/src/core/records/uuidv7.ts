import { randomBytes } from 'node:crypto'

let lastMs = 0
let seq = 0

/**
 * RFC 9562 UUIDv7: 48-bit Unix milliseconds, then a 12-bit counter that keeps ids from one process
 * strictly increasing within a millisecond, then random bits. Sorts by creation time in the index.
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
    seq = randomBytes(2).readUInt16BE() & 0x3ff
  }
  const b = randomBytes(16)
  b.writeUIntBE(now, 0, 6)
  b[6] = 0x70 | (seq >> 8)
  b[7] = seq & 0xff
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
