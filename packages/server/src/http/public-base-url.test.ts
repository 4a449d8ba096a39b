import { describe, expect, it } from 'vitest'
import { publicBaseUrl } from './public-base-url.ts'

const request = (headers: Record<string, string>) => new Request('http://127.0.0.1:8787/x', { headers })
const evil = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }

describe('publicBaseUrl', () => {
  it('is BASTIDE_PUBLIC_URL when set, behind a proxy or not, without its trailing slash', () => {
    for (const trustProxy of [false, true]) {
      const base = publicBaseUrl({ publicUrl: 'https://api.example.com/v1/', fallback: 'x', trustProxy })
      expect(base(request(evil))).toBe('https://api.example.com/v1')
    }
  })

  it('is the fallback, never the Host or X-Forwarded-* a client sends, without a trusted proxy', () => {
    const base = publicBaseUrl({ publicUrl: undefined, fallback: 'http://localhost:8787', trustProxy: false })
    expect(base(request(evil))).toBe('http://localhost:8787')
    expect(base(request({}))).toBe('http://localhost:8787')
  })

  it("follows a trusted proxy's X-Forwarded-Host and -Proto, else Host", () => {
    const base = publicBaseUrl({ publicUrl: undefined, fallback: 'http://localhost:8787', trustProxy: true })
    expect(
      base(
        request({
          host: 'internal:8787',
          'x-forwarded-host': 'API.example.com, proxy2',
          'x-forwarded-proto': 'https',
        }),
      ),
    ).toBe('https://api.example.com')
    expect(base(request({ host: 'files.example.com:8443' }))).toBe('http://files.example.com:8443')
    expect(base(request({ host: '[::1]:8787' }))).toBe('http://[::1]:8787')
    // Not a host: the fallback, not a URL with a path, credentials or a script in it.
    for (const host of ['evil.example/path', 'user@evil.example', 'evil.example:99999x', '<script>', ''])
      expect(base(request({ 'x-forwarded-host': host, host: host || '' })), host).toBe(
        'http://localhost:8787',
      )
  })
})
