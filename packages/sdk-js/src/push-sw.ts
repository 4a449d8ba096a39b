/**
 * `@bastide/sdk/push-sw`: the service worker's side of Web Push. Shows what Bastide sends (the JSON
 * `{title, body, data, image, badge, tag, messageId}`) and opens `data.url` on a click. It imports nothing from the
 * client, so a service worker bundle stays small.
 *
 * @example
 * // sw.js
 * import { handleNotificationClick, showPushNotification } from '@bastide/sdk/push-sw'
 * self.addEventListener('push', (event) => showPushNotification(event, { icon: '/icon-192.png' }))
 * self.addEventListener('notificationclick', (event) => handleNotificationClick(event))
 */

/** What Bastide's Web Push (and UnifiedPush) payload carries. */
export interface PushPayload {
  readonly title?: string
  readonly body?: string
  /** The message's custom key/values; `url` is opened on a click by {@link handleNotificationClick}. */
  readonly data?: Readonly<Record<string, string>>
  readonly image?: string
  /** The app badge count (set with the Badging API where there is one), or an image URL for the notification's badge. */
  readonly badge?: number | string
  /** A newer notification with the same tag replaces the shown one. */
  readonly tag?: string
  readonly messageId?: string
}

/** The part of a `PushEvent` this uses (the SDK's types compile without the WebWorker library). */
export interface PushEventLike {
  readonly data?: { json(): unknown; text(): string } | null | undefined
  waitUntil(p: Promise<unknown>): void
}

/** The part of a `NotificationEvent` this uses. */
export interface NotificationClickEventLike {
  readonly notification: { readonly data?: unknown; close(): void }
  readonly action?: string
  waitUntil(p: Promise<unknown>): void
}

export interface ShowOptions {
  /** The title when the payload has none (a notification needs one). Default: the worker's origin. */
  readonly defaultTitle?: string
  /** The app's icon URL. */
  readonly icon?: string
  /** A monochrome badge image URL (Android's status bar) when the payload has none. */
  readonly badge?: string
  /**
   * Changes what is shown: gets the payload and what would be shown, returns what to show, or null for nothing
   * (mind that Chromium then shows a generic "updated in the background" notice).
   */
  readonly transform?: (payload: PushPayload, shown: ShownNotification) => ShownNotification | null
}

/** `registration.showNotification(title, options)`'s arguments. */
export interface ShownNotification {
  readonly title: string
  readonly options: Readonly<Record<string, unknown>>
}

interface WorkerScope {
  readonly registration?: {
    showNotification(title: string, options?: Record<string, unknown>): Promise<void>
  }
  readonly location?: { readonly origin: string; readonly href: string }
  readonly navigator?: { setAppBadge?(n?: number): Promise<void>; clearAppBadge?(): Promise<void> }
  readonly clients?: {
    matchAll(o: { type: 'window'; includeUncontrolled: boolean }): Promise<
      readonly {
        readonly url: string
        focus?(): Promise<unknown>
        navigate?(url: string): Promise<unknown>
      }[]
    >
    openWindow(url: string): Promise<unknown>
  }
}

const scope = () => globalThis as unknown as WorkerScope

/**
 * The payload of a push event: Bastide's JSON, or a plain-text body as `{ body }`, or `{}` when empty.
 *
 * @example
 * self.addEventListener('push', (event) => {
 *   const { title, data } = parsePushPayload(event)
 * })
 */
export function parsePushPayload(event: PushEventLike): PushPayload {
  const d = event.data
  if (!d) return {}
  try {
    const v = d.json()
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as PushPayload
  } catch {}
  const text = d.text()
  return text ? { body: text } : {}
}

/**
 * Shows the notification a push event carries (and keeps the worker alive until it is shown: it calls
 * `event.waitUntil` itself). The message's `data` and `messageId` are kept on the notification (`notification.data`).
 *
 * @example
 * self.addEventListener('push', (event) => showPushNotification(event, { icon: '/icon-192.png' }))
 */
export function showPushNotification(event: PushEventLike, opts: ShowOptions = {}): Promise<void> {
  const done = show(parsePushPayload(event), opts)
  event.waitUntil(done)
  return done
}

async function show(payload: PushPayload, opts: ShowOptions): Promise<void> {
  const self = scope()
  if (!self.registration) throw new TypeError('showPushNotification: call it in a service worker.')
  const badgeCount = typeof payload.badge === 'number' ? payload.badge : undefined
  const base: ShownNotification = {
    title: payload.title ?? opts.defaultTitle ?? self.location?.origin ?? '',
    options: strip({
      body: payload.body,
      image: payload.image,
      icon: opts.icon,
      badge: typeof payload.badge === 'string' ? payload.badge : opts.badge,
      tag: payload.tag,
      data: { ...payload.data, ...(payload.messageId ? { messageId: payload.messageId } : {}) },
    }),
  }
  const shown = opts.transform ? opts.transform(payload, base) : base
  // The Badging API is not everywhere (Chromium has it); a missing one is no reason to lose the notification.
  if (badgeCount !== undefined && self.navigator?.setAppBadge) {
    await (badgeCount > 0 ? self.navigator.setAppBadge(badgeCount) : self.navigator.clearAppBadge?.())?.catch(
      () => {},
    )
  }
  if (shown) await self.registration.showNotification(shown.title, shown.options)
}

/**
 * On a click: closes the notification and, when its data has a `url` (absolute, or relative to the worker's
 * origin), focuses a window already showing it or opens one. Resolves with the URL opened, or null.
 *
 * @example
 * self.addEventListener('notificationclick', (event) => handleNotificationClick(event))
 */
export function handleNotificationClick(event: NotificationClickEventLike): Promise<string | null> {
  event.notification.close()
  const done = open(event.notification.data)
  event.waitUntil(done)
  return done
}

async function open(data: unknown): Promise<string | null> {
  const self = scope()
  const raw = (data as { url?: unknown } | null | undefined)?.url
  if (typeof raw !== 'string' || !raw || !self.clients) return null
  let url: string
  try {
    url = new URL(raw, self.location?.href).href
  } catch {
    return null
  }
  // Only web pages: a javascript: or data: URL in a message must not run in the app's origin.
  if (!/^https?:$/.test(new URL(url).protocol)) return null
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
  const same = windows.find((w) => w.url === url)
  if (same?.focus) {
    await same.focus()
    return url
  }
  await self.clients.openWindow(url)
  return url
}

function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}
