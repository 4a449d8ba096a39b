import type { BastideClient } from '../client.ts'
import { BastideError } from '../errors.ts'
import type { LocalState } from './local-state.ts'
import type {
  OfflineBatch,
  OfflineFileInput,
  OfflineFileStore,
  QueuedFile,
  QueuedMutation,
  SyncFieldInfo,
} from './types.ts'
import { uuidv7 } from './uuidv7.ts'

const META_PREFIX = 'file:'

/** What the queue needs from the offline client. */
export interface FileQueueDeps {
  readonly client: BastideClient<any>
  readonly files: OfflineFileStore | undefined
  readonly state: LocalState
  readonly signal: AbortSignal
  readonly chunkSize: number | undefined
  /** One atomic store write (under the client's lock). */
  commit(b: OfflineBatch): Promise<void>
  /** Runs `fn` under the client's lock. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  /** Queued writes refused because a file of theirs could not be uploaded: rolled back and reported. */
  reject(mutations: readonly QueuedMutation[], error: BastideError): Promise<void>
}

/** Marks the values `offline.file(...)` makes, so that a write can tell them from plain data. */
const FILE_INPUT = Symbol.for('bastide.offlineFile')

export function fileInput(
  data: Blob | Uint8Array,
  o: { name?: string; contentType?: string; bucket?: string } = {},
): OfflineFileInput {
  if (!(data instanceof Uint8Array) && !(typeof Blob !== 'undefined' && data instanceof Blob))
    throw new TypeError('offline.file: give the bytes as a Blob (a File) or a Uint8Array')
  const named = (data as { name?: unknown }).name
  const input: OfflineFileInput = {
    data,
    name: o.name ?? (typeof named === 'string' && named ? named : 'file'),
    contentType: o.contentType ?? (data instanceof Uint8Array ? undefined : data.type || undefined),
    bucket: o.bucket,
  }
  Object.defineProperty(input, FILE_INPUT, { value: true })
  return input
}

const isFileInput = (v: unknown): v is OfflineFileInput =>
  typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[FILE_INPUT] === true

/**
 * Files attached to records offline. Their bytes go into the store's file area before the write that names them
 * is queued (an entry `file:<id>` in meta, in the same batch as the write); before each push the bytes are
 * uploaded with tus (resumed from the saved upload URL after a restart or a cut), and a write is pushed only once
 * every file it names is on the server. The field holds the object's key from the start, as it will on the server.
 */
export class FileQueue {
  readonly #d: FileQueueDeps

  constructor(deps: FileQueueDeps) {
    this.#d = deps
  }

  /** The queued files, oldest first. */
  entries(): QueuedFile[] {
    const out: QueuedFile[] = []
    for (const [k, v] of this.#d.state.metaEntries()) if (k.startsWith(META_PREFIX)) out.push(v as QueuedFile)
    return out
  }

  /** Files whose bytes are not on the server yet. */
  get waiting(): number {
    return this.entries().filter((f) => !f.uploaded).length
  }

  /**
   * Replaces the `offline.file(...)` values of a write by the keys their objects will have, keeps their bytes, and
   * returns the meta entries to commit with the write. Called under the client's lock, before the write's batch.
   */
  async take(
    collection: string,
    recordId: string,
    data: Record<string, unknown>,
  ): Promise<{ data: Record<string, unknown>; meta: Record<string, QueuedFile> }> {
    const meta: Record<string, QueuedFile> = {}
    const files: { id: string; data: Blob | Uint8Array }[] = []
    let out = data
    for (const [name, value] of Object.entries(data)) {
      const list = Array.isArray(value) ? value : [value]
      if (!list.some(isFileInput)) continue
      const field = this.#field(collection, name)
      const keys = list.map((v) => {
        if (!isFileInput(v)) return v
        const bucket = v.bucket ?? field?.bucket
        if (!bucket)
          throw new TypeError(
            `offline.file: "${collection}.${name}" is not a file field this device knows of yet (sync once online first, or pass { bucket })`,
          )
        const id = uuidv7()
        const key = `${collection}/${recordId}/${name}/${id}-${safeName(v.name)}`
        const size = v.data instanceof Uint8Array ? v.data.byteLength : v.data.size
        meta[`${META_PREFIX}${id}`] = {
          id,
          collection,
          recordId,
          bucket,
          key,
          size,
          contentType: v.contentType,
        }
        files.push({ id, data: v.data })
        return key
      })
      out = { ...out, [name]: Array.isArray(value) ? keys : keys[0] }
    }
    if (files.length === 0) return { data, meta }
    const store = this.#d.files
    if (!store)
      throw new TypeError(
        'offline.file: this store keeps no files (give the offline client a store with `files`)',
      )
    // The bytes first: a crash before the write's batch leaves bytes no entry names, dropped at the next start.
    for (const f of files) await store.put(f.id, f.data)
    return { data: out, meta }
  }

  /** The bytes of a file not uploaded yet, by its key. */
  async local(key: string): Promise<Blob | Uint8Array | undefined> {
    const f = this.entries().find((e) => e.key === key && !e.uploaded)
    return f ? this.#d.files?.get(f.id) : undefined
  }

  /** Whether `m` names a file that is not on the server yet (it then waits, and so do the writes after it). */
  blocks(m: QueuedMutation): boolean {
    const waiting = this.entries().filter((f) => !f.uploaded && f.collection === m.collection)
    return waiting.length > 0 && waiting.some((f) => names(m, f.key))
  }

  /** Drops the bytes no queued file names (a crash between keeping them and queueing their write). */
  async sweep(): Promise<void> {
    const store = this.#d.files
    if (!store) return
    const known = new Set(this.entries().map((f) => f.id))
    const stray = (await store.list()).filter((id) => !known.has(id))
    if (stray.length) await store.delete(stray)
  }

  /**
   * Uploads every waiting file a queued write still names, one after the other; forgets the others (their write
   * was undone, or rewritten without them). A network failure is thrown (the sync is retried and the upload resumed
   * from its URL); a refusal (the bucket's rules, its size limit or types) rolls back the writes that name the file.
   */
  async upload(): Promise<void> {
    for (const f of this.entries()) {
      if (f.uploaded || this.#d.signal.aborted) continue
      const writers = this.#writers(f)
      if (writers.length === 0) {
        await this.#forget([f])
        continue
      }
      const bytes = await this.#d.files?.get(f.id)
      if (bytes === undefined) {
        await this.#refuse(f, writers, lost(f))
        continue
      }
      const up = this.#d.client.storage.from(f.bucket).uploadResumable(f.key, bytes, {
        ...(f.url ? { resumeFrom: f.url } : {}),
        ...(f.contentType ? { contentType: f.contentType } : {}),
        signal: this.#d.signal,
        ...(this.#d.chunkSize ? { chunkSize: this.#d.chunkSize } : {}),
        // A cut is the sync's to retry (with backoff), resuming from the URL: no waits inside one.
        retryDelays: [],
        onUrl: (url) => (url === f.url ? undefined : this.#save({ ...f, url })),
      })
      try {
        await up.done
      } catch (e) {
        if (!(e instanceof BastideError) || e.isNetworkError || e.status >= 500 || e.status === 429) throw e
        if (e.code === 'ABORTED') throw e
        await this.#refuse(f, this.#writers(f), e)
        continue
      }
      await this.#d.exclusive(() =>
        this.#d.commit({ meta: { [`${META_PREFIX}${f.id}`]: { ...this.#current(f), uploaded: true } } }),
      )
      await this.#d.files?.delete([f.id])
    }
  }

  /**
   * After a push: forgets uploaded files no queued write names any more, and deletes (best effort) the objects of
   * those whose write the server did not keep (refused, or resolved without them), so nothing is left unattached.
   */
  async settle(dropped: readonly { m: QueuedMutation; kept: Readonly<Record<string, unknown>> | null }[]) {
    const done = this.entries().filter((f) => f.uploaded && this.#writers(f).length === 0)
    if (done.length === 0) return
    await this.#forget(done)
    for (const f of done) {
      const orphan = dropped.some(({ m, kept }) => names(m, f.key) && !(kept && holds(kept, f.key)))
      if (orphan)
        await this.#d.client.storage
          .from(f.bucket)
          .remove([f.key])
          .catch(() => {})
    }
  }

  #writers(f: QueuedFile): QueuedMutation[] {
    return [...this.#d.state.outbox].filter((m) => m.collection === f.collection && names(m, f.key))
  }

  #current(f: QueuedFile): QueuedFile {
    return (this.#d.state.meta(`${META_PREFIX}${f.id}`) as QueuedFile | undefined) ?? f
  }

  #save(f: QueuedFile): Promise<void> {
    return this.#d.exclusive(() => this.#d.commit({ meta: { [`${META_PREFIX}${f.id}`]: f } }))
  }

  async #forget(files: readonly QueuedFile[]): Promise<void> {
    if (files.length === 0) return
    await this.#d.exclusive(() =>
      this.#d.commit({ meta: Object.fromEntries(files.map((f) => [`${META_PREFIX}${f.id}`, null])) }),
    )
    await this.#d.files?.delete(files.map((f) => f.id))
  }

  async #refuse(f: QueuedFile, writers: readonly QueuedMutation[], error: BastideError): Promise<void> {
    // Every later write of those records goes too: it was made on top of the refused one.
    const ids = new Set(writers.map((m) => `${m.collection}\u0000${m.recordId}`))
    const first = Math.min(...writers.map((m) => m.seq))
    const undone = [...this.#d.state.outbox].filter(
      (m) => m.seq >= first && ids.has(`${m.collection}\u0000${m.recordId}`),
    )
    await this.#d.reject(undone, error)
    await this.#forget([f])
  }

  #field(collection: string, name: string): SyncFieldInfo | undefined {
    const fields = this.#d.state.meta(`fields:${collection}`) as readonly SyncFieldInfo[] | undefined
    return fields?.find((x) => x.name === name && x.type === 'file')
  }
}

/** Whether a queued write sets a field to `key` (or to a list holding it). */
function names(m: QueuedMutation, key: string): boolean {
  return m.data !== undefined && holds(m.data, key)
}

function holds(r: Readonly<Record<string, unknown>>, key: string): boolean {
  for (const v of Object.values(r)) if (v === key || (Array.isArray(v) && v.includes(key))) return true
  return false
}

function lost(f: QueuedFile): BastideError {
  return new BastideError({
    code: 'FILE_LOST',
    status: 0,
    message: `The bytes of ${f.key}, attached offline, are no longer on this device.`,
  })
}

/** The client's file name, tamed as the server does for record uploads. */
function safeName(name: string): string {
  return (
    name
      .normalize('NFC')
      .replace(/[^\p{L}\p{N}._-]+/gu, '_')
      .replace(/^[._]+/, '')
      .slice(0, 100) || 'file'
  )
}
