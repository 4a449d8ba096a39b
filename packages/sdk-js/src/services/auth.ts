import type { Http, TokenSource } from '../http.ts'
import type { SessionStorage } from '../session-storage.ts'
import type { AuthEvent, Session, SessionSink } from './session.ts'

// Initial seam: replaced by the full auth service (sign-in methods, persistence, refresh).
export class AuthService implements TokenSource, SessionSink {
  readonly #apiKey: string | undefined
  constructor(
    readonly http: Http,
    opts: {
      storage?: SessionStorage | undefined
      storageKey?: string | undefined
      apiKey?: string | undefined
      autoRefresh: boolean
    },
  ) {
    this.#apiKey = opts.apiKey
  }
  async getToken(): Promise<string | null> {
    return this.#apiKey ?? null
  }
  async setSessionFromToken(_token: string): Promise<Session> {
    throw new Error('not yet')
  }
  onAuthStateChange(_cb: (event: AuthEvent, session: Session | null) => void): () => void {
    return () => {}
  }
  stop(): void {}
}
