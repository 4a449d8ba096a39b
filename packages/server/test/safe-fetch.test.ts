import http from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPublicAddress, SsrfRefusedError, safeFetch } from '../src/core/net/safe-fetch.ts'

const octet = fc.integer({ min: 0, max: 255 })
const quad = (a: fc.Arbitrary<number>, b: fc.Arbitrary<number>) =>
  fc.tuple(a, b, octet, octet).map((o) => o.join('.'))
const hex = (o: number[]) => `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`

/** Every IPv4 range that must never be reached, as an arbitrary address in it. */
const privateV4 = fc.oneof(
  quad(fc.constant(127), octet), // loopback
  quad(fc.constant(10), octet), // RFC 1918
  quad(fc.constant(172), fc.integer({ min: 16, max: 31 })),
  quad(fc.constant(192), fc.constant(168)),
  quad(fc.constant(169), fc.constant(254)), // link-local, cloud metadata
  quad(fc.constant(100), fc.integer({ min: 64, max: 127 })), // CGNAT
  quad(fc.constant(0), octet), // unspecified, "this network"
  quad(fc.integer({ min: 224, max: 239 }), octet), // multicast
  quad(fc.integer({ min: 240, max: 255 }), octet), // reserved, broadcast
)

/** Addresses outside every reserved range (a simple, independent check of the first octets). */
const publicV4 = quad(fc.integer({ min: 1, max: 223 }), octet).filter((ip) => {
  const [a, b, c] = ip.split('.').map(Number) as [number, number, number]
  if ([10, 127].includes(a)) return false
  if (a === 100 && b >= 64 && b <= 127) return false
  if (a === 169 && b === 254) return false
  if (a === 172 && b >= 16 && b <= 31) return false
  if (a === 192 && (b === 168 || (b === 0 && (c === 0 || c === 2)) || (b === 88 && c === 99))) return false
  if (a === 198 && (b === 18 || b === 19 || (b === 51 && c === 100))) return false
  if (a === 203 && b === 0 && c === 113) return false
  return true
})

const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16))
const v6 = (first: fc.Arbitrary<number>) =>
  fc
    .tuple(first, fc.array(group, { minLength: 7, maxLength: 7 }))
    .map(([f, rest]) => [f.toString(16), ...rest].join(':'))

describe('isPublicAddress', () => {
  it('refuses every private, loopback, link-local, CGNAT, multicast and reserved IPv4 address', () => {
    fc.assert(fc.property(privateV4, (ip) => !isPublicAddress(ip)))
  })

  it('refuses them in every IPv6 form that carries an IPv4 address', () => {
    fc.assert(
      fc.property(privateV4, (ip) => {
        const o = ip.split('.').map(Number)
        return [
          `::ffff:${ip}`,
          `::ffff:${hex(o)}`,
          `0:0:0:0:0:ffff:${hex(o)}`,
          `::${ip}`,
          `64:ff9b::${ip}`,
          `64:ff9b::${hex(o)}`,
          `2002:${hex(o)}::1`,
          `::ffff:0:${ip}`,
        ].every((form) => !isPublicAddress(form))
      }),
    )
  })

  it('allows public IPv4 addresses, and their mapped forms', () => {
    fc.assert(
      fc.property(
        publicV4,
        (ip) => isPublicAddress(ip) && isPublicAddress(`::ffff:${ip}`) && isPublicAddress(`64:ff9b::${ip}`),
      ),
    )
  })

  it('refuses IPv6 loopback, unspecified, unique-local, link-local, site-local and multicast', () => {
    for (const ip of ['::1', '::', '0:0:0:0:0:0:0:1', 'fe80::1%eth0', '2001:db8::1', '64:ff9b:1::a'])
      expect(isPublicAddress(ip), ip).toBe(false)
    fc.assert(fc.property(v6(fc.integer({ min: 0xfc00, max: 0xfdff })), (ip) => !isPublicAddress(ip))) // ULA
    fc.assert(fc.property(v6(fc.integer({ min: 0xfe80, max: 0xfeff })), (ip) => !isPublicAddress(ip))) // link/site-local
    fc.assert(fc.property(v6(fc.integer({ min: 0xff00, max: 0xffff })), (ip) => !isPublicAddress(ip))) // multicast
  })

  it('allows global unicast IPv6', () => {
    for (const ip of ['2606:4700:4700::1111', '2a00:1450:4007:80e::200e'])
      expect(isPublicAddress(ip), ip).toBe(true)
    fc.assert(fc.property(v6(fc.integer({ min: 0x2400, max: 0x2fff })), (ip) => isPublicAddress(ip)))
  })

  it('is false for what is not an address', () => {
    for (const s of ['', 'localhost', '127.1', '1.2.3', '::g', '1.2.3.4.5'])
      expect(isPublicAddress(s), s).toBe(false)
  })
})

describe('safeFetch', () => {
  let server: http.Server
  let port = 0
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/redirect-local')
        return res.writeHead(302, { location: `http://localhost:${port}/` }).end()
      if (req.url === '/redirect-self') return res.writeHead(302, { location: '/echo' }).end()
      if (req.url === '/big') return res.end(Buffer.alloc(2 * 1024 * 1024, 'x'))
      if (req.url === '/big-chunked') {
        for (let i = 0; i < 32; i++) res.write(Buffer.alloc(64 * 1024, 'x'))
        return res.end()
      }
      if (req.url === '/hang') return // never answers
      let body = ''
      req.on('data', (c) => (body += c)).on('end', () => res.end(`${req.method} ${req.url} ${body}`))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
  })
  afterAll(() => {
    server.closeAllConnections()
    return new Promise((r) => server.close(r))
  })

  const opts = { allowHosts: [] as string[], timeoutMs: 5000, maxResponseBytes: 1024 * 1024 }
  const get = { method: 'GET', headers: [], body: null }

  it('refuses loopback, metadata and private destinations, however they are written', async () => {
    for (const url of [
      `http://127.0.0.1:${port}/`,
      `http://localhost:${port}/`,
      'http://169.254.169.254/latest/meta-data/',
      'http://2130706433/',
      'http://0x7f.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:7f00:1]/',
      'http://10.1.2.3/',
    ]) {
      const err = await safeFetch(url, get, opts).catch((e: unknown) => e)
      expect(err, url).toBeInstanceOf(SsrfRefusedError)
      expect(err).toMatchObject({ code: 'DESTINATION_REFUSED', status: 422 })
    }
  })

  it('refuses other schemes', async () => {
    await expect(safeFetch('file:///etc/passwd', get, opts)).rejects.toMatchObject({
      code: 'DESTINATION_REFUSED',
    })
  })

  it('reaches an allow-listed host, with method and body', async () => {
    const res = await safeFetch(
      `http://127.0.0.1:${port}/echo`,
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: new TextEncoder().encode('hi') },
      { ...opts, allowHosts: ['127.0.0.1'] },
    )
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('POST /echo hi')
  })

  it('checks every redirect hop', async () => {
    const allowed = { ...opts, allowHosts: ['127.0.0.1'] }
    const same = await safeFetch(`http://127.0.0.1:${port}/redirect-self`, get, allowed)
    expect(await same.text()).toBe('GET /echo ')
    // Allowed host, redirected to a loopback name that is not allowed.
    await expect(safeFetch(`http://127.0.0.1:${port}/redirect-local`, get, allowed)).rejects.toBeInstanceOf(
      SsrfRefusedError,
    )
  })

  it('cuts a response over the size cap, declared or streamed', async () => {
    const allowed = { ...opts, allowHosts: ['127.0.0.1'] }
    await expect(safeFetch(`http://127.0.0.1:${port}/big`, get, allowed)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    })
    const res = await safeFetch(`http://127.0.0.1:${port}/big-chunked`, get, allowed)
    await expect(res.arrayBuffer()).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
  })

  it('gives up at the timeout', async () => {
    await expect(
      safeFetch(`http://127.0.0.1:${port}/hang`, get, { ...opts, allowHosts: ['127.0.0.1'], timeoutMs: 200 }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/timed out/) })
  })
})
