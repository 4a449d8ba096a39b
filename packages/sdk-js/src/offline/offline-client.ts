import {
  compareRecords,
  compileLocalFilter,
  parseFilter,
  SYSTEM_FIELDS,
  type SyncChangesPage,
  type SyncMutation,
  type SyncMutationResult,
  type SyncPushResponse,
} from '@bastide/protocol'
import type { BastideClient } from '../client.ts'
import { BastideError, ErrorCodes } from '../errors.ts'
import { aborted } from '../http.ts'
import { uuid } from '../ids.ts'
import { FileQueue, fileInput } from './file-queue.ts'
import { LocalState } from './local-state.ts'
import type {
  OfflineBatch,
  OfflineClient,
  OfflineCollection,
  OfflineFileInput,
  OfflineOptions,
  OfflineQuery,
  OfflineStatus,
  QueuedMutation,
  SyncFieldInfo,
  SyncRecord,
} from './types.ts'
import { uuidv7 } from './uuidv7.ts'

const PUSH_BATCH = 500
const PULL_LIMIT = 1000
const WRITE_DEBOUNCE_MS = 50
const BACKOFF_START_MS = 1000
const BACKOFF_MAX_MS = 60_000
/** Pulls after a realtime announcement the change log does not show yet: 0.1 + 0.2 + … + 2 s, about 20 s in all. */
const ANNOUNCED_RECHECKS = 14
/** What a write never sends: the server's system fields, and relations a records API read expanded. */
const NOT_WRITTEN: ReadonlySet<string> = new Set([...SYSTEM_FIELDS, 'expand'])

type Row = SyncRecord
type Filter = (row: Readonly<Record<string, unknown>>) => boolean
interface Live {
  readonly collection: string
  readonly q: OfflineQuery
  readonly cb: (rows: Row[]) => void
  readonly onError: ((e: unknown) => void) | undefined
  last: Row[]
}
interface PullState {
  readonly filter: string
  readonly cursor: string | null
}

/** `client.offline(options)`: see {@link OfflineClient}. */
export function createOfflineClient(client: BastideClient<any>, options: OfflineOptions): OfflineClient {
  return new OfflineSync(client, options)
}

class OfflineSync implements OfflineClient {
  readonly ready: Promise<void>
  readonly #client: BastideClient<any>
  readonly #o: OfflineOptions
  readonly #collections: ReadonlyMap<string, string>
  readonly #state = new LocalState()
  readonly #abort = new AbortController()
  readonly #statusListeners = new Set<(s: OfflineStatus) => void>()
  readonly #lives = new Set<Live>()
  readonly #filters = new Map<string, Filter>()
  readonly #inFlight = new Set<string>()
  readonly #cleanup: (() => void)[] = []
  readonly #files: FileQueue
  #status: OfflineStatus = { state: 'online', pending: 0, uploads: 0, lastSyncAt: null, error: null }
  #clientId = ''
  #lock: Promise<unknown> = Promise.resolve()
  #running: Promise<void> | undefined
  #next: Promise<void> | undefined
  #closed = false
  #failures = 0
  #debounce: ReturnType<typeof setTimeout> | undefined
  #retry: ReturnType<typeof setTimeout> | undefined
  #changed = new Set<string>()
  #flushQueued = false
  /** Changes realtime announced that a pull has not brought yet (the change log shows a commit a little later). */
  readonly #announced = new Map<string, { collection: string; id: string; version: number | null }>()
  #announcedRetries = 0

  constructor(client: BastideClient<any>, o: OfflineOptions) {
    this.#client = client
    this.#o = o
    this.#collections = new Map(
      Array.isArray(o.collections)
        ? (o.collections as readonly string[]).map((c) => [c, ''])
        : Object.entries(o.collections as Record<string, { filter?: string }>).map(([c, v]) => [
            c,
            v.filter ?? '',
          ]),
    )
    this.#files = new FileQueue({
      client,
      files: o.store.files,
      state: this.#state,
      signal: this.#abort.signal,
      chunkSize: o.uploadChunkSize,
      commit: (b) => this.#commit(b),
      exclusive: (fn) => this.#exclusive(fn),
      reject: (ms, error) => this.#rejectLocally(ms, error),
    })
    this.ready = this.#open()
    // Callers that never await `ready` must not see an unhandled rejection; they meet it on their next call.
    this.ready.catch(() => {})
  }

  get status(): OfflineStatus {
    return this.#status
  }

  onStatus(cb: (s: OfflineStatus) => void): () => void {
    this.#statusListeners.add(cb)
    return () => this.#statusListeners.delete(cb)
  }

  collection<T = SyncRecord>(name: string): OfflineCollection<T> {
    if (!this.#collections.has(name))
      throw new TypeError(`offline: "${name}" is not one of the collections this client syncs`)
    return {
      get: (id) => this.#state.view(name).get(id) as T | undefined,
      list: (q = {}) => this.#query(name, q) as T[],
      live: (q, cb, onError) => this.#live(name, q, cb as (rows: Row[]) => void, onError),
      create: (data) => this.#create(name, data as Record<string, unknown>) as Promise<T>,
      update: (id, patch) => this.#update(name, id, patch as Record<string, unknown>) as Promise<T>,
      delete: (id) => this.#delete(name, id),
    }
  }

  file(
    data: Blob | Uint8Array,
    o?: { name?: string; contentType?: string; bucket?: string },
  ): OfflineFileInput {
    return fileInput(data, o)
  }

  async localFile(key: string): Promise<Blob | Uint8Array | undefined> {
    await this.ready
    return this.#files.local(key)
  }

  sync(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    if (!this.#running) {
      this.#running = this.#run().finally(() => {
        this.#running = undefined
      })
      return this.#running
    }
    // A run already started may have missed a write made since: this call gets the next one.
    this.#next ??= this.#running.then(() => {
      this.#next = undefined
      return this.sync()
    })
    return this.#next
  }

  async clear(): Promise<void> {
    await this.ready
    // A sync under way may still land what it fetched: the store is emptied after it.
    await this.#running?.catch(() => {})
    await this.#exclusive(async () => {
      const meta: Record<string, unknown> = {}
      for (const [k] of this.#state.metaEntries()) meta[k] = null
      this.#clientId = uuid()
      meta.clientId = this.#clientId
      await this.#commit({
        clear: [...new Set([...this.#state.collections(), ...this.#collections.keys()])],
        dequeue: [...this.#state.outbox].map((m) => m.id),
        meta,
      })
      const files = this.#o.store.files
      if (files) await files.delete(await files.list())
      this.#announced.clear()
      this.#filters.clear()
      this.#setStatus({ lastSyncAt: null, error: null })
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#debounce)
    clearTimeout(this.#retry)
    for (const off of this.#cleanup.splice(0)) off()
    this.#abort.abort()
    await this.#running?.catch(() => {})
    await this.#lock.catch(() => {})
    await this.ready.catch(() => {})
    await this.#o.store.close()
  }

  // ---------------------------------------------------------------- opening and triggers

  async #open(): Promise<void> {
    const snap = await this.#o.store.load()
    this.#markChanged(this.#state.load(snap))
    let id = this.#state.meta('clientId')
    if (typeof id !== 'string') {
      id = uuid()
      await this.#commit({ meta: { clientId: id } })
    }
    this.#clientId = id as string
    await this.#files.sweep()
    this.#setStatus({ pending: this.#state.outboxSize, uploads: this.#files.waiting })
    if (this.#closed) return
    this.#startTriggers()
    this.#schedule(0)
  }

  #startTriggers(): void {
    const { intervalMs = 30_000 } = this.#o
    if (intervalMs > 0) {
      const t = setInterval(() => void this.sync(), intervalMs)
      unref(t)
      this.#cleanup.push(() => clearInterval(t))
    }
    const g = globalThis as {
      addEventListener?: typeof addEventListener
      removeEventListener?: typeof removeEventListener
    }
    if (typeof g.addEventListener === 'function') {
      const online = () => this.#reconnected()
      g.addEventListener('online', online)
      this.#cleanup.push(() => g.removeEventListener?.('online', online))
    }
    this.#cleanup.push(
      this.#client.auth.onAuthStateChange((event) => {
        if (event === 'TOKEN_REFRESHED' || event === 'INITIAL_SESSION') return
        // `@request.auth` in local filters is the user: what matches may have changed.
        this.#filters.clear()
        this.#markChanged(new Set(this.#collections.keys()))
        if (event === 'SIGNED_IN') this.#reconnected()
      }),
    )
    if (this.#o.realtime === false) return
    const rt = this.#client.realtime
    for (const [collection, filter] of this.#collections) {
      this.#cleanup.push(
        rt.subscribe(
          filter ? { collection, filter } : { collection },
          (change) => {
            if (change.action !== 'resync') {
              const r = change.record as SyncRecord
              this.#announced.set(`${collection}\u0000${r.id}`, {
                collection,
                id: r.id,
                version: change.action === 'delete' ? null : r.version,
              })
            }
            this.#schedule(WRITE_DEBOUNCE_MS)
          },
          // Ready again after each reconnection: changes made meanwhile are pulled.
          { onReady: () => this.#reconnected(), onError: () => {} },
        ),
      )
    }
    this.#cleanup.push(rt.onStatusChange((s) => s === 'connected' && this.#reconnected()))
  }

  /** The network is back (or may be): forget the backoff and sync now. */
  #reconnected(): void {
    this.#failures = 0
    clearTimeout(this.#retry)
    this.#schedule(0)
  }

  #schedule(ms: number): void {
    if (this.#closed) return
    clearTimeout(this.#debounce)
    this.#debounce = setTimeout(() => void this.sync(), ms)
  }

  // ---------------------------------------------------------------- status

  #setStatus(patch: Partial<OfflineStatus>): void {
    const next = { ...this.#status, ...patch }
    const prev = this.#status
    if (
      next.state === prev.state &&
      next.pending === prev.pending &&
      next.uploads === prev.uploads &&
      next.lastSyncAt === prev.lastSyncAt &&
      next.error === prev.error
    )
      return
    this.#status = next
    for (const cb of this.#statusListeners) callSafely(() => cb(next))
  }

  // ---------------------------------------------------------------- persistence

  /** Runs `fn` after every earlier one: local writes and sync steps never interleave. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn)
    this.#lock = run.catch(() => {})
    return run
  }

  /** One atomic store write, then the same change in memory. */
  async #commit(b: OfflineBatch): Promise<void> {
    await this.#o.store.write(b)
    this.#markChanged(this.#state.apply(b))
    if (b.enqueue?.length || b.dequeue?.length || b.meta)
      this.#setStatus({ pending: this.#state.outboxSize, uploads: this.#files.waiting })
  }

  // ---------------------------------------------------------------- local writes

  async #create(collection: string, data: Record<string, unknown>): Promise<Row> {
    await this.ready
    return this.#exclusive(async () => {
      const id = typeof data.id === 'string' && data.id !== '' ? data.id : uuidv7()
      if (this.#state.view(collection).has(id))
        throw new BastideError({
          code: ErrorCodes.CONFLICT,
          status: 409,
          message: `A record ${id} exists already.`,
        })
      const pending = this.#state.pending(collection, id)
      const files = await this.#files.take(collection, id, fieldsOf(data))
      const m = this.#mutation(collection, 'create', id, { data: files.data, follows: pending.length > 0 })
      await this.#commit({ enqueue: [m], meta: files.meta })
      this.#wrote()
      return this.#state.view(collection).get(id)!
    })
  }

  async #update(collection: string, id: string, patch: Record<string, unknown>): Promise<Row> {
    await this.ready
    return this.#exclusive(async () => {
      if (!this.#state.view(collection).has(id)) throw notFound(id)
      const pending = this.#state.pending(collection, id)
      const last = pending.at(-1)
      const files = await this.#files.take(collection, id, fieldsOf(patch))
      const data = files.data
      // An edit to a record created here and not sent yet goes into its create: one write, no conflict check.
      const m =
        last?.op === 'create' && !this.#inFlight.has(last.id)
          ? { ...last, data: { ...last.data, ...data }, at: new Date().toISOString() }
          : this.#mutation(collection, 'update', id, { data, follows: pending.length > 0 })
      await this.#commit({ enqueue: [m], meta: files.meta })
      this.#wrote()
      return this.#state.view(collection).get(id)!
    })
  }

  async #delete(collection: string, id: string): Promise<void> {
    await this.ready
    return this.#exclusive(async () => {
      if (!this.#state.view(collection).has(id)) throw notFound(id)
      const pending = this.#state.pending(collection, id)
      const first = pending[0]
      // Never sent: the server need not hear of it at all.
      if (first?.op === 'create' && !this.#inFlight.has(first.id))
        await this.#commit({ dequeue: pending.map((m) => m.id) })
      else
        await this.#commit({
          enqueue: [this.#mutation(collection, 'delete', id, { follows: pending.length > 0 })],
        })
      this.#wrote()
    })
  }

  /**
   * A queued write. `baseVersion` is the server version the edit was made on; an edit on top of another queued
   * write of the same record gets its base when that one is acknowledged (`follows`).
   */
  #mutation(
    collection: string,
    op: QueuedMutation['op'],
    recordId: string,
    o: { data?: Record<string, unknown>; follows: boolean },
  ): QueuedMutation {
    const base = op === 'create' || o.follows ? undefined : this.#state.server(collection, recordId)?.version
    return {
      id: uuid(),
      seq: this.#state.nextSeq(),
      collection,
      op,
      recordId,
      at: new Date().toISOString(),
      ...(o.data ? { data: o.data } : {}),
      ...(base !== undefined ? { baseVersion: base } : {}),
      ...(o.follows ? { follows: true as const } : {}),
    }
  }

  #wrote(): void {
    // While offline the backoff timer (or the network coming back) brings the next attempt.
    if (this.#status.state !== 'offline') this.#schedule(WRITE_DEBOUNCE_MS)
  }

  // ---------------------------------------------------------------- sync

  async #run(): Promise<void> {
    try {
      await this.ready
    } catch (e) {
      this.#setStatus({ error: describe(toBastideError(e)) })
      return
    }
    if (this.#closed) return
    clearTimeout(this.#retry)
    this.#setStatus({ state: 'syncing' })
    try {
      await this.#files.upload()
      await this.#push()
      let error: BastideError | undefined
      for (const [collection, filter] of this.#collections) {
        try {
          await this.#pull(collection, filter)
        } catch (e) {
          if (isNetwork(e) || this.#closed) throw e
          // One collection's refusal (sync disabled, a bad filter) does not hold the others back.
          error ??= toBastideError(e)
        }
      }
      this.#failures = 0
      this.#recheckAnnounced()
      this.#setStatus(
        error
          ? { state: 'online', error: describe(error) }
          : { state: 'online', error: null, lastSyncAt: new Date().toISOString() },
      )
    } catch (e) {
      if (this.#closed) return
      if (isNetwork(e)) {
        this.#setStatus({ state: 'offline' })
        this.#backoff()
        return
      }
      const err = toBastideError(e)
      this.#setStatus({ state: 'online', error: describe(err) })
      if (err.status >= 500 || err.status === 429 || err.status === 408) this.#backoff(err.retryAfter)
    }
  }

  /**
   * A change is announced on commit but reaches the change log's readable part once older transactions end (on the
   * whole PostgreSQL server, so a busy one may take seconds): pull again, 0.1 s then doubling up to every 2 s, for
   * about 20 s, until the announced versions are here; after that the periodic sync brings them.
   */
  #recheckAnnounced(): void {
    for (const [k, a] of this.#announced) {
      const have = this.#state.server(a.collection, a.id)
      if (a.version === null ? !have : (have?.version ?? -1) >= a.version) this.#announced.delete(k)
    }
    if (this.#announced.size === 0 || this.#announcedRetries >= ANNOUNCED_RECHECKS) {
      this.#announced.clear()
      this.#announcedRetries = 0
      return
    }
    this.#schedule(Math.min(100 * 2 ** this.#announcedRetries++, 2000))
  }

  /** Retries with exponential backoff (1 s doubling to 60 s), jittered so devices do not return in step. */
  #backoff(retryAfterSeconds?: number): void {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.#failures)
    this.#failures++
    const wait = Math.max(ceiling / 2 + Math.random() * (ceiling / 2), (retryAfterSeconds ?? 0) * 1000)
    clearTimeout(this.#retry)
    this.#retry = setTimeout(() => void this.sync(), wait)
    unref(this.#retry)
  }

  /**
   * `p`, or ABORTED as soon as the client is closed. A request is given the abort signal too, but a fetch does not
   * always settle on it (seen with Node's fetch against a server in the same process, now and then): `close()` must
   * never wait on a request that never ends.
   */
  #untilClosed<T>(p: Promise<T>): Promise<T> {
    const signal = this.#abort.signal
    if (signal.aborted) {
      p.catch(() => {})
      return Promise.reject(aborted(signal.reason))
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(aborted(signal.reason))
      signal.addEventListener('abort', onAbort, { once: true })
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort)
          resolve(v)
        },
        (e) => {
          signal.removeEventListener('abort', onAbort)
          reject(e)
        },
      )
    })
  }

  async #push(): Promise<void> {
    for (;;) {
      const batch = await this.#exclusive(async () => this.#takeBatch())
      if (batch.length === 0) return
      let res: SyncPushResponse
      try {
        res = await this.#untilClosed(
          this.#client.http.request<SyncPushResponse>('/api/sync/push', {
            method: 'POST',
            body: { clientId: this.#clientId, mutations: batch.map(toWire) },
            retry: false,
            signal: this.#abort.signal,
          }),
        )
      } catch (e) {
        this.#inFlight.clear()
        throw e
      }
      const done = await this.#exclusive(() => this.#applyResults(batch, res.results))
      // Files whose write the server did not keep are deleted there (best effort); the others are forgotten.
      await this.#files.settle(
        done
          .filter(({ r }) => r.status === 'rejected' || (r.status === 'resolved' && r.record))
          .map(({ m, r }) => ({ m, kept: r.record })),
      )
      // A server that answered none of them would have the loop ask forever.
      if (done.length === 0) return
    }
  }

  /**
   * The oldest queued writes, at most one per record: the next write of a record needs the version the
   * previous one comes back with.
   */
  #takeBatch(): QueuedMutation[] {
    const batch: QueuedMutation[] = []
    const records = new Set<string>()
    for (const m of this.#state.outbox) {
      const k = `${m.collection}\u0000${m.recordId}`
      if (batch.length >= PUSH_BATCH || records.has(k) || this.#files.blocks(m)) break
      records.add(k)
      batch.push(m)
      this.#inFlight.add(m.id)
    }
    return batch
  }

  async #applyResults(
    batch: readonly QueuedMutation[],
    results: readonly SyncMutationResult[],
  ): Promise<{ m: QueuedMutation; r: SyncMutationResult }[]> {
    const byId = new Map(batch.map((m) => [m.id, m]))
    const done: { m: QueuedMutation; r: SyncMutationResult }[] = []
    const b = {
      put: [] as [string, Row][],
      remove: [] as [string, string][],
      dequeue: [] as string[],
      enqueue: [] as QueuedMutation[],
    }
    try {
      for (const r of results) {
        const m = byId.get(r.id)
        if (!m) continue
        byId.delete(r.id)
        done.push({ m, r })
        b.dequeue.push(m.id)
        const record = r.record && this.#keeps(m.collection, r.record) ? r.record : null
        if (record) b.put.push([m.collection, record])
        else b.remove.push([m.collection, m.recordId])
        const next = this.#state.pending(m.collection, m.recordId).find((p) => p.id !== m.id)
        if (next?.follows) {
          const { follows: _, baseVersion: __, ...rest } = next
          b.enqueue.push(r.record ? { ...rest, baseVersion: r.record.version } : rest)
        }
      }
      if (done.length > 0) await this.#commit(b)
    } finally {
      this.#inFlight.clear()
    }
    for (const { m, r } of done) {
      const collection = m.collection
      const id = m.recordId
      const mutation = toWire(m)
      if (r.status === 'resolved' && r.conflict && this.#o.onConflict)
        callSafely(() =>
          this.#o.onConflict!({ collection, id, mutation, conflict: r.conflict!, record: r.record }),
        )
      if (r.status === 'rejected' && this.#o.onRejected) {
        const e = r.error
        const error = new BastideError({
          code: e?.code ?? 'REJECTED',
          status: e?.status ?? 400,
          message: e?.message ?? 'The server refused the write.',
          details: e?.details as Record<string, unknown> | undefined,
        })
        callSafely(() => this.#o.onRejected!({ collection, id, mutation, error, record: r.record }))
      }
    }
    return done
  }

  /** Rolls back queued writes the server will never see (a file of theirs was refused), and reports them. */
  async #rejectLocally(ms: readonly QueuedMutation[], error: BastideError): Promise<void> {
    if (ms.length === 0) return
    await this.#exclusive(() => this.#commit({ dequeue: ms.map((m) => m.id) }))
    if (!this.#o.onRejected) return
    for (const m of ms) {
      const record = this.#state.server(m.collection, m.recordId) ?? null
      const mutation = toWire(m)
      callSafely(() =>
        this.#o.onRejected!({ collection: m.collection, id: m.recordId, mutation, error, record }),
      )
    }
  }

  /** Whether a record the server sent back belongs to the declared query (else it would linger unannounced). */
  #keeps(collection: string, r: Row): boolean {
    const filter = this.#collections.get(collection) ?? ''
    // Without the fields (no pull yet) the filter cannot be judged here: the pull that follows will.
    if (filter === '' || !this.#state.meta(`fields:${collection}`)) return true
    try {
      return this.#filter(collection, filter)(r)
    } catch {
      return true
    }
  }

  async #pull(collection: string, filter: string): Promise<void> {
    const key = `pull:${collection}`
    const saved = this.#state.meta(key) as PullState | undefined
    let cursor = saved && saved.filter === filter ? saved.cursor : null
    // The declared filter changed since the last run: what is kept may not match it any more.
    if (saved && saved.filter !== filter)
      await this.#exclusive(() => this.#resync(collection, filter, undefined))
    let resyncs = 0
    for (;;) {
      let page: SyncChangesPage
      try {
        page = await this.#untilClosed(
          this.#client.http.request<SyncChangesPage>(
            `/api/collections/${encodeURIComponent(collection)}/changes`,
            {
              query: { since: cursor ?? undefined, filter: filter || undefined, limit: PULL_LIMIT },
              signal: this.#abort.signal,
            },
          ),
        )
      } catch (e) {
        // A cursor the server no longer takes (its secret changed, or a store from elsewhere): start over.
        if (!(cursor !== null && e instanceof BastideError && e.code === 'INVALID_CURSOR') || resyncs > 0)
          throw e
        resyncs++
        await this.#exclusive(() => this.#resync(collection, filter, undefined))
        cursor = null
        continue
      }
      if (page.resync) {
        if (++resyncs > 2)
          throw new BastideError({
            code: ErrorCodes.INVALID_RESPONSE,
            status: 200,
            message: `The server asked ${collection} to resync again and again.`,
          })
        await this.#exclusive(() => this.#resync(collection, filter, page.fields))
        cursor = null
        continue
      }
      await this.#exclusive(() => {
        const b: { put: [string, Row][]; remove: [string, string][]; meta: Record<string, unknown> } = {
          put: [],
          remove: [],
          meta: {
            [key]: { filter, cursor: page.cursor } satisfies PullState,
            ...this.#fieldsMeta(collection, page.fields),
          },
        }
        for (const ch of page.changes) {
          if (ch.op === 'upsert') b.put.push([collection, ch.record])
          else b.remove.push([collection, ch.id])
        }
        return this.#commit(b)
      })
      cursor = page.cursor
      if (!page.hasMore) return
    }
  }

  /** Drops the server copies of a collection (those with queued writes stay) and forgets its cursor. */
  #resync(collection: string, filter: string, fields: readonly SyncFieldInfo[] | undefined): Promise<void> {
    return this.#commit({
      clear: [collection],
      put: this.#state.serverCopiesWithPending(collection).map((r) => [collection, r] as const),
      meta: {
        [`pull:${collection}`]: { filter, cursor: null } satisfies PullState,
        ...(fields ? this.#fieldsMeta(collection, fields) : {}),
      },
    })
  }

  #fieldsMeta(collection: string, fields: readonly SyncFieldInfo[]): Record<string, unknown> {
    const k = `fields:${collection}`
    if (JSON.stringify(this.#state.meta(k)) === JSON.stringify(fields)) return {}
    for (const f of this.#filters.keys()) this.#filters.delete(f)
    this.#changed.add(collection)
    return { [k]: fields }
  }

  // ---------------------------------------------------------------- queries

  #filter(collection: string, filter: string): Filter {
    const k = `${collection}\u0000${filter}`
    let fn = this.#filters.get(k)
    if (!fn) {
      const fieldsOfCollection = (c: string) =>
        this.#state.meta(`fields:${c}`) as readonly SyncFieldInfo[] | undefined
      const fields = fieldsOfCollection(collection)
      try {
        fn = compileLocalFilter(filter, {
          fields: fields ?? [],
          collection,
          auth: (this.#client.auth.user as Readonly<Record<string, unknown>> | null) ?? null,
          related: {
            fields: fieldsOfCollection,
            get: (c, id) => this.#state.view(c).get(id),
            all: (c) => [...this.#state.view(c).values()],
          },
        })
      } catch (e) {
        // Before the first pull the fields are unknown: a filter naming them matches nothing yet (and compiles
        // again once a pull brings them). A syntax error, or an unknown field later, is the caller's to see.
        if (fields) throw e
        parseFilter(filter)
        return () => false
      }
      this.#filters.set(k, fn)
    }
    return fn
  }

  #query(collection: string, q: OfflineQuery): Row[] {
    const match = this.#filter(collection, q.filter ?? '')
    const rows: Row[] = []
    for (const r of this.#state.view(collection).values()) if (match(r)) rows.push(r)
    rows.sort(compareRecords(q.sort ?? ''))
    return q.limit !== undefined && q.limit >= 0 ? rows.slice(0, q.limit) : rows
  }

  #live(
    collection: string,
    q: OfflineQuery,
    cb: (rows: Row[]) => void,
    onError: ((e: unknown) => void) | undefined,
  ): () => void {
    const l: Live = { collection, q, cb, onError, last: this.#query(collection, q) }
    this.#lives.add(l)
    cb(l.last)
    return () => this.#lives.delete(l)
  }

  #markChanged(collections: Set<string>): void {
    for (const c of collections) this.#changed.add(c)
    if (this.#changed.size === 0 || this.#flushQueued) return
    this.#flushQueued = true
    // Once per turn: a page of a thousand changes calls each live query once.
    queueMicrotask(() => {
      this.#flushQueued = false
      const changed = this.#changed
      this.#changed = new Set()
      for (const l of this.#lives) {
        // A filter through relations or @collection may depend on any collection.
        const crosses = /[.@]/.test(l.q.filter ?? '')
        if (!changed.has(l.collection) && !crosses) continue
        let rows: Row[]
        try {
          rows = this.#query(l.collection, l.q)
        } catch (e) {
          // The filter names a field the pull just showed does not exist: the query keeps its last rows.
          if (l.onError) callSafely(() => l.onError!(e))
          continue
        }
        if (sameRows(rows, l.last)) continue
        l.last = rows
        callSafely(() => l.cb(rows))
      }
    })
  }
}

function fieldsOf(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(data)) if (!NOT_WRITTEN.has(k) && v !== undefined) out[k] = v
  return out
}

function toWire(m: QueuedMutation): SyncMutation {
  const { seq: _, follows: __, ...wire } = m
  return wire
}

function sameRows(a: readonly Row[], b: readonly Row[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i])
}

function notFound(id: string): BastideError {
  return new BastideError({ code: ErrorCodes.NOT_FOUND, status: 404, message: `Record ${id} not found.` })
}

function isNetwork(e: unknown): boolean {
  return e instanceof BastideError && e.isNetworkError
}

function toBastideError(e: unknown): BastideError {
  if (e instanceof BastideError) return e
  return new BastideError({
    code: 'UNKNOWN',
    status: 0,
    message: (e as Error)?.message ?? String(e),
    cause: e,
  })
}

function describe(e: BastideError): string {
  return `${e.code}: ${e.message}`
}

/** A listener's exception must not stop the others (nor the sync): it surfaces as an uncaught error instead. */
function callSafely(fn: () => void): void {
  try {
    fn()
  } catch (e) {
    queueMicrotask(() => {
      throw e
    })
  }
}

function unref(t: unknown): void {
  ;(t as { unref?: () => void }).unref?.()
}
