import { BastideError, ErrorCodes } from './errors.ts'

/**
 * PKCE (RFC 7636, S256) for the OAuth exchange. Randomness must be cryptographic: without
 * `crypto.getRandomValues` (bare React Native) this throws and says which polyfill to add. The hash uses
 * `crypto.subtle` when present and a small pure-JS SHA-256 otherwise, so React Native needs no `subtle`
 * polyfill (Hermes has none) and the server never has to accept the weaker `plain` method.
 */

/** A fresh code verifier: 32 random bytes, base64url (43 characters). */
export function createCodeVerifier(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto
  if (!c?.getRandomValues) {
    throw new BastideError({
      code: ErrorCodes.BAD_REQUEST,
      status: 0,
      message:
        'OAuth sign-in needs crypto.getRandomValues: in React Native, import "react-native-get-random-values" ' +
        '(or expo-crypto’s polyfill) before creating the client.',
    })
  }
  return base64url(c.getRandomValues(new Uint8Array(32)))
}

/** The S256 challenge of a verifier: base64url(SHA-256(verifier)). */
export async function codeChallenge(verifier: string): Promise<string> {
  const bytes = new TextEncoder().encode(verifier)
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle
  if (subtle?.digest) {
    try {
      return base64url(new Uint8Array(await subtle.digest('SHA-256', bytes)))
    } catch {
      // Some polyfills expose `subtle` without digest support at run time: fall through to the JS hash.
    }
  }
  return base64url(sha256(bytes))
}

/** Bytes to base64url without padding, with no dependency on btoa (absent in some runtimes). */
export function base64url(bytes: Uint8Array): string {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += abc[(n >> 18) & 63]! + abc[(n >> 12) & 63]! + abc[(n >> 6) & 63]! + abc[n & 63]!
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8)
    out += abc[(n >> 18) & 63]! + abc[(n >> 12) & 63]!
    if (i + 1 < bytes.length) out += abc[(n >> 6) & 63]!
  }
  return out
}

/** base64url (padding optional, standard alphabet tolerated) to bytes. */
export function fromBase64url(s: string): Uint8Array {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const clean = s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4))
  let bits = 0
  let acc = 0
  let j = 0
  for (const ch of clean) {
    const v = abc.indexOf(ch)
    if (v < 0) throw new TypeError(`Not base64url: "${s.slice(0, 20)}…"`)
    acc = (acc << 6) | v
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[j++] = (acc >> bits) & 0xff
    }
  }
  return out
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
])

/** FIPS 180-4 SHA-256, for runtimes without `crypto.subtle` (verifiers are short: speed is no concern). */
export function sha256(data: Uint8Array): Uint8Array {
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ])
  const len = data.length
  const total = Math.ceil((len + 9) / 64) * 64
  const msg = new Uint8Array(total)
  msg.set(data)
  msg[len] = 0x80
  const view = new DataView(msg.buffer)
  view.setUint32(total - 8, Math.floor((len * 8) / 2 ** 32))
  view.setUint32(total - 4, (len * 8) >>> 0)
  const w = new Uint32Array(64)
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n))
  for (let off = 0; off < total; off += 64) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(off + t * 4)
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15]!
      const b = w[t - 2]!
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10)
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) >>> 0
    }
    let a = h[0]!
    let b = h[1]!
    let c = h[2]!
    let d = h[3]!
    let e = h[4]!
    let f = h[5]!
    let g = h[6]!
    let hh = h[7]!
    for (let t = 0; t < 64; t++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) >>> 0
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0
      hh = g
      g = f
      f = e
      e = (d + t1) >>> 0
      d = c
      c = b
      b = a
      a = (t1 + t2) >>> 0
    }
    h[0] = (h[0]! + a) >>> 0
    h[1] = (h[1]! + b) >>> 0
    h[2] = (h[2]! + c) >>> 0
    h[3] = (h[3]! + d) >>> 0
    h[4] = (h[4]! + e) >>> 0
    h[5] = (h[5]! + f) >>> 0
    h[6] = (h[6]! + g) >>> 0
    h[7] = (h[7]! + hh) >>> 0
  }
  const out = new Uint8Array(32)
  const ov = new DataView(out.buffer)
  for (let i = 0; i < 8; i++) ov.setUint32(i * 4, h[i]!)
  return out
}
