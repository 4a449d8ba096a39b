import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { launchChromium } from '@bastide/server/test/support/browser.ts'
import { build } from 'esbuild'
import type { Browser, Page } from 'playwright-core'

/** A Chromium page on the app's own origin with the SDK loaded as `window.Bastide` (bundled from src/). */
export interface SdkPage {
  readonly browser: Browser
  readonly page: Page
  close(): Promise<void>
}

/**
 * Serves an empty page and the bundled SDK from `localhost` (an origin other than the API's 127.0.0.1, so requests
 * go cross-origin through CORS, as a real web app's do) and opens it in Chromium.
 */
export async function openSdkPage(): Promise<SdkPage> {
  const bundle = await build({
    entryPoints: [new URL('../../src/index.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    globalName: 'Bastide',
    platform: 'browser',
    write: false,
  })
  const js = bundle.outputFiles[0]!.text
  const site = createServer((req, res) => {
    if (req.url === '/sdk.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js)
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<script src="/sdk.js"></script>')
  })
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve))
  const browser = await launchChromium()
  const page = await browser.newPage()
  await page.goto(`http://localhost:${(site.address() as AddressInfo).port}/`)
  return {
    browser,
    page,
    async close() {
      await browser.close()
      site.close()
    },
  }
}
