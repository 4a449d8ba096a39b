import fs from 'node:fs'
import path from 'node:path'
import { launchChromium } from '@bastide/server/test/support/browser.ts'
import { startTestServer, type TestServer } from '@bastide/server/test/support/harness.ts'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { inject } from 'vitest'

export interface ConsoleHarness {
  readonly server: TestServer
  readonly origin: string
  readonly browser: Browser
  readonly context: BrowserContext
  readonly page: Page
  /** Everything the page logged as an error (CSP violations included) and every page crash. */
  readonly problems: string[]
  /** Saves a screenshot under test-results/screenshots/<name>.png (kept by CI as an artifact). */
  screenshot(name: string): Promise<void>
  close(): Promise<void>
}

export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-results/screenshots')

/**
 * A real server (its own database, the console built for this run at /_/) and Chromium on a page of it. Nothing
 * may leave localhost.
 */
export async function startConsole(opts: { env?: Record<string, string> } = {}): Promise<ConsoleHarness> {
  const server = await startTestServer({
    listen: true,
    env: { BASTIDE_CONSOLE_DIR: inject('consoleDir'), ...opts.env },
  })
  // localhost, not 127.0.0.1: a secure context (passkeys, clipboard) and the server's own name for itself.
  const origin = `http://localhost:${server.bastide.port}`
  const browser = await launchChromium()
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  await context.route(/^https?:\/\/(?!localhost[:/])/, (route) => route.abort())
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  const problems: string[] = []
  page.on('console', (m) => {
    // A 4xx the test provokes (a wrong password) is logged by Chromium as a failed load: that is the point.
    if (
      m.type() === 'error' &&
      !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())
    )
      problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  return {
    server,
    origin,
    browser,
    context,
    page,
    problems,
    async screenshot(name) {
      fs.mkdirSync(SCREENSHOTS, { recursive: true })
      // The layout scrolls inside <main>: let the document grow for a full-page capture, then put it back.
      await page.evaluate(() => document.documentElement.classList.add('capture'))
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true })
      await page.evaluate(() => document.documentElement.classList.remove('capture'))
    },
    async close() {
      await browser.close().catch(() => {})
      await server.close()
    },
  }
}

/** Creates the first admin through the setup page (token from the server's secret) and lands signed in. */
export async function setUpFirstAdmin(
  h: ConsoleHarness,
  admin = { email: 'admin@example.com', password: 'correct horse battery staple' },
): Promise<typeof admin> {
  const { setupToken } = await import('@bastide/server/src/core/auth/setup-token.ts')
  const { TEST_SECRET } = await import('@bastide/server/test/support/harness.ts')
  const { page } = h
  await page.goto(`${h.origin}/`)
  await page.getByRole('heading', { name: 'Create the first admin' }).waitFor()
  await page.getByLabel('Setup token').fill(setupToken(TEST_SECRET))
  await page.getByLabel('Email').fill(admin.email)
  await page.getByLabel('Password').fill(admin.password)
  await page.getByRole('button', { name: 'Create admin and sign in' }).click()
  await page.getByRole('navigation', { name: 'Console' }).waitFor()
  return admin
}

/** Runs axe-core on the page and returns the violations (serious and critical only). */
export async function axeViolations(page: Page): Promise<{ id: string; help: string; nodes: string[] }[]> {
  const source = fs.readFileSync(
    path.resolve(import.meta.dirname, '../../node_modules/axe-core/axe.min.js'),
    'utf8',
  )
  // The console's CSP forbids inline scripts: axe is evaluated through the DevTools protocol instead.
  await page.evaluate(source)
  return page.evaluate(async () => {
    const axe = (globalThis as any).axe
    const r = await axe.run(document, { resultTypes: ['violations'] })
    return r.violations
      .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
      .map((v: any) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n: any) => n.target.join(' ')) }))
  })
}
