import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONSOLE_CSP } from '../src/http/routes/console-app.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

/**
 * The console's build served at /_/: files by path with long caching for hashed assets, the app's page for any
 * other path of it, its own strict CSP, compression done once. A directory laid out as Vite writes one stands in
 * for packages/admin-ui/dist (the console's browser tests run the real build).
 */

let dir: string
let s: TestServer
const js = `console.log(${JSON.stringify('x'.repeat(5000))})\n`

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-console-app-'))
  fs.mkdirSync(path.join(dir, 'assets'))
  fs.writeFileSync(
    path.join(dir, 'index.html'),
    '<!doctype html><html><head><script type="module" src="/_/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>',
  )
  fs.writeFileSync(path.join(dir, 'assets', 'index-abc123.js'), js)
  s = await startTestServer({ env: { BASTIDE_CONSOLE_DIR: dir } })
})

afterAll(async () => {
  await s?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

const get = (p: string, headers: Record<string, string> = {}) => s.bastide.app.request(p, { headers })

describe('the console at /_/', () => {
  it('sends browsers from / to the console, keeps JSON and link errors at /', async () => {
    const html = await get('/', { accept: 'text/html' })
    expect(html.status).toBe(302)
    expect(html.headers.get('location')).toBe('/_/')
    const json = await get('/', { accept: 'application/json' })
    expect(json.status).toBe(200)
    expect(((await json.json()) as { name: string }).name).toBe('Bastide')
    const linkError = await get('/?error=TOKEN_EXPIRED', { accept: 'text/html' })
    expect(linkError.status).toBe(200)
    expect(await linkError.text()).toContain('This link has expired.')
  })

  it('serves the page with the console CSP and no caching, at /_/ and at any page path of the app', async () => {
    for (const p of ['/_/', '/_', '/_/collections', '/_/data/posts']) {
      const res = await get(p)
      expect(res.status, p).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP)
      expect(res.headers.get('cache-control')).toBe('no-cache')
      expect(await res.text()).toContain('<div id="root">')
    }
    // No inline script, no eval, nothing from elsewhere.
    expect(CONSOLE_CSP).toContain("script-src 'self'")
    expect(CONSOLE_CSP).not.toContain('unsafe')
  })

  it('serves hashed assets for a year, compressed when asked, and answers 304 to a known ETag', async () => {
    const plain = await get('/_/assets/index-abc123.js')
    expect(plain.status).toBe(200)
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(await plain.text()).toBe(js)
    const gz = await get('/_/assets/index-abc123.js', { 'accept-encoding': 'gzip' })
    expect(gz.headers.get('content-encoding')).toBe('gzip')
    const body = Buffer.from(await gz.arrayBuffer())
    expect(body.length).toBeLessThan(js.length / 10)
    expect(gunzipSync(body).toString()).toBe(js)
    const etag = plain.headers.get('etag')!
    expect((await get('/_/assets/index-abc123.js', { 'if-none-match': etag })).status).toBe(304)
  })

  it('answers 404 for a file that is not there, and never reads outside the build', async () => {
    for (const p of [
      '/_/assets/missing.js',
      '/_/..%2f..%2fpackage.json',
      '/_/%2e%2e/%2e%2e/etc/passwd.txt',
    ]) {
      const res = await get(p)
      expect(res.status, p).toBe(404)
      expect(((await res.json()) as { code: string }).code).toBe('NOT_FOUND')
    }
  })
})

describe('without a built console', () => {
  it('keeps the home page at / and serves nothing at /_/', async () => {
    const off = await startTestServer({ env: { BASTIDE_CONSOLE_DIR: path.join(dir, 'nowhere') } })
    try {
      const home = await off.bastide.app.request('/', { headers: { accept: 'text/html' } })
      expect(home.status).toBe(200)
      expect(await home.text()).toContain('Bastide')
      expect((await off.bastide.app.request('/_/')).status).toBe(404)
    } finally {
      await off.close()
    }
  })
})
