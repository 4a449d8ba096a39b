import { existsSync } from 'node:fs'
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from 'playwright-core'

/** Debian's Chromium (never a downloaded browser); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Launches Chromium headless, quiet (no background traffic), or explains what is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: browser tests need a real browser (install chromium, or set CHROMIUM_PATH).`,
    )
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/**
 * A CDP virtual authenticator on `page` (a platform passkey provider with user verification): real WebAuthn
 * ceremonies, signed by the browser, with no human in the loop.
 */
export async function addVirtualAuthenticator(cdp: CDPSession): Promise<{ authenticatorId: string }> {
  await cdp.send('WebAuthn.enable')
  return cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  })
}

/**
 * A fresh context in which nothing may leave localhost (every other request is aborted, and its URL given to
 * `onForeign`), and a page in it that waits up to 15 s for what it is asked to find.
 */
export async function localOnlyPage(
  browser: Browser,
  onForeign: (url: string) => void = () => {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext()
  await context.route(/^https?:\/\/(?!localhost[:/])/, (route) => {
    onForeign(route.request().url())
    return route.abort()
  })
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  return { context, page }
}
