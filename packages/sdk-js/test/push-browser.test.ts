import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { launchChromium } from '@bastide/server/test/support/browser.ts'
import { build } from 'esbuild'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, clientFor, startServer, type TestServer } from './support/server.ts'

/**
 * Web Push in a real Chromium. Headless Chromium has no push service (and this machine no internet), so
 * `pushManager.subscribe` is only seen refusing. What is tested: registerWebPush's checks (no Push API, no VAPID
 * key on the server, the browser's refusal) in the page, and the service worker helpers of `@bastide/sdk/push-sw`
 * receiving real push events that DevTools delivers to the worker (`ServiceWorker.deliverPushMessage`) and showing
 * real notifications.
 */
let s: TestServer & { url: string }
let browser: Browser
let context: BrowserContext
let page: Page
let cdp: CDPSession
let site: Server
let origin = ''

async function bundle(contents: string, globalName?: string): Promise<string> {
  const out = await build({
    stdin: { contents, resolveDir: new URL('../src/', import.meta.url).pathname, loader: 'ts' },
    bundle: true,
    format: 'iife',
    ...(globalName ? { globalName } : {}),
    platform: 'browser',
    write: false,
  })
  return out.outputFiles[0]!.text
}

beforeAll(async () => {
  s = await startServer()
  const sdk = await bundle(`export * from './index.ts'`, 'Bastide')
  const sw = await bundle(`import { handleNotificationClick, showPushNotification } from './push-sw.ts'
self.addEventListener('install', () => self.skipWaiting())
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()))
self.addEventListener('push', (event) => showPushNotification(event, { icon: '/icon.png', defaultTitle: 'App' }))
self.addEventListener('notificationclick', (event) => handleNotificationClick(event))`)
  site = createServer((req, res) => {
    if (req.url === '/sdk.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk)
    else if (req.url === '/sw.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(sw)
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<script src="/sdk.js"></script>')
  })
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve))
  // localhost: a secure context over http, as service workers and the Push API require.
  origin = `http://localhost:${(site.address() as AddressInfo).port}`
  browser = await launchChromium()
  context = await browser.newContext()
  await context.grantPermissions(['notifications'], { origin })
  page = await context.newPage()
  cdp = await context.newCDPSession(page)
  await page.goto(`${origin}/`)
})
afterAll(async () => {
  await browser?.close()
  site?.close()
  await s?.close()
})

describe('client.push.registerWebPush', () => {
  it('says when the browser has no Push API, and when the server has no VAPID key', async () => {
    const r = await page.evaluate(async (url) => {
      const B = (globalThis as any).Bastide
      const client = B.createClient({ url })
      const describe = (e: any) => ({ code: e.code, reason: e.details?.reason, message: e.message })
      const unsupported = await client.push.registerWebPush({ registration: {} }).catch(describe)
      const registration = await navigator.serviceWorker.register('/sw.js')
      await navigator.serviceWorker.ready
      const unconfigured = await client.push.registerWebPush({ registration }).catch(describe)
      return { unsupported, unconfigured, id: await client.push.installationId() }
    }, s.url)
    expect(r.unsupported).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'push-unsupported' })
    expect(r.unsupported.message).toMatch(/PushManager/)
    expect(r.unconfigured).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'webpush-not-configured' })
    expect(r.unconfigured.message).toMatch(/VAPID/)
    // Nothing was registered.
    expect(r.id).toBeNull()
    expect((await clientFor(s, { apiKey: ADMIN_KEY }).admin.push.devices.list()).items).toEqual([])
  })

  it('subscribes with the server’s VAPID key, passing the browser’s refusal through', async () => {
    await clientFor(s, { apiKey: ADMIN_KEY }).admin.push.credentials.set('webpush', {
      subject: 'mailto:ops@example.com',
    })
    // Headless Chromium has no push service: it refuses the subscription (a user's "Block" does the same, as
    // NotAllowedError). The SDK must have got as far as calling subscribe with the key, and registered nothing.
    const r = await page.evaluate(async (url) => {
      const B = (globalThis as any).Bastide
      const client = B.createClient({ url })
      const registration = await navigator.serviceWorker.register('/sw.js')
      await navigator.serviceWorker.ready
      const err = await client.push.registerWebPush({ registration }).catch((e: Error) => e)
      return { name: err.name, message: err.message, id: await client.push.installationId() }
    }, s.url)
    expect(r.name).toMatch(/^(AbortError|NotAllowedError)$/)
    expect(r.id).toBeNull()
    expect((await clientFor(s, { apiKey: ADMIN_KEY }).admin.push.devices.list()).items).toEqual([])
  })
})

describe('@bastide/sdk/push-sw in a service worker', () => {
  async function registrationId(): Promise<string> {
    const ids = new Promise<string>((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
        const mine = registrations.find((r) => r.scopeURL.startsWith(origin) && !r.isDeleted)
        if (mine) resolve(mine.registrationId)
      })
    })
    await cdp.send('ServiceWorker.enable')
    return ids
  }

  const shown = () =>
    page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready
      return (await reg.getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        tag: n.tag,
        icon: n.icon,
        image: (n as any).image as string,
        data: n.data,
      }))
    })

  it('shows the notification a push carries, and a plain-text push as its body', async () => {
    await page.evaluate(async () => {
      await navigator.serviceWorker.register('/sw.js')
      await navigator.serviceWorker.ready
    })
    const id = await registrationId()
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin,
      registrationId: id,
      data: JSON.stringify({
        title: 'Order shipped',
        body: 'It arrives tomorrow.',
        data: { url: '/orders/42' },
        image: `${origin}/img.png`,
        tag: 'order-42',
        messageId: 'm-1',
      }),
    })
    await expect.poll(shown).toEqual([
      {
        title: 'Order shipped',
        body: 'It arrives tomorrow.',
        tag: 'order-42',
        icon: `${origin}/icon.png`,
        image: `${origin}/img.png`,
        data: { url: '/orders/42', messageId: 'm-1' },
      },
    ])
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: id, data: 'just text' })
    await expect
      .poll(async () => (await shown()).find((n) => n.body === 'just text'))
      .toMatchObject({ title: 'App', tag: '' })
  })
})
