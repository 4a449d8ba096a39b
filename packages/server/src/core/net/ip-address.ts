import net from 'node:net'

/**
 * Whether an address is on the public internet: false for loopback, private (RFC 1918), shared (CGNAT),
 * link-local, unspecified, multicast, broadcast, documentation and reserved ranges, IPv6 unique-local and
 * site-local, and for the IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) when that
 * address is not public. Anything that is not an IP address is not public.
 */
export function isPublicAddress(ip: string): boolean {
  const v = net.isIP(ip)
  if (v === 4) return isPublicV4(v4Octets(ip))
  if (v === 6) return isPublicV6(ip)
  return false
}

function v4Octets(ip: string): number[] {
  return ip.split('.').map(Number)
}

/** [first address as a 32-bit number, prefix length] of every IPv4 range that is not public. */
const V4_RESERVED: readonly (readonly [number, number, number, number, number])[] = [
  [0, 0, 0, 0, 8], // "this network", 0.0.0.0
  [10, 0, 0, 0, 8], // private
  [100, 64, 0, 0, 10], // shared address space (CGNAT)
  [127, 0, 0, 0, 8], // loopback
  [169, 254, 0, 0, 16], // link-local (cloud metadata: 169.254.169.254)
  [172, 16, 0, 0, 12], // private
  [192, 0, 0, 0, 24], // IETF protocol assignments
  [192, 0, 2, 0, 24], // documentation
  [192, 88, 99, 0, 24], // 6to4 relay anycast
  [192, 168, 0, 0, 16], // private
  [198, 18, 0, 0, 15], // benchmarking
  [198, 51, 100, 0, 24], // documentation
  [203, 0, 113, 0, 24], // documentation
  [224, 0, 0, 0, 4], // multicast
  [240, 0, 0, 0, 4], // reserved, and the broadcast 255.255.255.255
]

function isPublicV4(o: readonly number[]): boolean {
  const n = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0
  for (const [a, b, c, d, bits] of V4_RESERVED) {
    const base = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    if ((n & mask) >>> 0 === base) return false
  }
  return true
}

/** The eight 16-bit groups of an IPv6 address (a zone id, `%eth0`, is dropped). */
export function v6Groups(ip: string): number[] {
  let s = ip.split('%')[0]!.toLowerCase()
  // A trailing dotted quad (::ffff:10.0.0.1) is two groups.
  const quad = s.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/)
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number]
    s = `${s.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const fill = tail === undefined ? [] : new Array(8 - left.length - right.length).fill('0')
  return [...left, ...fill, ...right].map((g) => Number.parseInt(g, 16))
}

function isPublicV6(ip: string): boolean {
  const g = v6Groups(ip)
  const embedded = () => [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff]
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0)
  // ::/96 (unspecified, loopback, IPv4-compatible) and ::ffff:0:0/96 (IPv4-mapped): the IPv4 address decides.
  if (zeros(5) && (g[5] === 0 || g[5] === 0xffff)) {
    if (g[5] === 0 && g[6] === 0) return false // ::, ::1 and ::x: no IPv4 address there
    return isPublicV4(embedded())
  }
  // ::ffff:0:0:0/96 (SIIT) likewise.
  if (zeros(4) && g[4] === 0xffff && g[5] === 0) return isPublicV4(embedded())
  // 64:ff9b::/96, NAT64 well-known prefix.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return isPublicV4(embedded())
  // 64:ff9b:1::/48, local-use NAT64: could reach anything.
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return false
  // 2002::/16, 6to4: the IPv4 address is in groups 1-2.
  if (g[0] === 0x2002) return isPublicV4([g[1]! >> 8, g[1]! & 0xff, g[2]! >> 8, g[2]! & 0xff])
  // Only global unicast (2000::/3) is public...
  if ((g[0]! & 0xe000) !== 0x2000) return false
  // ...but Teredo (2001::/32, a tunnel to an IPv4 address), ORCHID and documentation ranges.
  if (
    g[0] === 0x2001 &&
    (g[1] === 0 || g[1] === 0xdb8 || (g[1]! & 0xfff0) === 0x10 || (g[1]! & 0xfff0) === 0x20)
  )
    return false
  if (g[0] === 0x3fff && g[1]! <= 0x0fff) return false // documentation (RFC 9637)
  return true
}
