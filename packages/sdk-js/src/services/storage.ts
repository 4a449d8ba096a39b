import type { Bucket, BucketRules, ListObjectsResult, StorageObject } from '@bastide/protocol'
import { BastideError, ErrorCodes } from '../errors.ts'
import { aborted, type Http, type QueryValue } from '../http.ts'
import type { SessionStorage } from '../session-storage.ts'
import { TusUpload } from './tus.ts'
import { sizeOf, toSliceable, transfer, type UploadData, type UploadProgress } from './upload-transport.ts'

export type { Bucket, BucketRules, ListObjectsResult, StorageObject } from '@bastide/protocol'
export type { UploadData, UploadProgress } from './upload-transport.ts'

export interface BucketInput {
  readonly name: string
  readonly public?: boolean
  readonly maxFileSize?: number | null
  readonly allowedMimeTypes?: readonly string[]
  readonly rules?: BucketRules
}

export type BucketPatch = Partial<BucketInput>

/** An image variant, computed and cached by the server (never enlarged, EXIF orientation applied). */
export interface ImageTransform {
  /** 1–4096 */
  readonly width?: number
  /** 1–4096 */
  readonly height?: number
  /** How to fit both dimensions (default `cover`). */
  readonly fit?: 'cover' | 'contain' | 'fill' | 'inside' | 'outside'
  readonly format?: 'webp' | 'avif' | 'jpeg' | 'png'
  /** 1–100 */
  readonly quality?: number
}

export interface UploadOptions {
  /** Sent as `Content-Type`, a hint only: the server sniffs the type from the bytes. Default: the Blob's type. */
  readonly contentType?: string
  /** Custom metadata, a JSON object (at most 8 KB). */
  readonly metadata?: Readonly<Record<string, unknown>>
  /**
   * Progress of the bytes sent. Through XMLHttpRequest where there is one (browsers, React Native); elsewhere
   * the body is streamed and counted (Node), and at least the start and the end are reported.
   */
  readonly onProgress?: (p: UploadProgress) => void
  readonly signal?: AbortSignal
  /**
   * `false`: fail with CONFLICT when the key already exists. Best effort: checked with a HEAD just before
   * the upload (not atomic, and blind to objects the caller may not read). Default true: replace.
   */
  readonly upsert?: boolean
}

/** Where unfinished resumable uploads are remembered between launches, and under which name. */
export interface ResumeStore {
  /** Any key-value store: `memoryStorage()`, `localStorageAdapter()`, `asyncStorage(AsyncStorage)`. */
  readonly storage: SessionStorage
  /** What identifies this file (default: bucket, key, size, and a File's name and date). */
  readonly fingerprint?: string
}

export interface ResumableUploadOptions {
  readonly contentType?: string
  readonly metadata?: Readonly<Record<string, unknown>>
  /** Bytes per request (default 8 MiB): the most a failure costs, and how often progress moves without XHR. */
  readonly chunkSize?: number
  readonly onProgress?: (p: UploadProgress) => void
  /** Stops the upload (rejects with ABORTED); the server keeps it, resumable from `url` for 24 hours. */
  readonly signal?: AbortSignal
  /** An upload URL from an earlier attempt (`upload.url`, or `onUrl`): continue it where the server stands. */
  readonly resumeFrom?: string
  /** Called as soon as the upload URL is known: persist it to resume after a crash or a restart. */
  readonly onUrl?: (url: string) => void | Promise<void>
  /** Remember the URL in a store by fingerprint and resume from it automatically (removed once done). */
  readonly resume?: ResumeStore
  /** Waits in ms before each retry of a failed chunk (default `[0, 1000, 3000, 5000]`). */
  readonly retryDelays?: readonly number[]
}

export interface DownloadOptions {
  readonly transform?: ImageTransform
  readonly signal?: AbortSignal
  /** One byte range: `{ start, end? }` (inclusive), `{ suffix }` (the last n bytes), or a raw `bytes=…`. */
  readonly range?: { readonly start: number; readonly end?: number } | { readonly suffix: number } | string
  /** An earlier ETag: `downloadResponse` then answers 304 when unchanged. */
  readonly ifNoneMatch?: string
  /** Served as an attachment (`Content-Disposition: attachment`). */
  readonly download?: boolean
}

export interface SignedUrlOptions {
  /** Seconds (1 to 7 days; default 3600). */
  readonly expiresIn?: number
  /** `read` (GET, default) or `write` (PUT: an upload owned by the signer). */
  readonly operation?: 'read' | 'write'
  /** For a read URL: an image variant. */
  readonly transform?: ImageTransform
}

export interface SignedUrl {
  readonly url: string
  readonly method: 'GET' | 'PUT'
  readonly expiresAt: string
}

export interface ListObjectsOptions {
  /** Only keys starting with this. */
  readonly prefix?: string
  /** The `nextCursor` of the previous page. */
  readonly after?: string
  /** Objects per page, 1–1000 (default 100). */
  readonly limit?: number
  readonly signal?: AbortSignal
}

export interface RemoveResult {
  readonly removed: readonly string[]
  /** Keys that did not exist, or that the caller may not see. */
  readonly notFound: readonly string[]
}

/**
 * Buckets (`listBuckets`, `createBucket`, …: console admins and API keys with the `schema` scope) and, through
 * `from(bucket)`, their objects.
 */
export class StorageService {
  constructor(readonly http: Http) {}

  /**
   * The objects of one bucket.
   *
   * @example
   * const avatars = client.storage.from('avatars')
   * await avatars.upload(`${me.id}/avatar.png`, file, { onProgress: (p) => setPct(p.loaded / p.total!) })
   */
  from(bucket: string): BucketApi {
    return new BucketApi(this.http, bucket)
  }

  /**
   * Every bucket.
   *
   * @example
   * const names = (await admin.storage.listBuckets()).map((b) => b.name)
   */
  async listBuckets(opts: { signal?: AbortSignal } = {}): Promise<Bucket[]> {
    const res = await this.http.request<{ items: Bucket[] }>('/api/storage/buckets', { signal: opts.signal })
    return res.items
  }

  /**
   * One bucket.
   *
   * @example
   * const { maxFileSize } = await admin.storage.getBucket('avatars')
   */
  async getBucket(name: string, opts: { signal?: AbortSignal } = {}): Promise<Bucket> {
    return this.http.request(bucketPath(name), { signal: opts.signal })
  }

  /**
   * Creates a bucket.
   *
   * @example
   * await admin.storage.createBucket({
   *   name: 'avatars',
   *   maxFileSize: 5 * 1024 * 1024,
   *   allowedMimeTypes: ['image/*'],
   *   rules: { read: '', write: "@request.auth.id != '' && owner = @request.auth.id", delete: 'owner = @request.auth.id' },
   * })
   */
  async createBucket(input: BucketInput, opts: { signal?: AbortSignal } = {}): Promise<Bucket> {
    return this.http.request('/api/storage/buckets', { method: 'POST', body: input, signal: opts.signal })
  }

  /**
   * Changes a bucket's settings (the fields given).
   *
   * @example
   * await admin.storage.updateBucket('avatars', { public: true })
   */
  async updateBucket(name: string, patch: BucketPatch, opts: { signal?: AbortSignal } = {}): Promise<Bucket> {
    return this.http.request(bucketPath(name), { method: 'PATCH', body: patch, signal: opts.signal })
  }

  /**
   * Deletes an empty bucket (CONFLICT while it holds objects).
   *
   * @example
   * await admin.storage.deleteBucket('scratch')
   */
  async deleteBucket(name: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.http.request(bucketPath(name), { method: 'DELETE', signal: opts.signal })
  }
}

/** The objects of one bucket: `client.storage.from('avatars')`. */
export class BucketApi {
  constructor(
    private readonly http: Http,
    readonly bucket: string,
  ) {}

  /**
   * Uploads (or replaces) an object in one request, streamed by the server and committed atomically.
   *
   * @example
   * const ctl = new AbortController()
   * const obj = await client.storage.from('avatars').upload(`${me.id}/avatar.png`, file, {
   *   onProgress: ({ loaded, total }) => console.log(`${loaded}/${total}`),
   *   signal: ctl.signal,
   * })
   * console.log(obj.sha256, obj.mimeType)
   */
  async upload(key: string, data: UploadData, opts: UploadOptions = {}): Promise<StorageObject> {
    if (opts.upsert === false && (await this.exists(key, opts.signal))) {
      throw new BastideError({
        code: ErrorCodes.CONFLICT,
        status: 409,
        message: `An object already exists at "${key}".`,
      })
    }
    return this.#put(this.http.url(this.#objectPath(key)), data, opts, 'access')
  }

  /**
   * Uploads to a signed write URL (from `createSignedUrl(key, { operation: 'write' })`), without credentials.
   *
   * @example
   * const { url } = await owner.storage.from('inbox').createSignedUrl('drop/report.pdf', { operation: 'write' })
   * await anyone.storage.from('inbox').uploadToSignedUrl(url, pdfBlob)
   */
  async uploadToSignedUrl(
    url: string,
    data: UploadData,
    opts: Omit<UploadOptions, 'upsert'> = {},
  ): Promise<StorageObject> {
    return this.#put(url, data, opts, 'none')
  }

  async #put(
    url: string,
    data: UploadData,
    opts: Omit<UploadOptions, 'upsert'>,
    auth: 'access' | 'none',
  ): Promise<StorageObject> {
    const total = sizeOf(data)
    const onProgress = opts.onProgress
    let last = -1
    const report = (loaded: number) => {
      // Monotonic and deduplicated: XHR and the counting stream may repeat a value.
      if (!onProgress || loaded <= last) return
      last = loaded
      onProgress({ loaded, total })
    }
    report(0)
    const headers: Record<string, string> = { 'content-type': contentTypeOf(data, opts.contentType) }
    if (opts.metadata) headers['x-bastide-metadata'] = asciiJson(opts.metadata)
    const res = await transfer(this.http, {
      method: 'PUT',
      url,
      headers,
      body: data,
      signal: opts.signal,
      onProgress: onProgress ? report : undefined,
      streamProgress: true,
      auth,
      // A PUT is idempotent (the same bytes replace the same key), unless its body is a one-shot stream.
      retry: !onProgress,
    })
    const obj = (await res.json()) as StorageObject
    report(total ?? obj.size)
    return obj
  }

  /**
   * Uploads with tus 1.0 in chunks: survives flaky networks and app restarts. Returns at once with a handle:
   * `done` settles with the object, `url` identifies the upload for a later resume.
   *
   * @example
   * const up = client.storage.from('videos').uploadResumable(`${me.id}/clip.mp4`, file, {
   *   onUrl: (url) => AsyncStorage.setItem('pending-upload', url),
   *   onProgress: ({ loaded, total }) => setPct(loaded / total!),
   * })
   * const obj = await up.done
   *
   * @example
   * // After a restart: continue where the server stands.
   * const url = await AsyncStorage.getItem('pending-upload')
   * const obj = await client.storage.from('videos').uploadResumable(key, file, { resumeFrom: url }).done
   */
  uploadResumable(
    key: string,
    data: Exclude<UploadData, ReadableStream<Uint8Array>>,
    opts: ResumableUploadOptions = {},
  ): ResumableUpload {
    return new ResumableUpload(this.http, this, key, data, opts)
  }

  /**
   * Downloads an object (or an image variant, or a byte range) as a Blob.
   *
   * @example
   * const thumb = await client.storage.from('photos').download('trip/1.jpg', {
   *   transform: { width: 320, format: 'webp' },
   * })
   */
  async download(key: string, opts: DownloadOptions = {}): Promise<Blob> {
    const res = await this.downloadResponse(key, opts)
    return res.blob()
  }

  /**
   * Downloads an object as a `Response`: stream its `body`, read `ETag`, `Content-Range`, or get a 304 back
   * with `ifNoneMatch`.
   *
   * @example
   * const res = await client.storage.from('logs').downloadResponse('2024/app.log', { range: { start: 1024 } })
   * for await (const chunk of res.body!) process(chunk)
   */
  async downloadResponse(key: string, opts: DownloadOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: '*/*' }
    if (opts.range !== undefined) headers.range = rangeHeader(opts.range)
    if (opts.ifNoneMatch !== undefined) headers['if-none-match'] = opts.ifNoneMatch
    return this.http.send(this.#objectPath(key), {
      query: { ...transformQuery(opts.transform), download: opts.download ? '' : undefined },
      headers,
      signal: opts.signal,
    })
  }

  /**
   * The URL of an object in a public bucket (no credentials needed; caches may keep it), optionally of an
   * image variant. For private buckets use {@link createSignedUrl}.
   *
   * @example
   * <Image source={{ uri: client.storage.from('avatars').getPublicUrl(user.avatar, { width: 96, height: 96 }) }} />
   */
  getPublicUrl(key: string, transform?: ImageTransform): string {
    return this.http.url(this.#objectPath(key), transformQuery(transform))
  }

  /**
   * An expiring URL for one operation on one object, usable without credentials (only what the caller may
   * do itself can be signed).
   *
   * @example
   * const { url } = await client.storage.from('invoices').createSignedUrl('2024/42.pdf', { expiresIn: 600 })
   */
  async createSignedUrl(key: string, opts: SignedUrlOptions = {}): Promise<SignedUrl> {
    const res = await this.http.request<SignedUrl>(`${this.#bucketPath()}/signed-urls`, {
      method: 'POST',
      body: {
        key,
        ...(opts.operation ? { operation: opts.operation } : {}),
        ...(opts.expiresIn !== undefined ? { expiresIn: opts.expiresIn } : {}),
      },
    })
    const q = transformQuery(opts.transform)
    if ((opts.operation ?? 'read') !== 'read' || Object.keys(q).length === 0) return res
    return { ...res, url: appendQuery(res.url, q) }
  }

  /**
   * One page of objects in key order (only those the caller may read).
   *
   * @example
   * const { items, nextCursor } = await client.storage.from('photos').list({ prefix: 'trip/', limit: 50 })
   */
  async list(opts: ListObjectsOptions = {}): Promise<ListObjectsResult> {
    return this.http.request(`${this.#bucketPath()}/objects`, {
      query: { prefix: opts.prefix, after: opts.after, perPage: opts.limit },
      signal: opts.signal,
    })
  }

  /**
   * Every object (under `prefix`), page after page.
   *
   * @example
   * for await (const obj of client.storage.from('photos').iterate({ prefix: 'trip/' })) total += obj.size
   */
  async *iterate(
    opts: Omit<ListObjectsOptions, 'after'> = {},
  ): AsyncGenerator<StorageObject, void, undefined> {
    let after: string | undefined
    for (;;) {
      const page = await this.list({ limit: 1000, ...opts, ...(after !== undefined ? { after } : {}) })
      yield* page.items
      if (!page.nextCursor || page.items.length === 0) return
      after = page.nextCursor
    }
  }

  /** `for await (const obj of client.storage.from('photos'))` walks the whole bucket. */
  [Symbol.asyncIterator](): AsyncGenerator<StorageObject, void, undefined> {
    return this.iterate()
  }

  /**
   * An object's description (size, sha256, type, owner, metadata, version); NOT_FOUND when missing or hidden.
   *
   * @example
   * const { size, metadata } = await client.storage.from('docs').info('contracts/42.pdf')
   */
  async info(key: string, opts: { signal?: AbortSignal } = {}): Promise<StorageObject> {
    // No per-object metadata route: a key is the first key under itself as a prefix, so one row answers.
    const page = await this.list({ prefix: key, limit: 1, ...(opts.signal ? { signal: opts.signal } : {}) })
    const obj = page.items[0]
    if (obj?.key === key) return obj
    throw new BastideError({ code: ErrorCodes.NOT_FOUND, status: 404, message: 'Object not found.' })
  }

  /**
   * Whether an object exists and the caller may read it.
   *
   * @example
   * if (!(await bucket.exists(key))) await bucket.upload(key, blob)
   */
  async exists(key: string, signal?: AbortSignal): Promise<boolean> {
    // Through `info` (a GET), not HEAD: the server's HEAD errors lack CORS headers, so a cross-origin 404
    // would reach a browser as a network failure.
    try {
      await this.info(key, signal ? { signal } : {})
      return true
    } catch (e) {
      if (e instanceof BastideError && e.code === ErrorCodes.NOT_FOUND) return false
      throw e
    }
  }

  /**
   * Deletes one object (NOT_FOUND when missing or hidden), or several: then missing ones are reported, not
   * thrown.
   *
   * @example
   * await bucket.remove('tmp/a.txt')
   * const { removed, notFound } = await bucket.remove(['tmp/b.txt', 'tmp/c.txt'])
   */
  remove(key: string, opts?: { signal?: AbortSignal }): Promise<void>
  remove(keys: readonly string[], opts?: { signal?: AbortSignal }): Promise<RemoveResult>
  async remove(keys: string | readonly string[], opts: { signal?: AbortSignal } = {}): Promise<unknown> {
    const one = (key: string) =>
      this.http.request<void>(this.#objectPath(key), { method: 'DELETE', signal: opts.signal })
    if (typeof keys === 'string') {
      await one(keys)
      return undefined
    }
    const removed: string[] = []
    const notFound: string[] = []
    // A few at a time: enough to hide latency without flooding the server.
    let next = 0
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!
        try {
          await one(key)
          removed.push(key)
        } catch (e) {
          if (e instanceof BastideError && e.code === ErrorCodes.NOT_FOUND) notFound.push(key)
          else throw e
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(4, keys.length) }, worker))
    return { removed, notFound }
  }

  /**
   * Copies an object (read on the source, write on the destination); returns the new object.
   *
   * @example
   * await bucket.copy('drafts/a.md', 'published/a.md')
   * await bucket.copy('a.md', 'a.md', { toBucket: 'archive' })
   */
  async copy(
    from: string,
    to: string,
    opts: { toBucket?: string; signal?: AbortSignal } = {},
  ): Promise<StorageObject> {
    return this.#copy('copy', from, to, opts)
  }

  /**
   * Moves (renames) an object (read and delete on the source, write on the destination).
   *
   * @example
   * await bucket.move('inbox/scan.pdf', 'done/scan.pdf')
   */
  async move(
    from: string,
    to: string,
    opts: { toBucket?: string; signal?: AbortSignal } = {},
  ): Promise<StorageObject> {
    return this.#copy('move', from, to, opts)
  }

  #copy(
    op: 'copy' | 'move',
    from: string,
    to: string,
    opts: { toBucket?: string; signal?: AbortSignal },
  ): Promise<StorageObject> {
    return this.http.request(`${this.#bucketPath()}/${op}`, {
      method: 'POST',
      body: { from, to, ...(opts.toBucket !== undefined ? { toBucket: opts.toBucket } : {}) },
      signal: opts.signal,
    })
  }

  #bucketPath(): string {
    return bucketPath(this.bucket)
  }

  #objectPath(key: string): string {
    // Segment by segment: `/` stays a separator, everything else (`?`, `#`, `%`, spaces) is escaped.
    return `${this.#bucketPath()}/objects/${key.split('/').map(encodeURIComponent).join('/')}`
  }
}

/**
 * A resumable upload in progress (`bucket.uploadResumable`): await `done` for the object; `url` (once
 * known) resumes it later, from this client or another one signed in as the same user.
 */
export class ResumableUpload {
  /** Settles with the object once the last chunk is stored; rejects with ABORTED after `abort()`. */
  readonly done: Promise<StorageObject>
  readonly #tus: Promise<TusUpload>
  readonly #ctl = new AbortController()
  #url: string | undefined

  constructor(
    http: Http,
    bucket: BucketApi,
    key: string,
    data: Exclude<UploadData, ReadableStream<Uint8Array>>,
    opts: ResumableUploadOptions,
  ) {
    const outer = opts.signal
    if (outer?.aborted) this.#ctl.abort(outer.reason)
    else outer?.addEventListener('abort', () => this.#ctl.abort(outer.reason), { once: true })
    const bytes = toSliceable(data)
    const size = bytes instanceof Uint8Array ? bytes.byteLength : bytes.size
    const store = opts.resume
    const storeKey = store
      ? `bastide.upload.${safeKey(store.fingerprint ?? fingerprint(bucket.bucket, key, bytes))}`
      : ''
    this.#tus = (async () => {
      const remembered = store ? ((await store.storage.getItem(storeKey)) ?? undefined) : undefined
      const metadata: Record<string, string> = { bucket: bucket.bucket, key }
      const type = contentTypeOf(data, opts.contentType)
      if (type) metadata.contentType = type
      if (opts.metadata) metadata.metadata = JSON.stringify(opts.metadata)
      return new TusUpload(http, bytes, {
        endpoint: http.url('/api/storage/uploads'),
        metadata,
        url: opts.resumeFrom ?? remembered,
        chunkSize: opts.chunkSize,
        signal: this.#ctl.signal,
        retryDelays: opts.retryDelays,
        onProgress: opts.onProgress ? (loaded, total) => opts.onProgress?.({ loaded, total }) : undefined,
        onUrl: async (url) => {
          this.#url = url
          if (store) await store.storage.setItem(storeKey, url)
          await opts.onUrl?.(url)
        },
      })
    })()
    this.done = this.#tus.then(async (tus) => {
      if (this.#ctl.signal.aborted) throw aborted(this.#ctl.signal.reason)
      const { object } = await tus.start()
      if (store) await store.storage.removeItem(storeKey)
      // The completing answer was lost and a retry found every byte stored: look the object up.
      const obj = (object as StorageObject | undefined) ?? (await bucket.info(key))
      if (obj.size !== size) {
        throw new BastideError({
          code: ErrorCodes.CONFLICT,
          status: 409,
          message: 'The stored object does not have the uploaded size.',
        })
      }
      return obj
    })
    // Awaiting `done` is optional (fire and forget with onProgress): no unhandled rejection for an abort.
    this.done.catch(() => {})
  }

  /** The upload URL once created (or resumed): persist it to resume after a restart. */
  get url(): string | undefined {
    return this.#url
  }

  /**
   * Stops sending (`done` rejects with ABORTED); the server keeps what it got, resumable from `url`.
   *
   * @example
   * const up = bucket.uploadResumable(key, file)
   * pauseButton.onclick = () => up.abort()
   * resumeButton.onclick = () => bucket.uploadResumable(key, file, { resumeFrom: up.url })
   */
  abort(reason?: unknown): void {
    this.#ctl.abort(reason)
  }

  /**
   * Stops and deletes the upload on the server (tus termination): it can no longer be resumed.
   *
   * @example
   * await up.cancel()
   */
  async cancel(): Promise<void> {
    this.abort()
    await this.done.catch(() => {})
    await (await this.#tus).terminate()
  }
}

function bucketPath(name: string): string {
  return `/api/storage/buckets/${encodeURIComponent(name)}`
}

function transformQuery(t: ImageTransform | undefined): Record<string, QueryValue> {
  if (!t) return {}
  const out: Record<string, QueryValue> = {}
  for (const k of ['width', 'height', 'fit', 'format', 'quality'] as const)
    if (t[k] !== undefined) out[k] = t[k]
  return out
}

function appendQuery(url: string, q: Readonly<Record<string, QueryValue>>): string {
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null) qs.set(k, String(v))
  const s = qs.toString()
  if (!s) return url
  const hash = url.indexOf('#')
  const [head, tail] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)]
  return `${head}${head.includes('?') ? '&' : '?'}${s}${tail}`
}

function rangeHeader(r: NonNullable<DownloadOptions['range']>): string {
  if (typeof r === 'string') return r
  if ('suffix' in r) return `bytes=-${r.suffix}`
  return `bytes=${r.start}-${r.end ?? ''}`
}

function contentTypeOf(data: UploadData, explicit: string | undefined): string {
  if (explicit) return explicit
  if (typeof Blob !== 'undefined' && data instanceof Blob && data.type) return data.type
  if (typeof data === 'string') return 'text/plain; charset=utf-8'
  return 'application/octet-stream'
}

/** JSON with every non-ASCII character escaped: header values must be ASCII, JSON.parse undoes the escapes. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

function fingerprint(bucket: string, key: string, data: Blob | Uint8Array): string {
  const size = data instanceof Uint8Array ? data.byteLength : data.size
  const file = data as { name?: unknown; lastModified?: unknown }
  const extra = typeof file.name === 'string' ? `:${file.name}:${String(file.lastModified ?? '')}` : ''
  return `${bucket}:${key}:${size}${extra}`
}

/**
 * A storage key from a fingerprint: readable, restricted to `[A-Za-z0-9._-]` (Expo SecureStore's alphabet),
 * with a hash of the original so that distinct fingerprints stay distinct.
 */
function safeKey(s: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0
  return `${s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80)}.${h.toString(16)}`
}
