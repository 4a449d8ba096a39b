import { existsSync } from 'node:fs'
import { type Browser, type CDPSession, chromium } from 'playwright-core'

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
