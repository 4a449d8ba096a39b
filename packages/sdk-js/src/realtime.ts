import type { Http } from './http.ts'
import type { AuthService } from './services/auth.ts'
import type { RecordChange } from './types.ts'

/** What a record subscription targets. */
export interface SubscriptionTarget {
  readonly collection: string
  readonly id?: string
  readonly filter?: string
}

// Initial seam: replaced by the full realtime service (socket.io, reconnect, gap recovery, channels).
export class RealtimeService {
  constructor(
    readonly http: Http,
    readonly auth: AuthService,
  ) {}
  subscribe<R>(_target: SubscriptionTarget, _callback: (change: RecordChange<R>) => void): () => void {
    throw new Error('realtime is not available yet')
  }
  disconnect(): void {}
}
