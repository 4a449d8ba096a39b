import type { PushConfig, PushDevice, PushDeviceInput } from '@bastide/protocol'
import { BastideError, ErrorCodes } from './errors.ts'

/**
 * Web Push registration, the page's side (the service worker's is `@bastide/sdk/push-sw`). The browser types
 * are declared here, structurally, so that the SDK's declarations compile without the DOM library; a real
 * `ServiceWorkerRegistration` fits them.
 */

/** The part of a `PushSubscription` this uses. */
export interface WebPushSubscriptionLike {
  readonly endpoint: string
  readonly options?: { readonly applicationServerKey?: ArrayBuffer | null } | undefined
  toJSON(): { readonly keys?: Readonly<Record<string, string>> | undefined }
  unsubscribe(): Promise<boolean>
}

/** The part of a `ServiceWorkerRegistration` this uses. */
export interface WebPushRegistrationLike {
  readonly pushManager?:
    | {
        getSubscription(): Promise<WebPushSubscriptionLike | null>
        subscribe(options: {
          userVisibleOnly: boolean
          applicationServerKey: Uint8Array<ArrayBuffer>
        }): Promise<WebPushSubscriptionLike>
      }
    | undefined
}

export interface WebPushOptions {
  /** The page's service worker registration (`await navigator.serviceWorker.register('/sw.js')`). */
  readonly registration: WebPushRegistrationLike
  /** Default `web`. */
  readonly appId?: string
  /** BCP 47; default `navigator.language`. */
  readonly locale?: string | null
  readonly appVersion?: string | null
  readonly signal?: AbortSignal
}

/** What registerWebPush needs of `client.push`. */
export interface WebPushTarget {
  config(opts?: { signal?: AbortSignal }): Promise<PushConfig>
  register(input: Omit<PushDeviceInput, 'id'>, opts?: { signal?: AbortSignal }): Promise<PushDevice>
}

export const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

function unmet(reason: string, message: string): BastideError {
  return new BastideError({ code: ErrorCodes.PRECONDITION_FAILED, status: 0, message, details: { reason } })
}

/**
 * Subscribes the browser to Web Push with the server's VAPID key and registers the subscription with `push`
 * (`client.push.registerWebPush` calls this). Rejects with `PRECONDITION_FAILED` when the browser has no Push API
 * (`details.reason: 'push-unsupported'`: an insecure origin, Safari outside a home-screen app, a WebView) or when
 * the server has no VAPID key yet (`'webpush-not-configured'`). The browser's own refusal comes through as it is: a
 * `NotAllowedError` when the user blocks notifications, an `AbortError` when its push service cannot be reached.
 *
 * @example
 * import { registerWebPush } from '@bastide/sdk'
 * await registerWebPush(client.push, { registration: await navigator.serviceWorker.ready })
 */
export async function registerWebPush(push: WebPushTarget, opts: WebPushOptions): Promise<PushDevice> {
  const manager = opts.registration?.pushManager
  if (!manager || typeof manager.subscribe !== 'function') {
    throw unmet(
      'push-unsupported',
      'Web Push is not available here: this browser has no PushManager on the service worker registration ' +
        '(it needs a secure origin, https or localhost; Safari on iOS only in an app added to the home screen).',
    )
  }
  const { vapidPublicKey } = await push.config({ signal: opts.signal })
  if (!vapidPublicKey) {
    throw unmet(
      'webpush-not-configured',
      'Web Push is not configured on the server (no VAPID key): set it in the console, or with ' +
        "client.admin.push.credentials.set('webpush', { subject: 'mailto:you@example.com' }).",
    )
  }
  const key = fromBase64url(vapidPublicKey)
  let sub = await manager.getSubscription()
  // A subscription made with another key (the server's keys were replaced) would be refused by the push
  // service when the server signs with the new one: replace it.
  if (sub && !sameBytes(sub.options?.applicationServerKey, key)) {
    await sub.unsubscribe()
    sub = null
  }
  sub ??= await manager.subscribe({ userVisibleOnly: true, applicationServerKey: key })
  const keys = sub.toJSON().keys
  const locale =
    opts.locale !== undefined
      ? opts.locale
      : ((globalThis as { navigator?: { language?: string } }).navigator?.language ?? null)
  return push.register(
    {
      provider: 'webpush',
      token: sub.endpoint,
      ...(keys?.p256dh && keys.auth ? { keys: { p256dh: keys.p256dh, auth: keys.auth } } : {}),
      appId: opts.appId ?? 'web',
      locale,
      ...(opts.appVersion !== undefined ? { appVersion: opts.appVersion } : {}),
    },
    { ...(opts.signal ? { signal: opts.signal } : {}) },
  )
}

function sameBytes(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.byteLength) return false
  const x = new Uint8Array(a)
  return x.every((v, i) => v === b[i])
}

/** Decodes base64url (or base64; padding optional), the form VAPID public keys come in. */
export function fromBase64url(s: string): Uint8Array<ArrayBuffer> {
  const clean = s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  const out = new Uint8Array(Math.floor((clean.length * 6) / 8))
  let bits = 0
  let acc = 0
  let o = 0
  for (const ch of clean) {
    const v = B64URL_ALPHABET.indexOf(ch)
    if (v < 0) throw new TypeError(`Not base64url: "${s}".`)
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return out
}
