import type { PushProviderName, PushSubscriptionKeys } from '@bastide/protocol'

/** A device as a sender needs it (a row of bastide.push_devices). */
export interface OutgoingDevice {
  readonly id: string
  readonly provider: PushProviderName
  /** APNs: hex device token; FCM: registration token; Web Push / UnifiedPush: the endpoint URL. */
  readonly token: string
  readonly keys: PushSubscriptionKeys | null
  readonly appId: string
  readonly environment: 'production' | 'sandbox' | null
}

/** One notification for one device, its content already localized for the device. */
export interface OutgoingPush {
  /** uuid: the APNs apns-id, logs. */
  readonly deliveryId: string
  readonly device: OutgoingDevice
  readonly title?: string
  readonly body?: string
  readonly subtitle?: string
  readonly data?: Readonly<Record<string, string>>
  readonly badge?: number
  readonly sound?: string
  readonly image?: string
  readonly category?: string
  readonly threadId?: string
  readonly ttlSeconds: number
  readonly collapseKey?: string
  readonly priority: 'high' | 'normal'
  readonly silent: boolean
  readonly messageId: string
}

export type PushResult =
  | { readonly ok: true; readonly providerId?: string }
  /** The token will never work again: the device is removed. */
  | { readonly ok: false; readonly kind: 'invalid-token'; readonly reason: string }
  /** 429, 5xx, network errors, timeouts: try again later (not before `retryAfterMs` when the provider said so). */
  | { readonly ok: false; readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number }
  /** Anything else: payload too large, bad credentials after one refresh, a refused destination... */
  | { readonly ok: false; readonly kind: 'failed'; readonly reason: string }

export interface PushSender {
  readonly provider: PushProviderName
  /** One result per item, same order; never rejects for a per-item failure; bounded concurrency inside. */
  send(items: readonly OutgoingPush[]): Promise<PushResult[]>
  close(): Promise<void>
}

export interface SenderOptions {
  /** Provider requests in flight at once for this sender, across concurrent `send` calls. */
  readonly concurrency: number
  /** Extra trusted CA PEM (BASTIDE_PUSH_CA_FILE), added to the system roots. */
  readonly ca?: string
  /** Per request, default 15000. */
  readonly timeoutMs?: number
  /** The clock (ms since epoch) used for token ages and expirations; tests move it. Default Date.now. */
  readonly now?: () => number
}

// The credentials are declared with their storage (core/push/credentials.ts); re-exported for the senders.
export type {
  ApnsCredentials,
  FcmServiceAccount,
  LoadedCredentials,
  VapidCredentials,
} from '../credentials.ts'
