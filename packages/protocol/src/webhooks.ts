import type { RecordAction } from './records.ts'

/**
 * Outbound webhooks: per-collection subscriptions to record changes, POSTed as signed JSON to a URL, retried with
 * exponential backoff, each attempt kept in the delivery history (`/api/admin/webhooks`).
 */

/** What a delivery announces: a record change, or `ping` (POST /api/admin/webhooks/:id/test). */
export const WEBHOOK_EVENTS = ['record.created', 'record.updated', 'record.deleted', 'ping'] as const
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]

/** The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`. */
export const WEBHOOK_SIGNATURE_HEADER = 'Bastide-Signature'

export interface Webhook {
  readonly id: string
  /** http(s); loopback, private and link-local destinations are refused unless the server allow-lists them. */
  readonly url: string
  /** A collection's name, or `*` for every collection. */
  readonly collection: string
  /** The record changes it is sent for. */
  readonly actions: readonly RecordAction[]
  readonly description: string | null
  readonly enabled: boolean
  /** The first characters of the signing secret (`whsec_AbCd…`), to tell secrets apart; the secret itself is shown once. */
  readonly secretHint: string
  readonly createdAt: string
  readonly updatedAt: string
}

/** The answer to a create or a secret rotation: the only time the signing secret is shown. */
export interface WebhookWithSecret extends Webhook {
  /** `whsec_` and 43 base64url characters (32 random bytes); the HMAC key is this whole string, as UTF-8. */
  readonly secret: string
}

/** `POST /api/admin/webhooks`; a `PATCH` takes any part of it. */
export interface WebhookInput {
  readonly url: string
  readonly collection: string
  readonly actions: readonly RecordAction[]
  readonly description?: string | null
  /** Default true. */
  readonly enabled?: boolean
}

/** The JSON body of every delivery. */
export interface WebhookPayload {
  /** The delivery's id: the same on every attempt and redelivery, so a receiver can ignore a repeat. */
  readonly id: string
  readonly event: WebhookEvent
  readonly collection: string
  /** The record after the change (before it, for a delete), hidden fields left out; null for `ping`. */
  readonly record: Readonly<Record<string, unknown>> | null
  /** Updates only: the record as it was. */
  readonly previous?: Readonly<Record<string, unknown>>
  /** When the change was committed (ISO 8601). */
  readonly at: string
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed'

/** One HTTP attempt of a delivery. */
export interface WebhookAttempt {
  readonly at: string
  /** The receiver's status; null when no answer came (timeout, refused connection, refused destination). */
  readonly statusCode: number | null
  readonly durationMs: number
  /** The first KiB of the receiver's answer. */
  readonly responseBody: string | null
  /** Why it did not count as delivered (non-2xx, timeout, network error); null once delivered. */
  readonly error: string | null
}

export interface WebhookDelivery {
  readonly id: string
  readonly webhookId: string
  readonly event: WebhookEvent
  readonly status: WebhookDeliveryStatus
  /** The record's id, null for `ping`. */
  readonly recordId: string | null
  readonly createdAt: string
  readonly updatedAt: string
  /** Every attempt, oldest first (redeliveries included). */
  readonly attempts: readonly WebhookAttempt[]
  /** What was (or will be) sent; only in `GET …/deliveries/:id`. */
  readonly payload?: WebhookPayload
}

export interface WebhookDeliveryPage {
  /** Newest first. */
  readonly items: readonly WebhookDelivery[]
  readonly nextCursor: string | null
}
