import type {
  PushConfig,
  PushDevice,
  PushDeviceInput,
  PushPreferences,
  PushProviderName,
  PushSubscriptionKeys,
  PushTopic,
} from '@bastide/protocol'
import { BastideError, ErrorCodes } from '../errors.ts'
import type { Http } from '../http.ts'
import { B64URL_ALPHABET, registerWebPush, type WebPushOptions } from '../push-web.ts'
import { defaultStorage, type SessionStorage } from '../session-storage.ts'

export type {
  PushConfig,
  PushDevice,
  PushDeviceInput,
  PushPreferences,
  PushProviderName,
  PushSubscriptionKeys,
  PushTopic,
}

/** What `client.push.register` takes: the device's token, without the installation id (the SDK keeps it). */
export type PushRegistration = Omit<PushDeviceInput, 'id'>

/** A topic as a device sees it: whether this installation is subscribed. */
export interface PushTopicState extends PushTopic {
  readonly subscribed: boolean
}

const ID_PATTERN = /^[A-Za-z0-9_-]{16,128}$/
const deviceId = (id: string) => `/api/push/devices/${encodeURIComponent(id)}`
const subscriptions = (topic: string) => `/api/push/topics/${encodeURIComponent(topic)}/subscriptions`

/** The error for a call that needs this installation registered first. */
function notRegistered(what: string): BastideError {
  return new BastideError({
    code: ErrorCodes.PRECONDITION_FAILED,
    status: 0,
    message: `${what}: this installation is not registered for push; call client.push.register(...) first.`,
    details: { reason: 'not-registered' },
  })
}

/**
 * Push notifications for this installation and the signed-in user: register the device's token, topics,
 * preferences. The installation id is generated once and kept in the client's storage (the session's, under
 * `<storageKey>.push`), so that registering again updates the same device and survives restarts.
 *
 * @example
 * // React Native (Expo): the FCM/APNs token of this device.
 * const { data: token } = await Notifications.getDevicePushTokenAsync()
 * await client.push.register({ provider: Platform.OS === 'ios' ? 'apns' : 'fcm', token, appId: 'com.example.app' })
 */
export class PushService {
  /** The signed-in user's devices (all their installations). */
  readonly devices: PushDevices
  /** Topics this installation may subscribe to. */
  readonly topics: PushTopics
  /** The signed-in user's opt-outs, by topic. */
  readonly preferences: PushPreferencesApi
  readonly #http: Http
  readonly #storage: SessionStorage
  readonly #key: string
  /** Id reads and writes, one at a time: two concurrent first registrations must not mint two ids. */
  #queue: Promise<unknown> = Promise.resolve()

  constructor(
    http: Http,
    opts: { storage?: SessionStorage | undefined; storageKey?: string | undefined } = {},
  ) {
    this.#http = http
    this.#storage = opts.storage ?? defaultStorage()
    this.#key = `${opts.storageKey ?? 'bastide.session'}.push`
    this.devices = new PushDevices(http, this)
    this.topics = new PushTopics(http, this)
    this.preferences = new PushPreferencesApi(http)
  }

  /**
   * The server's push setup: which providers it can send to now, and the VAPID public key for Web Push.
   *
   * @example
   * const { providers, vapidPublicKey } = await client.push.config()
   */
  config(opts: { signal?: AbortSignal } = {}): Promise<PushConfig> {
    return this.#http.request('/api/push/config', { signal: opts.signal })
  }

  /**
   * This installation's id, or null before the first `register` (and after `unregister`).
   *
   * @example
   * const id = await client.push.installationId()
   */
  installationId(): Promise<string | null> {
    return this.#serial(() => this.#read())
  }

  /**
   * Registers this installation's push token, or updates it (new token, locale, app version): the same
   * installation id is sent every time. The device belongs to the signed-in user (none when anonymous): call
   * it again after sign-in and sign-out so that it follows the user. Call it at each launch too, since
   * providers rotate tokens.
   *
   * @example
   * await client.push.register({ provider: 'fcm', token, appId: 'com.example.app', locale: 'fr', appVersion: '2.1.0' })
   *
   * @example
   * // APNs from a development build goes through Apple's sandbox gateway.
   * await client.push.register({ provider: 'apns', token: hexToken, appId: 'com.example.app', environment: 'sandbox' })
   */
  async register(input: PushRegistration, opts: { signal?: AbortSignal } = {}): Promise<PushDevice> {
    const id = await this.#serial(async () => {
      const stored = await this.#read()
      if (stored) return stored
      const fresh = installationIdValue()
      await this.#storage.setItem(this.#key, fresh)
      return fresh
    })
    const body: PushDeviceInput = { ...input, id }
    return this.#http.request('/api/push/devices', { method: 'POST', body, signal: opts.signal })
  }

  /**
   * Removes this installation's device from the server (no more notifications to it), then forgets its id; a
   * later `register` starts a new installation. Does nothing when not registered.
   *
   * @example
   * await client.push.unregister()
   */
  async unregister(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#serial(async () => {
      const id = await this.#read()
      if (!id) return
      // The id is forgotten only once the server has let go of the device: a failed call can be retried.
      await this.#http.request(deviceId(id), { method: 'DELETE', signal: opts.signal })
      await this.#storage.removeItem(this.#key)
    })
  }

  /**
   * Web Push in a browser: subscribes `registration.pushManager` with the server's VAPID key (reusing the
   * current subscription when it was made with that key) and registers it (`provider: 'webpush'`, `appId`
   * default `web`). The browser asks the user for permission to show notifications if it has not yet. Pair it
   * with `showPushNotification` from `@bastide/sdk/push-sw` in the service worker.
   *
   * @example
   * const registration = await navigator.serviceWorker.register('/sw.js')
   * button.onclick = () => client.push.registerWebPush({ registration })
   */
  registerWebPush(opts: WebPushOptions): Promise<PushDevice> {
    return registerWebPush(this, opts)
  }

  async #read(): Promise<string | null> {
    const v = await this.#storage.getItem(this.#key)
    return typeof v === 'string' && ID_PATTERN.test(v) ? v : null
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }
}

/** The signed-in user's devices: `client.push.devices`. */
export class PushDevices {
  constructor(
    private readonly http: Http,
    private readonly push: PushService,
  ) {}

  /**
   * Every device the signed-in user registered (401 when signed out), to show "signed-in devices" with a
   * revoke button.
   *
   * @example
   * const devices = await client.push.devices.list()
   * const here = await client.push.installationId()
   * render(devices.map((d) => ({ ...d, thisDevice: d.id === here })))
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<PushDevice[]> {
    const r = await this.http.request<{ items: PushDevice[] }>('/api/push/devices', { signal: opts.signal })
    return r.items
  }

  /**
   * Removes one of the user's devices: it gets no more notifications. Revoking this installation also
   * forgets its id, as `unregister` does.
   *
   * @example
   * await client.push.devices.revoke(device.id)
   */
  async revoke(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (id === (await this.push.installationId())) return this.push.unregister(opts)
    await this.http.request(deviceId(id), { method: 'DELETE', signal: opts.signal })
  }
}

/** Topics this installation subscribes to itself: `client.push.topics`. */
export class PushTopics {
  constructor(
    private readonly http: Http,
    private readonly push: PushService,
  ) {}

  /**
   * The topics open to subscription (those with a subscribe rule), each saying whether this installation is
   * subscribed (never, before `register`).
   *
   * @example
   * const topics = await client.push.topics.list()
   * render(topics.map((t) => ({ label: t.description ?? t.name, on: t.subscribed })))
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<PushTopicState[]> {
    const device = await this.push.installationId()
    const r = await this.http.request<{ items: PushTopic[]; subscribed: string[] }>('/api/push/topics', {
      query: { device },
      signal: opts.signal,
    })
    const on = new Set(r.subscribed)
    return r.items.map((t) => ({ ...t, subscribed: on.has(t.name) }))
  }

  /**
   * Subscribes this installation to a topic (403 when the topic's rule refuses the caller, 404 unknown).
   * Rejects with `PRECONDITION_FAILED` before `register`.
   *
   * @example
   * await client.push.topics.subscribe('breaking-news')
   */
  async subscribe(name: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const device = await this.push.installationId()
    if (!device) throw notRegistered(`client.push.topics.subscribe('${name}')`)
    await this.http.request(subscriptions(name), { method: 'POST', body: { device }, signal: opts.signal })
  }

  /**
   * Unsubscribes this installation from a topic (always allowed). Rejects with `PRECONDITION_FAILED` before
   * `register`.
   *
   * @example
   * await client.push.topics.unsubscribe('breaking-news')
   */
  async unsubscribe(name: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const device = await this.push.installationId()
    if (!device) throw notRegistered(`client.push.topics.unsubscribe('${name}')`)
    await this.http.request(subscriptions(name), {
      method: 'DELETE',
      query: { device },
      signal: opts.signal,
    })
  }
}

/** The signed-in user's push preferences: `client.push.preferences`. */
export class PushPreferencesApi {
  constructor(private readonly http: Http) {}

  /**
   * The user's choices by topic (`false`: opted out); signed-in users only.
   *
   * @example
   * const { topics } = await client.push.preferences.get()
   * const marketing = topics.marketing !== false
   */
  get(opts: { signal?: AbortSignal } = {}): Promise<PushPreferences> {
    return this.http.request('/api/push/preferences', { signal: opts.signal })
  }

  /**
   * Replaces the user's choices: messages of a topic set to `false` reach none of their devices. Topics left
   * out are back to the default (sent).
   *
   * @example
   * await client.push.preferences.set({ topics: { marketing: false, 'order-updates': true } })
   */
  async set(prefs: PushPreferences, opts: { signal?: AbortSignal } = {}): Promise<PushPreferences> {
    const r = await this.http.request<PushPreferences | undefined>('/api/push/preferences', {
      method: 'PUT',
      body: prefs,
      signal: opts.signal,
    })
    return r ?? { topics: { ...prefs.topics } }
  }
}

/**
 * A new installation id: 16 random bytes in base64url (22 characters). Holding it is what lets a caller update
 * or remove the device, so it must be unguessable: no Math.random fallback.
 */
function installationIdValue(): string {
  const c = (globalThis as { crypto?: { getRandomValues?: (b: Uint8Array) => Uint8Array } }).crypto
  if (!c?.getRandomValues) {
    throw new TypeError(
      'client.push.register: crypto.getRandomValues is missing on this platform (React Native: import ' +
        '"react-native-get-random-values" first).',
    )
  }
  const bytes = c.getRandomValues(new Uint8Array(16))
  return base64url(bytes)
}

/** base64url without padding (btoa is not everywhere: older Hermes). */
function base64url(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2
    for (let j = 0; j < chars; j++) out += B64URL_ALPHABET[(n >> (18 - 6 * j)) & 63]
  }
  return out
}
