import { randomFillSync } from 'node:crypto'

let lastMs = 0
let seq = 0

/** Two lowercase hex digits per byte value. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/**
 * Random bytes drawn from a pool filled 4 KiB at a time: one call into the CSPRNG per ~500 ids instead of two
 * per id (the bytes are the same quality; only the syscalls and Buffers are saved).
 */
const POOL_SIZE = 4096
const pool = Buffer.allocUnsafe(POOL_SIZE)
let poolAt = POOL_SIZE

/** The offset in `pool` of `n` fresh random bytes (n ≤ POOL_SIZE), refilling the pool when it runs out. */
function take(n: number): number {
  if (poolAt + n > POOL_SIZE) {
    randomFillSync(pool)
    poolAt = 0
  }
  const at = poolAt
  poolAt += n
  return at
}

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
    // What Buffer.writeUIntBE refused before: a time that does not fit the 48 bits.
    if (!(now >= 0 && now <= 0xffff_ffff_ffff)) throw new RangeError(`uuidv7: timestamp out of range: ${now}`)
    lastMs = now
    // The counter starts at a random value in its lower 10 bits, leaving at least 3072 steps in the ms.
    const s = take(2)
    seq = ((pool[s]! & 0x03) << 8) | pool[s + 1]!
  }
  const hi = Math.floor(now / 0x1_0000_0000) // top 16 bits of the 48
  const lo = now >>> 0 // bottom 32 bits
  const r = take(8)
  const p = pool
  return `${HEX[hi >>> 8]}${HEX[hi & 0xff]}${HEX[lo >>> 24]}${HEX[(lo >>> 16) & 0xff]}-${HEX[(lo >>> 8) & 0xff]}${HEX[lo & 0xff]}-${HEX[0x70 | (seq >> 8)]}${HEX[seq & 0xff]}-${HEX[(p[r]! & 0x3f) | 0x80]}${HEX[p[r + 1]!]}-${HEX[p[r + 2]!]}${HEX[p[r + 3]!]}${HEX[p[r + 4]!]}${HEX[p[r + 5]!]}${HEX[p[r + 6]!]}${HEX[p[r + 7]!]}`
}
