import { type FetchLike, Http, type RetryOptions } from './http.ts'
import { createOfflineClient } from './offline/offline-client.ts'
import type { OfflineClient, OfflineOptions } from './offline/types.ts'
import { RealtimeService } from './realtime/realtime-service.ts'
import { AdminService } from './services/admin/admin-service.ts'
import { AuthService } from './services/auth/auth-service.ts'
import { BatchBuilder, type BatchResult } from './services/batch.ts'
import { FunctionsService } from './services/functions.ts'
import { PushService } from './services/push.ts'
import { CollectionService } from './services/records.ts'
import { StorageService } from './services/storage.ts'
import type { SessionStorage } from './session-storage.ts'
import type { CollectionOf, RegisteredSchema, Schema } from './types.ts'

export interface ClientOptions {
  /** The server's base URL, e.g. `https://api.example.com` (or `http://10.0.2.2:8787` from an Android emulator). */
  readonly url: string
  /**
   * Where the session is kept between launches. Default: `localStorage` in browsers, memory elsewhere. In React
   * Native pass an async key-value store: `asyncStorage(AsyncStorage)` or `asyncStorage(SecureStore-adapter)`.
   */
  readonly storage?: SessionStorage
  /** The key the session is stored under (default `bastide.session`); change it to run two clients side by side. */
  readonly storageKey?: string
  /** Your own `fetch` (default: the platform's). */
  readonly fetch?: FetchLike
  /** Headers added to every request. */
  readonly headers?: Readonly<Record<string, string>>
  /** Retry policy for idempotent requests and keyed writes (default 3 attempts, backoff from 300 ms); `false`: none. */
  readonly retry?: Partial<RetryOptions> | false
  /**
   * A secret API key (`bst_sk_…`) instead of a user session: for servers and scripts only, never ship one in an
   * app.
   */
  readonly apiKey?: string
  /** Refresh the access JWT shortly before it expires (default true). */
  readonly autoRefresh?: boolean
  /**
   * The client acts as a console admin: `client.admin.auth.signIn` signs in at `/api/admin/auth`, and every
   * request (records, storage, realtime) carries the admin's session. For the console and admin tools.
   */
  readonly console?: boolean
}

/**
 * One client per server: records, auth, storage and realtime.
 *
 * @typeParam S the schema (generated types); defaults to the one registered through `Register`.
 */
export class BastideClient<S extends Schema = RegisteredSchema> {
  /** The HTTP layer: `client.http.request(path, opts)` reaches any endpoint with the client's credentials. */
  readonly http: Http
  readonly auth: AuthService
  readonly storage: StorageService
  readonly realtime: RealtimeService
  /** Functions with an HTTP trigger: `client.functions.invoke(name, { body })`, as the signed-in user. */
  readonly functions: FunctionsService
  /** Push notifications: this installation's token, topics, the user's devices and preferences. */
  readonly push: PushService
  /** Console and automation: collections, users, keys, audit, console sign-in (`console: true`). */
  readonly admin: AdminService
  readonly #collections = new Map<string, CollectionService<any, any>>()

  constructor(opts: ClientOptions) {
    this.http = new Http({
      url: opts.url,
      fetch: opts.fetch,
      retry: opts.retry === false ? { attempts: 1 } : opts.retry,
      headers: opts.headers,
    })
    this.auth = new AuthService(this.http, {
      storage: opts.storage,
      storageKey: opts.storageKey,
      apiKey: opts.apiKey,
      autoRefresh: opts.autoRefresh ?? true,
    })
    this.admin = new AdminService(this.http, { storage: opts.storage, storageKey: opts.storageKey })
    const identity = opts.console ? this.admin.auth : this.auth
    this.http.tokens = identity
    this.storage = new StorageService(this.http)
    this.realtime = new RealtimeService(this.http, identity)
    this.functions = new FunctionsService(this.http)
    this.push = new PushService(this.http, { storage: opts.storage, storageKey: opts.storageKey })
  }

  /** The server's base URL. */
  get url(): string {
    return this.http.baseUrl
  }

  /**
   * The records of a collection. Typed by the generated schema (`client.collection('posts')` is a `Post`
   * collection), or by a type argument (`client.collection<Post>('posts')`).
   *
   * @example
   * const posts = client.collection('posts')
   * const page = await posts.list({ sort: ['-created'] })
   */
  collection<C extends keyof S & string>(name: C): CollectionService<S, S[C]>
  collection<R extends object>(name: string): CollectionService<S, CollectionOf<R>>
  collection(name: string): CollectionService<S, any> {
    let c = this.#collections.get(name)
    if (!c) {
      c = new CollectionService(name, this.http, this.realtime)
      this.#collections.set(name, c)
    }
    return c
  }

  /**
   * Runs several writes in one transaction: all succeed, or none is applied (the error carries
   * `details.index`).
   *
   * @example
   * const [post, , ] = await client.batch((b) => {
   *   b.collection('posts').create({ title: 'Hello' })
   *   b.collection('posts').update(otherId, { pinned: false }, { version: 4 })
   *   b.collection('drafts').delete(draftId)
   * })
   */
  async batch(
    build: (b: BatchBuilder<S>) => void,
    opts: { idempotencyKey?: string | false; signal?: AbortSignal } = {},
  ): Promise<BatchResult> {
    const b = new BatchBuilder<S>()
    build(b)
    return b.send(this.http, opts)
  }

  /**
   * Keeps collections on the device: reads and live queries from the local store, writes applied at once and
   * queued, synced with the server when it can be reached (conflicts resolved by each collection's policy).
   *
   * @example
   * const offline = client.offline({ store: indexedDbStore('my-app'), collections: { todos: { filter: 'done = false' } } })
   * await offline.ready
   * const stop = offline.collection<Todo>('todos').live({ sort: '-created' }, render)
   * await offline.collection<Todo>('todos').create({ title: 'Buy milk' })
   */
  offline(options: OfflineOptions): OfflineClient {
    return createOfflineClient(this, options)
  }

  /** Closes the realtime connection and stops token refresh timers (for tests and short-lived scripts). */
  async close(): Promise<void> {
    this.realtime.disconnect()
    this.auth.stop()
  }
}

/**
 * Creates a client.
 *
 * @example
 * import { createClient } from '@bastide/sdk'
 * const client = createClient({ url: 'https://api.example.com' })
 * await client.auth.signInWithPassword({ email, password })
 * const { items } = await client.collection('posts').list()
 */
export function createClient<S extends Schema = RegisteredSchema>(opts: ClientOptions): BastideClient<S> {
  return new BastideClient<S>(opts)
}
