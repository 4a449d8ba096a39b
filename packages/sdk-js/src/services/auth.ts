import type { Http, TokenSource } from '../http.ts'
import type { SessionStorage } from '../session-storage.ts'

// Initial seam: replaced by the full auth service (sign-in methods, persistence, refresh).
export class AuthService implements TokenSource {
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
  stop(): void {}
}
