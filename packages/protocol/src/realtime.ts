import type { RecordAction } from './records.ts'

/**
 * The realtime protocol: one socket.io connection at `/realtime`, authenticated with `{ token }` in the
 * handshake's `auth`. The client asks with acknowledged emits; the server pushes the events below.
 */

/** What the client emits, each answered by an {@link Ack}. */
export const CLIENT_EVENTS = {
  /** {@link SubscribeRequest} → `{ ok: true, subscriptionId }`. */
  subscribe: 'subscribe',
  /** `{ subscriptionId }`. */
  unsubscribe: 'unsubscribe',
  /** `{ token }`: a refreshed access token for the same identity. */
  auth: 'auth',
  /** `{ channel }` → `{ ok: true, presence? }`. */
  join: 'join',
  /** `{ channel }`. */
  leave: 'leave',
  /** `{ channel, event, payload }`. */
  broadcast: 'broadcast',
  /** `{ channel, state }`. */
  presenceTrack: 'presence:track',
} as const

/** What the server pushes. */
export const SERVER_EVENTS = {
  /** {@link ChangeMessage}. */
  change: 'change',
  /** `{ subscriptionId }`: changes were missed that cannot be replayed; refetch. */
  resync: 'resync',
  /** {@link UnsubscribedMessage}: the identity's rules no longer allow the subscription. */
  unsubscribed: 'unsubscribed',
  /** {@link BroadcastMessage}. */
  broadcast: 'broadcast',
  /** {@link PresenceMessage}. */
  presence: 'presence',
  /** {@link RealtimeErrorMessage}, then the server closes the connection. */
  authError: 'auth_error',
  /** {@link RealtimeErrorMessage} (e.g. RATE_LIMITED before a disconnection). */
  error: 'error',
} as const

export type ClientEventName = (typeof CLIENT_EVENTS)[keyof typeof CLIENT_EVENTS]
export type ServerEventName = (typeof SERVER_EVENTS)[keyof typeof SERVER_EVENTS]

/** The answer to every client emit. */
export type Ack<T extends object = Record<string, unknown>> =
  | ({ readonly ok: true } & T)
  | { readonly ok: false; readonly error?: RealtimeErrorMessage }

/** An error in an acknowledgement or an `auth_error` / `error` event. */
export interface RealtimeErrorMessage {
  readonly code?: string
  readonly message?: string
}

/** A record subscription: a whole collection, one record (`id`), or the records matching `filter`. */
export interface SubscribeRequest {
  readonly collection: string
  readonly id?: string
  readonly filter?: string
  /** The last sequence number seen: changes after it are replayed when the server still has them. */
  readonly since?: number
}

/** One record change delivered to a subscription. */
export interface ChangeMessage<R = unknown> {
  readonly subscriptionId: string
  readonly action: RecordAction
  readonly record: R
  /** The database-wide sequence number of the write (gap detection). */
  readonly seq: number
}

export interface UnsubscribedMessage {
  readonly subscriptionId: string
  /** An error code, e.g. FORBIDDEN. */
  readonly reason?: string
}

/** One member of a channel: the connection's user (null for admins and API keys) and what it tracked. */
export interface PresenceEntry<S = unknown> {
  readonly user: string | null
  readonly state: S
}

/** A channel's presence, keyed by connection id (a user with two tabs has two entries). */
export type PresenceState<S = unknown> = Readonly<Record<string, PresenceEntry<S>>>

/** Who sent a broadcast: the user's id (null for admins and API keys) and its connection id. */
export interface BroadcastSender {
  readonly id: string | null
  readonly connection: string
}

export interface BroadcastMessage<T = unknown> {
  readonly channel: string
  readonly event: string
  readonly payload: T
  readonly from: BroadcastSender
}

/** A diff (`joins`, `leaves`), or after a join the full `state` as well. */
export interface PresenceMessage<S = unknown> {
  readonly channel: string
  readonly joins: PresenceState<S>
  readonly leaves: PresenceState<S>
  readonly state?: PresenceState<S>
}
