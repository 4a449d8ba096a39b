import type { PresenceState } from '@bastide/protocol'
import type { BastideError } from '../errors.ts'
import type { TokenSource } from '../http.ts'
import type { AuthEvent } from '../services/session.ts'

export type { BroadcastSender, PresenceEntry, PresenceState } from '@bastide/protocol'

/** What a record subscription targets: a whole collection, one record (`id`), or the records matching `filter`. */
export interface SubscriptionTarget {
  readonly collection: string
  readonly id?: string
  readonly filter?: string
}

/** Options of a record subscription. */
export interface SubscribeOptions {
  /**
   * The server refused the subscription (`INVALID_FILTER`, `NOT_FOUND`, `FORBIDDEN`, `LIMIT`, …): it is dropped
   * and the callback is never called. Without this handler the error goes to {@link RealtimeService.onError}.
   */
  readonly onError?: (error: BastideError) => void
  /** The server accepted the subscription; called again after every reconnection. */
  readonly onReady?: () => void
}

/** The state of the realtime connection. */
export type RealtimeStatus = 'connecting' | 'connected' | 'disconnected'

/** What changed in a channel's presence: the entries that joined (or re-tracked) and those that left. */
export interface PresenceDiff<S = unknown> {
  readonly joins: PresenceState<S>
  readonly leaves: PresenceState<S>
}

/** Whose credentials the realtime connection carries: the app user's auth, or a console admin's. */
export interface RealtimeIdentity extends TokenSource {
  onAuthStateChange(fn: (event: AuthEvent) => void): () => void
}
