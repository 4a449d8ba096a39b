import type { OfflineSnapshot, OfflineStore, QueuedMutation, SyncRecord } from './types.ts'

const RECORDS = 'records'
const OUTBOX = 'outbox'
const META = 'meta'
const FILES = 'files'

interface RecordRow {
  readonly c: string
  readonly id: string
  readonly r: SyncRecord
}

/**
 * A store in the browser's IndexedDB: object stores `records` (key `[collection, id]`), `outbox` (by mutation id,
 * read in `seq` order), `meta`, and `files` (the bytes of files attached offline, as Blobs). Each batch is one IndexedDB transaction, committed with strict durability
 * where the browser supports it.
 *
 * @example
 * const offline = client.offline({ store: indexedDbStore('my-app'), collections: ['todos'] })
 */
export function indexedDbStore(
  dbName: string,
  // Structural, so that the SDK's types compile without the DOM library (Node, React Native).
  opts: { indexedDB?: { open(name: string, version?: number): unknown } } = {},
): OfflineStore {
  let db: Promise<IDBDatabase> | undefined
  const connect = (): Promise<IDBDatabase> => {
    db ??= openDb(dbName, opts.indexedDB as IDBFactory | undefined).catch((e) => {
      db = undefined
      throw e
    })
    return db
  }

  return {
    async load() {
      const d = await connect()
      const tx = d.transaction([RECORDS, OUTBOX, META], 'readonly')
      const [rows, outbox, keys, values] = await Promise.all([
        req<RecordRow[]>(tx.objectStore(RECORDS).getAll()),
        req<QueuedMutation[]>(tx.objectStore(OUTBOX).index('seq').getAll()),
        req<IDBValidKey[]>(tx.objectStore(META).getAllKeys()),
        req<unknown[]>(tx.objectStore(META).getAll()),
      ])
      const records: Record<string, SyncRecord[]> = {}
      for (const row of rows) (records[row.c] ??= []).push(row.r)
      const meta: Record<string, unknown> = {}
      keys.forEach((k, i) => {
        meta[String(k)] = values[i]
      })
      return { records, outbox, meta } satisfies OfflineSnapshot
    },

    async write(b) {
      const d = await connect()
      const tx = d.transaction([RECORDS, OUTBOX, META], 'readwrite', { durability: 'strict' })
      const done = new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve()
        tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
        tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
      })
      try {
        const records = tx.objectStore(RECORDS)
        const outbox = tx.objectStore(OUTBOX)
        const meta = tx.objectStore(META)
        // Requests run in the order they are made, which is the batch's documented order.
        for (const c of b.clear ?? []) records.delete(IDBKeyRange.bound([c], [c, []]))
        for (const [c, id] of b.remove ?? []) records.delete([c, id])
        for (const [c, r] of b.put ?? []) records.put({ c, id: r.id, r } satisfies RecordRow)
        for (const id of b.dequeue ?? []) outbox.delete(id)
        for (const m of b.enqueue ?? []) outbox.put(m)
        for (const [k, v] of Object.entries(b.meta ?? {})) {
          if (v === null || v === undefined) meta.delete(k)
          else meta.put(v, k)
        }
        tx.commit?.()
      } catch (e) {
        // A value that cannot be stored throws at once: abort so nothing of the batch is kept.
        try {
          tx.abort()
        } catch {}
        await done.catch(() => {})
        throw e
      }
      await done
    },

    async close() {
      const d = await db?.catch(() => undefined)
      d?.close()
      db = undefined
    },

    files: {
      async put(id, data) {
        // A Blob, not an ArrayBuffer: browsers may keep it on disk rather than in the database's memory.
        const blob = data instanceof Uint8Array ? new Blob([data as Uint8Array<ArrayBuffer>]) : data
        await run(await connect(), 'readwrite', (s) => s.put(blob, id))
      },
      async get(id) {
        return (await run(await connect(), 'readonly', (s) => s.get(id))) as Blob | undefined
      },
      async delete(ids) {
        await run(await connect(), 'readwrite', (s) => {
          let last: IDBRequest | undefined
          for (const id of ids) last = s.delete(id)
          return last ?? s.count()
        })
      },
      async list() {
        return ((await run(await connect(), 'readonly', (s) => s.getAllKeys())) as IDBValidKey[]).map(String)
      },
    },
  }
}

/** One request on the `files` store, in a transaction of its own, resolved once that transaction completes. */
function run(
  d: IDBDatabase,
  mode: IDBTransactionMode,
  fn: (s: IDBObjectStore) => IDBRequest,
): Promise<unknown> {
  const tx = d.transaction([FILES], mode, { durability: 'strict' })
  const r = fn(tx.objectStore(FILES))
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(r.result)
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'))
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'))
  })
}

function openDb(name: string, factory: IDBFactory | undefined): Promise<IDBDatabase> {
  const idb = factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB
  if (!idb) return Promise.reject(new Error('indexedDbStore: no IndexedDB on this platform'))
  return new Promise((resolve, reject) => {
    // Version 2 added `files`: a database made by an earlier SDK keeps its data and gains the store.
    const r = idb.open(name, 2)
    r.onupgradeneeded = (e) => {
      const d = r.result
      if (e.oldVersion < 1) {
        d.createObjectStore(RECORDS, { keyPath: ['c', 'id'] })
        d.createObjectStore(OUTBOX, { keyPath: 'id' }).createIndex('seq', 'seq', { unique: true })
        d.createObjectStore(META)
      }
      if (e.oldVersion < 2) d.createObjectStore(FILES)
    }
    r.onsuccess = () => {
      const d = r.result
      // Another tab upgrading the database: let it, this connection is done.
      d.onversionchange = () => d.close()
      resolve(d)
    }
    r.onerror = () => reject(r.error)
  })
}

function req<T>(r: IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result as T)
    r.onerror = () => reject(r.error)
  })
}
