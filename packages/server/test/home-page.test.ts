import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../src/db/embedded-postgres.ts'
import { VERSION } from '../src/http/routes/meta.ts'
import { authCall } from './support/auth.ts'
import { launchChromium, localOnlyPage } from './support/browser.ts'
import { startTestServer, type TestServer } from './support/harness.ts'
import { linkIn, type Mailbox, startMailbox } from './support/mailbox.ts'

/**
 * `/` before the console: a page saying what runs and where to start, which also makes sense to an app
 * user whom a confirmation link brought there.
 */

let s: TestServer
let mail: Mailbox
let browser: Browser
let page: Page
let origin: string
const problems: string[] = []

beforeAll(async () => {
  mail = await startMailbox()
  // A port nobody listens on right now: the public URL (and so the mailed links) must name it.
  const port = await freePort()
  origin = `http://localhost:${port}`
  s = await startTestServer({
    listen: true,
    env: { PORT: String(port), BASTIDE_PUBLIC_URL: origin, BASTIDE_SMTP_URL: mail.url },
  })
  browser = await launchChromium()
  // The page must need nothing from elsewhere.
  ;({ page } = await localOnlyPage(browser, (url) => problems.push(`foreign request: ${url}`)))
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console: ${m.text()}`)
  })
})

afterAll(async () => {
  await browser?.close()
  await s?.close()
  await mail?.close()
})

const get = (path: string, headers: Record<string, string> = {}) => s.bastide.app.request(path, { headers })

describe('the home page at /', () => {
  it('answers a browser with a page: what runs, the links, and the first steps', async () => {
    const res = await get('/', { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    const html = await res.text()
    for (const href of ['/api/docs', '/account', '/api/health', '/api/openapi.json']) {
      expect(html).toContain(`href="${href}"`)
    }
    expect(html).toContain(`data-testid="fact-version">${VERSION}<`)
    // The test server runs on DATABASE_URL, local disk, one node, with SMTP.
    expect(html).toMatch(/data-testid="fact-database">PostgreSQL at DATABASE_URL</)
    expect(html).toMatch(/data-testid="fact-storage">Local disk/)
    expect(html).toMatch(/data-testid="fact-realtime">socket\.io at \/realtime, one node</)
    expect(html).toMatch(/data-testid="fact-email">Sent over SMTP</)
    expect(html).toContain('setup token printed in the server log at start-up')
    expect(html).toContain('npx bastide setup-token')
    expect(html).toContain(`B=${origin}/api`)
    expect(html).toContain('@bastide/sdk')
    // Self-contained: no script at all, nothing loaded from anywhere.
    expect(html).not.toMatch(/<script/i)
    expect(html.match(/\b(?:src|href)="[^"]*"/g)?.filter((a) => !/^(?:src|href)="\/[^/]/.test(a))).toEqual([])
    // A plain curl (Accept: */*) gets the page too.
    expect((await get('/', { accept: '*/*' })).headers.get('content-type')).toMatch(/^text\/html/)
  })

  it('answers JSON to a client that asks only for JSON', async () => {
    const res = await get('/', { accept: 'application/json' })
    expect(res.status).toBe(200)
    expect(res.headers.get('vary')).toMatch(/accept/i)
    expect(await res.json()).toEqual({
      name: 'Bastide',
      version: VERSION,
      database: 'external',
      storage: 'local',
      realtime: 'single-node',
      email: 'smtp',
      links: { docs: '/api/docs', openapi: '/api/openapi.json', health: '/api/health', account: '/account' },
    })
  })

  it('explains a link it could not use, and writes nothing of the query string into the page', async () => {
    const expired = await (await get('/?error=TOKEN_EXPIRED')).text()
    expect(expired).toContain('data-testid="link-error">This link has expired.')
    const odd = await (await get('/?error=%3Cimg%20src%3Dx%3E')).text()
    expect(odd).toContain('data-testid="link-error">This link could not be used.')
    expect(odd).not.toContain('<img')
  })

  it('is where a confirmation link lands: verified, signed in, and the page makes sense', async () => {
    const email = 'lena@example.com'
    const r = await authCall(s, 'POST', '/sign-up/email', {
      email,
      password: 'a long and unusual passphrase',
      name: 'Lena',
    })
    expect(r.status).toBe(200)
    const link = linkIn(await mail.next(email, /confirm/i))
    expect(link.origin).toBe(origin)

    const res = await page.goto(link.toString())
    expect(res?.status()).toBe(200)
    expect(new URL(page.url()).pathname).toBe('/')
    expect(await page.locator('h1').textContent()).toBe('Bastide is running')
    expect(await page.getByText('Your address is confirmed').isVisible()).toBe(true)
    expect(await page.getByTestId('link-error').count()).toBe(0)
    await page.getByRole('link', { name: 'account page' }).first().click()
    await expect.poll(() => new URL(page.url()).pathname).toBe('/account')
    await expect.poll(() => page.getByTestId('user-email').textContent()).toBe(email)

    // A link whose token is not valid: better-auth sends it back here with ?error=, and the page says so.
    await page.goto(link.toString().replace(/token=[^&]+/, 'token=not-a-token'))
    expect(new URL(page.url()).pathname).toBe('/')
    expect(await page.getByTestId('link-error').textContent()).toMatch(/^This link is not valid/)
    const shot = await page.screenshot({ fullPage: true })
    expect(shot.byteLength).toBeGreaterThan(10_000)
    expect(problems).toEqual([])
  })
})
