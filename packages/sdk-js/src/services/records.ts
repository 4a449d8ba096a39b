import { BastideError, ErrorCodes } from '../errors.ts'
import type { Http } from '../http.ts'
import { uuid } from '../ids.ts'
import type { RealtimeService } from '../realtime/realtime-service.ts'
import type { SubscribeOptions } from '../realtime/types.ts'
import type {
  CollectionDef,
  ExpandPath,
  ListResult,
  RecordChange,
  Schema,
  SortKey,
  WithExpand,
} from '../types.ts'
import { transfer, type UploadProgress } from './upload-transport.ts'

/** Options every read takes. */
export interface ReadOptions<E extends string = never> {
  /** Relations to embed under `record.expand` (forward, `<collection>_via_<field>`, nested with dots). */
  readonly expand?: readonly E[]
  /** Top-level fields to return (`x.y` returns `y` inside expansion `x`). */
  readonly fields?: readonly string[]
  readonly signal?: AbortSignal
  readonly headers?: Readonly<Record<string, string>>
}

export interface ListOptions<R, E extends string = never> extends ReadOptions<E> {
  /** A filter in the filter language; build it with `f()` when it holds values. */
  readonly filter?: string
  /** `['-created', 'title']` or `'-created,title'` (default `-created`). */
  readonly sort?: readonly SortKey<R>[] | string
  /** 1-based page for offset paging. */
  readonly page?: number
  /** 1–500 (default 20). */
  readonly perPage?: number
  /** A `nextCursor` from the previous page, for keyset paging (no skipped or repeated rows). */
  readonly after?: string
  /** Ask for `totalItems`/`totalPages` (one more query). */
  readonly count?: boolean
}

export interface WriteOptions<E extends string = never> extends ReadOptions<E> {
  /**
   * The request's `Idempotency-Key`. By default the SDK makes one per call, so a write retried after a network
   * failure is applied once. Pass your own to dedupe across app restarts (keep it with the pending write), or
   * `false` to send none (and get no automatic retry).
   */
  readonly idempotencyKey?: string | false
  /**
   * Upload progress of the files sent with this write (`file` fields): bytes sent so far of `total`. Reported
   * only when the write carries files; with it the request is not retried automatically.
   */
  readonly onProgress?: (p: UploadProgress) => void
}

export interface UpdateOptions<E extends string = never> extends WriteOptions<E> {
  /** Write only over this version (optimistic concurrency): else `VERSION_MISMATCH` (409). */
  readonly version?: number
}

export interface DeleteOptions {
  readonly version?: number
  readonly idempotencyKey?: string | false
  readonly signal?: AbortSignal
}

/** A file to attach to a `file` field on create/update (sent as multipart). */
export type FileInput = Blob | { readonly uri: string; readonly name: string; readonly type?: string }

/** Field values on create/update: a `file` field also takes files to upload (one, or an array for multiple). */
export type WriteData<T> = { readonly [K in keyof T]?: T[K] | FileInput | readonly FileInput[] }

/**
 * The records of one collection: `client.collection('posts')`.
 *
 * @typeParam S the client's schema, C this collection's definition.
 */
export class CollectionService<S extends Schema, C extends CollectionDef> {
  constructor(
    readonly name: string,
    private readonly http: Http,
    private readonly realtime: RealtimeService,
  ) {}

  private get base(): string {
    return `/api/collections/${encodeURIComponent(this.name)}/records`
  }

  /**
   * One page of records the caller may list.
   *
   * @example
   * const { items, nextCursor } = await client.collection('posts').list({
   *   filter: f('author = {:id}', { id: me.id }),
   *   sort: ['-created'],
   *   perPage: 50,
   *   expand: ['author'],
   * })
   */
  async list<const E extends ExpandPath<S, C> = never>(
    opts: ListOptions<C['record'], E> = {},
  ): Promise<ListResult<WithExpand<S, C, E>>> {
    return this.http.request(this.base, {
      query: {
        filter: opts.filter,
        sort: typeof opts.sort === 'string' ? opts.sort : opts.sort?.join(','),
        page: opts.page,
        perPage: opts.perPage,
        after: opts.after,
        count: opts.count ? 'true' : undefined,
        ...readQuery(opts),
      },
      signal: opts.signal,
      ...(opts.headers ? { headers: opts.headers } : {}),
    })
  }

  /**
   * Walks every record matching `opts`, page after page by cursor (`perPage` records per request).
   *
   * @example
   * for await (const post of client.collection('posts').iterate({ filter: "status = 'draft'" })) {
   *   console.log(post.title)
   * }
   */
  async *iterate<const E extends ExpandPath<S, C> = never>(
    opts: Omit<ListOptions<C['record'], E>, 'page' | 'after' | 'count'> = {},
  ): AsyncGenerator<WithExpand<S, C, E>, void, undefined> {
    let after: string | undefined
    for (;;) {
      const page: ListResult<WithExpand<S, C, E>> = await this.list<E>({
        perPage: 200,
        ...opts,
        ...(after !== undefined ? { after } : {}),
      })
      yield* page.items
      if (!page.nextCursor || page.items.length === 0) return
      after = page.nextCursor
    }
  }

  /** Alias of {@link iterate}: `for await (const r of posts)` walks the whole collection. */
  [Symbol.asyncIterator](): AsyncGenerator<C['record'], void, undefined> {
    return this.iterate()
  }

  /**
   * Every record matching `opts`, collected into an array (mind the memory for big collections; prefer
   * `iterate`).
   *
   * @example
   * const tags = await client.collection('tags').getAll({ sort: ['name'] })
   */
  async getAll<const E extends ExpandPath<S, C> = never>(
    opts: Omit<ListOptions<C['record'], E>, 'page' | 'after' | 'count'> = {},
  ): Promise<WithExpand<S, C, E>[]> {
    const out: WithExpand<S, C, E>[] = []
    for await (const r of this.iterate<E>(opts)) out.push(r)
    return out
  }

  /**
   * One record by id; `NOT_FOUND` when it does not exist or the caller may not view it.
   *
   * @example
   * const post = await client.collection('posts').getOne(id, { expand: ['author'] })
   */
  async getOne<const E extends ExpandPath<S, C> = never>(
    id: string,
    opts: ReadOptions<E> = {},
  ): Promise<WithExpand<S, C, E>> {
    return this.http.request(`${this.base}/${encodeURIComponent(id)}`, {
      query: readQuery(opts),
      signal: opts.signal,
      ...(opts.headers ? { headers: opts.headers } : {}),
    })
  }

  /**
   * The first record matching `filter` (in `sort` order); `NOT_FOUND` when there is none.
   *
   * @example
   * const me = await client.collection('profiles').getFirst(f('user = {:id}', { id }))
   */
  async getFirst<const E extends ExpandPath<S, C> = never>(
    filter: string,
    opts: Omit<ListOptions<C['record'], E>, 'filter' | 'page' | 'perPage' | 'after'> = {},
  ): Promise<WithExpand<S, C, E>> {
    const page = await this.list<E>({ ...opts, filter, perPage: 1 })
    const first = page.items[0]
    if (first === undefined)
      throw new BastideError({ code: ErrorCodes.NOT_FOUND, status: 404, message: 'Record not found.' })
    return first
  }

  /**
   * Creates a record (files in `file` fields are uploaded in the same request). Retried safely on network
   * failures (an `Idempotency-Key` is sent).
   *
   * @example
   * const post = await client.collection('posts').create({ title: 'Hello', author: me.id })
   * const withPhoto = await client.collection('posts').create({ title: 'Trip', photo: file })
   * // With upload progress for the files:
   * await client.collection('posts').create({ title: 'Trip', photo: file }, {
   *   onProgress: ({ loaded, total }) => setPct(loaded / total!),
   * })
   */
  async create<const E extends ExpandPath<S, C> = never>(
    data: WriteData<C['create']> & { readonly id?: string },
    opts: WriteOptions<E> = {},
  ): Promise<WithExpand<S, C, E>> {
    const body = toBody(data)
    if (opts.onProgress && isForm(body))
      return this.#sendForm('POST', this.base, body, opts, opts.headers ?? {}) as Promise<WithExpand<S, C, E>>
    return this.http.request(this.base, {
      method: 'POST',
      body,
      query: readQuery(opts),
      idempotencyKey: opts.idempotencyKey ?? true,
      signal: opts.signal,
      ...(opts.headers ? { headers: opts.headers } : {}),
    })
  }

  /**
   * Updates some fields. With `version`, only if nobody else wrote since you read it (else `VERSION_MISMATCH`).
   *
   * @example
   * try {
   *   await client.collection('posts').update(post.id, { title: 'New' }, { version: post.version })
   * } catch (e) {
   *   if (isBastideError(e, ErrorCodes.VERSION_MISMATCH)) await reload()
   * }
   */
  async update<const E extends ExpandPath<S, C> = never>(
    id: string,
    data: WriteData<C['create']>,
    opts: UpdateOptions<E> = {},
  ): Promise<WithExpand<S, C, E>> {
    const body = toBody(data)
    const headers = {
      ...opts.headers,
      ...(opts.version !== undefined ? { 'if-match': `"${opts.version}"` } : {}),
    }
    const path = `${this.base}/${encodeURIComponent(id)}`
    if (opts.onProgress && isForm(body))
      return this.#sendForm('PATCH', path, body, opts, headers) as Promise<WithExpand<S, C, E>>
    return this.http.request(path, {
      method: 'PATCH',
      body,
      query: readQuery(opts),
      idempotencyKey: opts.idempotencyKey ?? true,
      signal: opts.signal,
      headers,
    })
  }

  /** A multipart write with upload progress (XMLHttpRequest in browsers, a counting stream elsewhere). */
  async #sendForm(
    method: string,
    path: string,
    form: FormData,
    opts: WriteOptions<string>,
    headers: Readonly<Record<string, string>>,
  ): Promise<unknown> {
    // Encoded once, so the total is known and the bytes counted are the bytes sent.
    const encoded = new Response(form)
    const contentType = encoded.headers.get('content-type') ?? 'multipart/form-data'
    const blob = await encoded.blob()
    const total = blob.size
    const onProgress = opts.onProgress
    let last = -1
    const report = (loaded: number) => {
      if (!onProgress || loaded <= last) return
      last = loaded
      onProgress({ loaded, total })
    }
    report(0)
    const key = opts.idempotencyKey === false ? undefined : (opts.idempotencyKey ?? uuid())
    const res = await transfer(this.http, {
      method,
      url: this.http.url(path, readQuery(opts)),
      headers: {
        ...headers,
        'content-type': contentType,
        ...(key !== undefined ? { 'idempotency-key': key } : {}),
      },
      body: blob,
      signal: opts.signal,
      onProgress: report,
      streamProgress: true,
      retry: false,
    })
    const out = await res.json()
    report(total)
    return out
  }

  /**
   * Deletes a record (its relations' on-delete actions run in the same transaction).
   *
   * @example
   * await client.collection('posts').delete(post.id, { version: post.version })
   */
  async delete(id: string, opts: DeleteOptions = {}): Promise<void> {
    await this.http.request(`${this.base}/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      idempotencyKey: opts.idempotencyKey ?? true,
      signal: opts.signal,
      ...(opts.version !== undefined ? { headers: { 'if-match': `"${opts.version}"` } } : {}),
    })
  }

  /**
   * The URL of a file attached to a record, read under the record's view rule. Private files need the
   * `Authorization` header (use `client.storage.download`-style fetches) or a signed URL.
   *
   * @example
   * const url = client.collection('posts').fileUrl(post, 'photo', post.photo, { width: 320, format: 'webp' })
   */
  fileUrl(
    record: { readonly id: string },
    field: string,
    key: string,
    transform: Readonly<Record<string, string | number | undefined>> = {},
  ): string {
    return this.http.url(
      `${this.base}/${encodeURIComponent(record.id)}/files/${encodeURIComponent(field)}/${key
        .split('/')
        .map(encodeURIComponent)
        .join('/')}`,
      transform,
    )
  }

  /**
   * Live changes to the records the caller may view: the whole collection, those matching a filter, or one
   * record. Survives reconnections (missed changes are replayed; `resync` when they cannot be). Returns the
   * function that stops it. A subscription the server refuses (`INVALID_FILTER`, …) goes to `opts.onError`
   * (else to `client.realtime.onError`).
   *
   * @example
   * const stop = client.collection('messages').subscribe(f('room = {:room}', { room }), (change) => {
   *   if (change.action === 'resync') return reload()
   *   apply(change.action, change.record)
   * })
   * // later
   * stop()
   */
  subscribe(callback: (change: RecordChange<C['record']>) => void, opts?: SubscribeOptions): () => void
  subscribe(
    target: string | { readonly id?: string; readonly filter?: string },
    callback: (change: RecordChange<C['record']>) => void,
    opts?: SubscribeOptions,
  ): () => void
  subscribe(
    a:
      | string
      | { readonly id?: string; readonly filter?: string }
      | ((change: RecordChange<C['record']>) => void),
    b?: ((change: RecordChange<C['record']>) => void) | SubscribeOptions,
    c?: SubscribeOptions,
  ): () => void {
    if (typeof a === 'function')
      return this.realtime.subscribe({ collection: this.name }, a, b as SubscribeOptions | undefined)
    const target = typeof a === 'string' ? { filter: a } : a
    return this.realtime.subscribe(
      { collection: this.name, ...target },
      b as (change: RecordChange<C['record']>) => void,
      c,
    )
  }

  /** The path of this collection's records, for batches. */
  get path(): string {
    return this.base
  }
}

function readQuery(opts: ReadOptions<string>): Record<string, string | undefined> {
  return { fields: opts.fields?.join(','), expand: opts.expand?.join(',') }
}

const isForm = (b: unknown): b is FormData => typeof FormData !== 'undefined' && b instanceof FormData

function isFile(v: unknown): boolean {
  return (
    (typeof Blob !== 'undefined' && v instanceof Blob) ||
    // React Native's FormData takes `{uri, name, type}` objects for files.
    (typeof v === 'object' && v !== null && typeof (v as { uri?: unknown }).uri === 'string' && 'name' in v)
  )
}

/** JSON, or multipart (`@json` first, then files by field) when some value is a file. */
function toBody(data: Readonly<Record<string, unknown>>): unknown {
  const files: [string, unknown][] = []
  const json: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(data)) {
    if (isFile(v)) files.push([k, v])
    else if (Array.isArray(v) && v.length > 0 && v.every(isFile)) for (const f of v) files.push([k, f])
    else json[k] = v
  }
  if (files.length === 0) return data
  const form = new FormData()
  form.append('@json', JSON.stringify(json))
  for (const [k, v] of files) {
    if (typeof Blob !== 'undefined' && v instanceof Blob)
      form.append(k, v, (v as { name?: string }).name ?? 'file')
    else form.append(k, v as Blob)
  }
  return form
}
