import type {
  ApnsCredentialsInput,
  FcmCredentialsInput,
  PushCredentialProvider,
  PushCredentialsStatus,
  PushDeliveryPage,
  PushDeliveryStatus,
  PushDevice,
  PushMessage,
  PushMessageInput,
  PushMessagePage,
  PushMessageStatus,
  PushTopic,
  PushTopicInput,
  WebPushCredentialsInput,
} from '@bastide/protocol'
import type { Http } from '../../http.ts'

export type {
  ApnsCredentialsInput,
  FcmCredentialsInput,
  PushCredentialProvider,
  PushCredentialsStatus,
  PushDeliveryPage,
  PushDeliveryStatus,
  PushMessage,
  PushMessageInput,
  PushMessagePage,
  PushMessageStatus,
  PushTopicInput,
}

/** What `credentials.set` takes for each provider. */
export interface PushCredentialsInputs {
  readonly apns: ApnsCredentialsInput
  readonly fcm: FcmCredentialsInput
  readonly webpush: WebPushCredentialsInput
}

/** One page of devices (`nextCursor` null on the last). */
export interface PushDevicePage {
  readonly items: readonly PushDevice[]
  readonly nextCursor: string | null
}

type Signal = { signal?: AbortSignal }
const enc = encodeURIComponent

/**
 * Push notifications, the sending and managing side: messages, their deliveries, devices, provider
 * credentials, topics. Console admins, the admin key, or API keys with the `push` scope.
 */
export class AdminPush {
  /** Sent messages: list, one with its counts, its deliveries, cancel a scheduled one. */
  readonly messages: AdminPushMessages
  /** Every registered device, by user. */
  readonly devices: AdminPushDevices
  /** APNs, FCM and Web Push (VAPID) credentials: never read back, only their public part. */
  readonly credentials: AdminPushCredentials
  /** Topics and who may subscribe to them; subscribing any devices. */
  readonly topics: AdminPushTopics

  constructor(private readonly http: Http) {
    this.messages = new AdminPushMessages(http)
    this.devices = new AdminPushDevices(http)
    this.credentials = new AdminPushCredentials(http)
    this.topics = new AdminPushTopics(http)
  }

  /**
   * Sends a notification (or schedules it with `sendAt`): resolves at once with the message, `queued` or
   * `scheduled`; its deliveries follow on the server's queue (`messages.get(id)` for their counts).
   *
   * @example
   * const msg = await client.admin.push.send({
   *   to: { users: [userId] },
   *   title: 'Your order shipped',
   *   body: 'It arrives tomorrow.',
   *   localized: { fr: { title: 'Commande expédiée', body: 'Elle arrive demain.' } },
   *   data: { url: '/orders/42' },
   * })
   *
   * @example
   * await client.admin.push.send({ to: { topic: 'breaking-news' }, title: 'Hello', sendAt: '2026-12-24T18:00:00Z' })
   */
  send(input: PushMessageInput): Promise<PushMessage> {
    // Never retried: a lost answer followed by a retry would notify every device twice.
    return this.http.request('/api/push/messages', { method: 'POST', body: input, retry: false })
  }
}

export class AdminPushMessages {
  constructor(private readonly http: Http) {}

  /**
   * One page of messages, newest first; pass `nextCursor` back as `cursor`.
   *
   * @example
   * const { items, nextCursor } = await client.admin.push.messages.list({ status: 'scheduled', limit: 20 })
   */
  list(
    q: { cursor?: string; limit?: number; status?: PushMessageStatus } & Signal = {},
  ): Promise<PushMessagePage> {
    const { signal, ...query } = q
    return this.http.request('/api/push/messages', { query, signal })
  }

  /**
   * One message with its delivery counts (`counts.sent`, `failed`, `invalidToken`, `optedOut`...).
   *
   * @example
   * const { status, counts } = await client.admin.push.messages.get(id)
   */
  get(id: string, opts: Signal = {}): Promise<PushMessage> {
    return this.http.request(`/api/push/messages/${enc(id)}`, { signal: opts.signal })
  }

  /**
   * One page of a message's deliveries (one per device), with each one's status, attempts and the provider's
   * reason for a failure.
   *
   * @example
   * const { items } = await client.admin.push.messages.deliveries(id, { status: 'failed' })
   */
  deliveries(
    id: string,
    q: { cursor?: string; limit?: number; status?: PushDeliveryStatus } & Signal = {},
  ): Promise<PushDeliveryPage> {
    const { signal, ...query } = q
    return this.http.request(`/api/push/messages/${enc(id)}/deliveries`, { query, signal })
  }

  /**
   * Cancels a scheduled message (409 `CONFLICT` once it is queued) and resolves with it, `canceled`.
   *
   * @example
   * await client.admin.push.messages.cancel(id)
   */
  cancel(id: string): Promise<PushMessage> {
    return this.http.request(`/api/push/messages/${enc(id)}`, { method: 'DELETE' })
  }
}

export class AdminPushDevices {
  constructor(private readonly http: Http) {}

  /**
   * One page of registered devices, of one user when `user` is given.
   *
   * @example
   * const { items } = await client.admin.push.devices.list({ user: userId })
   */
  list(q: { user?: string; cursor?: string; limit?: number } & Signal = {}): Promise<PushDevicePage> {
    const { signal, ...query } = q
    return this.http.request('/api/admin/push/devices', { query, signal })
  }

  /**
   * Removes a device: it gets nothing more until the app registers again.
   *
   * @example
   * await client.admin.push.devices.remove(deviceId)
   */
  async remove(id: string): Promise<void> {
    await this.http.request(`/api/admin/push/devices/${enc(id)}`, { method: 'DELETE' })
  }
}

export class AdminPushCredentials {
  constructor(private readonly http: Http) {}

  /**
   * Which providers are configured, with their public part only.
   *
   * @example
   * const { apns, fcm, webpush } = await client.admin.push.credentials.get()
   */
  get(opts: Signal = {}): Promise<PushCredentialsStatus> {
    return this.http.request('/api/admin/push/credentials', { signal: opts.signal })
  }

  /**
   * Sets a provider's credentials (checked by the server: a key that does not parse is a 400).
   *
   * @example
   * await client.admin.push.credentials.set('apns', { teamId, keyId, bundleId: 'com.example.app', privateKey: p8 })
   * await client.admin.push.credentials.set('fcm', { serviceAccount: await readFile('sa.json', 'utf8') })
   * // Web Push: without keys, the server generates a VAPID pair.
   * const { webpush } = await client.admin.push.credentials.set('webpush', { subject: 'mailto:ops@example.com' })
   */
  set<P extends PushCredentialProvider>(
    provider: P,
    input: PushCredentialsInputs[P],
  ): Promise<PushCredentialsStatus> {
    return this.http.request(`/api/admin/push/credentials/${enc(provider)}`, { method: 'PUT', body: input })
  }

  /**
   * Removes a provider's credentials: its deliveries fail until they are set again.
   *
   * @example
   * await client.admin.push.credentials.remove('fcm')
   */
  remove(provider: PushCredentialProvider): Promise<PushCredentialsStatus> {
    return this.http.request(`/api/admin/push/credentials/${enc(provider)}`, { method: 'DELETE' })
  }
}

export class AdminPushTopics {
  constructor(private readonly http: Http) {}

  /**
   * Every topic, with its subscriber count.
   *
   * @example
   * const topics = await client.admin.push.topics.list()
   */
  async list(opts: Signal = {}): Promise<PushTopic[]> {
    const r = await this.http.request<{ items: PushTopic[] }>('/api/admin/push/topics', {
      signal: opts.signal,
    })
    return r.items
  }

  /**
   * Creates a topic. `subscribeRule`: null (default) lets only admins and functions subscribe devices, `""`
   * anyone, a rule over the caller's user record the users it matches.
   *
   * @example
   * await client.admin.push.topics.create({ name: 'breaking-news', description: 'Breaking news', subscribeRule: '' })
   */
  create(input: PushTopicInput): Promise<PushTopic> {
    return this.http.request('/api/admin/push/topics', { method: 'POST', body: input, retry: false })
  }

  /**
   * Changes a topic's description or subscribe rule.
   *
   * @example
   * await client.admin.push.topics.update('staff', { subscribeRule: 'role = "staff"' })
   */
  update(
    name: string,
    patch: { description?: string | null; subscribeRule?: string | null },
  ): Promise<PushTopic> {
    return this.http.request(`/api/admin/push/topics/${enc(name)}`, { method: 'PATCH', body: patch })
  }

  /**
   * Deletes a topic and its subscriptions.
   *
   * @example
   * await client.admin.push.topics.remove('old-news')
   */
  async remove(name: string): Promise<void> {
    await this.http.request(`/api/admin/push/topics/${enc(name)}`, { method: 'DELETE' })
  }

  /**
   * Subscribes devices (installation ids) to a topic, whatever its rule.
   *
   * @example
   * await client.admin.push.topics.subscribe('beta', [deviceId])
   */
  async subscribe(name: string, devices: readonly string[]): Promise<void> {
    await this.http.request(`/api/admin/push/topics/${enc(name)}/subscriptions`, {
      method: 'POST',
      body: { devices },
    })
  }

  /**
   * Unsubscribes devices from a topic.
   *
   * @example
   * await client.admin.push.topics.unsubscribe('beta', [deviceId])
   */
  async unsubscribe(name: string, devices: readonly string[]): Promise<void> {
    await this.http.request(`/api/admin/push/topics/${enc(name)}/subscriptions`, {
      method: 'DELETE',
      body: { devices },
    })
  }
}
