import type { PushProviderName } from '@bastide/protocol'
import { createApnsSender } from './apns-sender.ts'
import { createFcmSender } from './fcm-sender.ts'
import type { LoadedCredentials, PushSender } from './types.ts'
import { createWebPushSender } from './web-push-sender.ts'

export { APNS_PRODUCTION_ORIGIN, APNS_SANDBOX_ORIGIN, createApnsSender } from './apns-sender.ts'
export { createFcmSender, FCM_ORIGIN } from './fcm-sender.ts'
export type * from './types.ts'
export { createWebPushSender } from './web-push-sender.ts'

export interface SendersOptions {
  /** In-flight provider requests per provider (BASTIDE_PUSH_CONCURRENCY). */
  readonly concurrency: number
  /** Extra trusted CA PEM for APNs, FCM and the OAuth token endpoint (BASTIDE_PUSH_CA_FILE's content). */
  readonly ca?: string
  /** BASTIDE_PUSH_APNS_ORIGIN: replaces both APNs gateways. */
  readonly apnsOrigin?: string
  /** BASTIDE_PUSH_FCM_ORIGIN. */
  readonly fcmOrigin?: string
  /** BASTIDE_PUSH_ALLOW_HOSTS: Web Push / UnifiedPush endpoints and FCM token_uri hosts allowed on private addresses. */
  readonly allowHosts: readonly string[]
  readonly timeoutMs?: number
  /** Tests: the clock for token ages. */
  readonly now?: () => number
}

export interface PushSenders {
  /** The sender of a provider; undefined when it is not configured (apns, fcm, webpush; unifiedpush always is). */
  get(provider: PushProviderName): PushSender | undefined
  close(): Promise<void>
}

/**
 * The senders for one version of the credentials (build a new set when `creds.version` changes and close the old
 * one). Each is created on first use and keeps its connections and tokens until closed.
 */
export function createSenders(creds: LoadedCredentials, o: SendersOptions): PushSenders {
  const base = {
    concurrency: o.concurrency,
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
  }
  const made = new Map<PushProviderName, PushSender>()
  const make = (provider: PushProviderName): PushSender | undefined => {
    switch (provider) {
      case 'apns':
        return creds.apns
          ? createApnsSender(creds.apns, { ...base, ...(o.apnsOrigin ? { origin: o.apnsOrigin } : {}) })
          : undefined
      case 'fcm':
        return creds.fcm
          ? createFcmSender(creds.fcm, {
              ...base,
              allowHosts: o.allowHosts,
              ...(o.fcmOrigin ? { origin: o.fcmOrigin } : {}),
            })
          : undefined
      case 'webpush':
        return creds.webpush
          ? createWebPushSender('webpush', creds.webpush, { ...base, allowHosts: o.allowHosts })
          : undefined
      case 'unifiedpush':
        return createWebPushSender('unifiedpush', creds.webpush, { ...base, allowHosts: o.allowHosts })
    }
  }
  return {
    get(provider) {
      let sender = made.get(provider)
      if (!sender) {
        sender = make(provider)
        if (sender) made.set(provider, sender)
      }
      return sender
    },
    async close() {
      const all = [...made.values()]
      made.clear()
      await Promise.all(all.map((s) => s.close()))
    },
  }
}
