/**
 * Push notifications: devices register a token (`/api/push/devices`), subscribe to topics, and messages are sent
 * server-side (`/api/push/messages`: console admins, API keys with the `push` scope, functions' `ctx.push.send`)
 * through APNs, FCM, Web Push or a UnifiedPush distributor, queued and retried, each delivery kept with its status.
 */

/** Where a device's notifications go. */
export const PUSH_PROVIDERS = ['apns', 'fcm', 'webpush', 'unifiedpush'] as const
export type PushProviderName = (typeof PUSH_PROVIDERS)[number]

/** The providers that need credentials on the server (UnifiedPush needs none; Web Push needs VAPID keys). */
export const PUSH_CREDENTIAL_PROVIDERS = ['apns', 'fcm', 'webpush'] as const
export type PushCredentialProvider = (typeof PUSH_CREDENTIAL_PROVIDERS)[number]

/** A Web Push subscription's keys (`PushSubscription.toJSON().keys`), base64url. */
export interface PushSubscriptionKeys {
  readonly p256dh: string
  readonly auth: string
}

/** `POST /api/push/devices`: registers a device, or updates it in place when its `id` is known. */
export interface PushDeviceInput {
  /**
   * The installation's id: random, generated once by the app and kept (the SDK does it), 16-128 characters of
   * `[A-Za-z0-9_-]`. Whoever holds it may update or remove the device, so keep it on the device only.
   */
  readonly id: string
  readonly provider: PushProviderName
  /**
   * APNs: the device token (hex); FCM: the registration token (Expo: `getDevicePushTokenAsync().data`);
   * Web Push and UnifiedPush: the endpoint URL.
   */
  readonly token: string
  /** Web Push (and UnifiedPush with encryption): the subscription's keys. */
  readonly keys?: PushSubscriptionKeys
  /** The app's bundle id (APNs topic) or package name; `web` for a browser. */
  readonly appId: string
  /** APNs only: which gateway the token belongs to. Default `production`. */
  readonly environment?: 'production' | 'sandbox'
  /** BCP 47 (`fr`, `pt-BR`): picks the message's localized variant. */
  readonly locale?: string | null
  readonly appVersion?: string | null
}

export interface PushDevice {
  readonly id: string
  readonly provider: PushProviderName
  readonly appId: string
  readonly environment: 'production' | 'sandbox' | null
  readonly locale: string | null
  readonly appVersion: string | null
  /** The signed-in user it was registered by; null for an anonymous installation. */
  readonly userId: string | null
  /** The last 8 characters of the token, to tell devices apart (the token itself is never shown). */
  readonly tokenHint: string
  readonly topics: readonly string[]
  readonly createdAt: string
  readonly updatedAt: string
  readonly lastSeenAt: string
}

export interface PushTopic {
  /** 1-64 characters of `[a-z0-9_.-]`. */
  readonly name: string
  readonly description: string | null
  /**
   * Who may subscribe their own device: null = nobody (admins and functions subscribe devices), `""` = anyone
   * (anonymous installations included), otherwise a rule over the caller's `users` record (signed-in users only),
   * in the rule language of collections: `verified = true`, `role = "staff"`.
   */
  readonly subscribeRule: string | null
  /** Devices subscribed (admin answers only). */
  readonly subscribers?: number
  readonly createdAt: string
  readonly updatedAt: string
}

/** `POST /api/admin/push/topics`; a `PATCH` takes description and subscribeRule. */
export interface PushTopicInput {
  readonly name: string
  readonly description?: string | null
  readonly subscribeRule?: string | null
}

/** A user's choices, `GET|PUT /api/push/preferences`: topic → false opts out (messages of that topic are not sent to any of the user's devices). */
export interface PushPreferences {
  readonly topics: Readonly<Record<string, boolean>>
}

/** Who a message goes to: exactly one of these. */
export interface PushTarget {
  /** Every device of these users (ids of `users` records), at most 1,000. */
  readonly users?: readonly string[]
  /** Every device of the users matching this filter over the `users` collection (`verified = true && locale ~ "fr"`). */
  readonly filter?: string
  /** The devices subscribed to this topic. */
  readonly topic?: string
  /** These devices (installation ids), at most 1,000. */
  readonly devices?: readonly string[]
  /** Every registered device. */
  readonly all?: true
}

/** What a notification shows. */
export interface PushContent {
  readonly title?: string
  readonly body?: string
  /** APNs subtitle (other providers ignore it). */
  readonly subtitle?: string
  /** Per-locale variants, keyed by BCP 47 tag (`fr`, `pt-BR`); a device gets its locale's, then its language's, then the default. */
  readonly localized?: Readonly<
    Record<string, { readonly title?: string; readonly body?: string; readonly subtitle?: string }>
  >
  /** Custom key/values delivered to the app (strings, as FCM requires). */
  readonly data?: Readonly<Record<string, string>>
  readonly badge?: number
  /** A sound name (`default`). */
  readonly sound?: string
  /** An https image URL (FCM, Web Push; APNs through a notification service extension). */
  readonly image?: string
  /** APNs category / FCM click action / Web Push action tag. */
  readonly category?: string
  /** APNs thread id / Android channel grouping tag. */
  readonly threadId?: string
}

/** `POST /api/push/messages` and functions' `ctx.push.send`. */
export interface PushMessageInput extends PushContent {
  readonly to: PushTarget
  /**
   * The message's topic for preferences when `to` is not a topic (`marketing`): users who opted out of it are
   * skipped. With `to.topic` it is that topic.
   */
  readonly topic?: string
  /** How long providers keep it for an offline device, 0-2,419,200 s (28 days). Default 86,400. */
  readonly ttlSeconds?: number
  /** A newer message with the same key replaces an undelivered older one on the device. */
  readonly collapseKey?: string
  /** Default `high`, `normal` for silent messages. */
  readonly priority?: 'high' | 'normal'
  /** Data only: nothing shown, the app is woken (APNs content-available, FCM data message). */
  readonly silent?: boolean
  /** Send at this time (ISO 8601) instead of now; cancel before with `DELETE /api/push/messages/:id`. */
  readonly sendAt?: string
}

export const PUSH_MESSAGE_STATUSES = ['scheduled', 'queued', 'sending', 'done', 'canceled'] as const
/** scheduled (waiting for sendAt) → queued → sending (devices resolved, deliveries under way) → done; or canceled. */
export type PushMessageStatus = (typeof PUSH_MESSAGE_STATUSES)[number]

export const PUSH_DELIVERY_STATUSES = ['pending', 'sent', 'failed', 'invalid_token'] as const
/** pending (queued or being retried) → sent (the provider accepted it) | failed (with its reason) | invalid_token (device removed). */
export type PushDeliveryStatus = (typeof PUSH_DELIVERY_STATUSES)[number]

export interface PushCounts {
  /** Devices the message was resolved to (opted-out ones excluded). */
  readonly targeted: number
  readonly pending: number
  readonly sent: number
  readonly failed: number
  readonly invalidToken: number
  /** Devices skipped because their user opted out of the message's topic. */
  readonly optedOut: number
}

export interface PushMessage extends PushContent {
  readonly id: string
  readonly status: PushMessageStatus
  readonly to: PushTarget
  readonly topic: string | null
  readonly ttlSeconds: number
  readonly collapseKey: string | null
  readonly priority: 'high' | 'normal'
  readonly silent: boolean
  readonly sendAt: string | null
  /** `api` (a key or the admin key), `console`, `function:<name>`. */
  readonly source: string
  readonly counts: PushCounts
  readonly createdAt: string
  /** When the last delivery ended; null while any is pending. */
  readonly completedAt: string | null
}

export interface PushMessagePage {
  readonly items: readonly PushMessage[]
  readonly nextCursor: string | null
}

export interface PushDelivery {
  readonly id: string
  readonly messageId: string
  readonly deviceId: string
  readonly provider: PushProviderName
  readonly userId: string | null
  readonly status: PushDeliveryStatus
  /** Provider calls made so far. */
  readonly attempts: number
  /** The provider's reason for a failure or an invalid token (`Unregistered`, `UNREGISTERED`, `410 Gone`...). */
  readonly reason: string | null
  /** The provider's id for the accepted notification (apns-id, FCM message name), when it gives one. */
  readonly providerId: string | null
  readonly updatedAt: string
}

export interface PushDeliveryPage {
  readonly items: readonly PushDelivery[]
  readonly nextCursor: string | null
}

/** `PUT /api/admin/push/credentials/apns`: token-based (.p8) authentication. */
export interface ApnsCredentialsInput {
  readonly teamId: string
  readonly keyId: string
  /** The .p8 file's text (PEM, `-----BEGIN PRIVATE KEY-----`); write-only. Omitted on update: keep the stored one. */
  readonly privateKey?: string
  /** The default apns-topic when a device's appId is not a bundle id of this team's (normally each device's appId is used). */
  readonly bundleId: string
}

/** `PUT /api/admin/push/credentials/fcm`: a service account JSON key (Firebase console → Service accounts). */
export interface FcmCredentialsInput {
  /** The whole JSON file's content (`project_id`, `client_email`, `private_key`, `token_uri`); write-only. */
  readonly serviceAccount: string
}

/**
 * `PUT /api/admin/push/credentials/webpush`: VAPID keys. Both keys omitted: the stored pair is kept (only the
 * subject changes), or the server generates one when none is stored; `regenerate: true` replaces it with a new
 * pair (every browser subscription made with the old public key must be made again).
 */
export interface WebPushCredentialsInput {
  /** `mailto:` or `https:` contact the push services may use. */
  readonly subject: string
  readonly publicKey?: string
  /** base64url; write-only. */
  readonly privateKey?: string
  /** true: the server generates a new pair, replacing the stored one (not with publicKey/privateKey). */
  readonly regenerate?: boolean
}

/** `GET /api/admin/push/credentials`: what is configured, never a secret. */
export interface PushCredentialsStatus {
  readonly apns: {
    readonly teamId: string
    readonly keyId: string
    readonly bundleId: string
    readonly updatedAt: string
  } | null
  readonly fcm: {
    readonly projectId: string
    readonly clientEmail: string
    readonly updatedAt: string
  } | null
  readonly webpush: {
    readonly subject: string
    readonly publicKey: string
    readonly updatedAt: string
  } | null
}

/** `GET /api/push/config` (public): what an app needs to register. */
export interface PushConfig {
  /** Providers a device can register for and be sent to now (unifiedpush always). */
  readonly providers: readonly PushProviderName[]
  /** The VAPID public key for `pushManager.subscribe({ applicationServerKey })`; null until Web Push is configured. */
  readonly vapidPublicKey: string | null
}
