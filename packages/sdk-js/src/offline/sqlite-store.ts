import type { OfflineStore, QueuedMutation, SyncRecord } from './types.ts'

export type SqliteValue = string | number | null | Uint8Array

/** Runs statements: what a SQLite binding offers, inside a transaction or not. */
export interface SqliteExecutor {
  run(sql: string, params: readonly SqliteValue[]): Promise<unknown> | unknown
  all<T = Record<string, unknown>>(sql: string, params: readonly SqliteValue[]): Promise<T[]> | T[]
}

/**
 * The little a SQLite store needs from a binding: `expoSqliteDriver(db)`, `opSqliteDriver(db)`, or your own.
 * `transaction` commits when `fn` resolves and rolls back when it rejects.
 */
export interface SqliteDriver extends SqliteExecutor {
  transaction(fn: (tx: SqliteExecutor) => Promise<void>): Promise<void>
}

/**
 * A store in SQLite tables (`<prefix>records`, `<prefix>outbox`, `<prefix>meta`), each batch one transaction;
 * files attached offline wait in `<prefix>files` as BLOBs.
 * For React Native with expo-sqlite or op-sqlite.
 *
 * @example
 * import * as SQLite from 'expo-sqlite'
 * const db = await SQLite.openDatabaseAsync('app.db')
 * const offline = client.offline({ store: sqliteStore(expoSqliteDriver(db)), collections: ['todos'] })
 */
export function sqliteStore(driver: SqliteDriver, opts: { prefix?: string } = {}): OfflineStore {
  const prefix = opts.prefix ?? 'bastide_'
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix))
    throw new TypeError(`sqliteStore: bad table prefix "${prefix}"`)
  const records = `${prefix}records`
  const outbox = `${prefix}outbox`
  const meta = `${prefix}meta`
  const files = `${prefix}files`
  let created: Promise<void> | undefined
  const ensure = (): Promise<void> => {
    created ??= driver
      .transaction(async (tx) => {
        await tx.run(
          `CREATE TABLE IF NOT EXISTS ${records} (collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (collection, id))`,
          [],
        )
        await tx.run(
          `CREATE TABLE IF NOT EXISTS ${outbox} (id TEXT PRIMARY KEY NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL)`,
          [],
        )
        await tx.run(
          `CREATE TABLE IF NOT EXISTS ${meta} (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)`,
          [],
        )
        await tx.run(
          `CREATE TABLE IF NOT EXISTS ${files} (id TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL)`,
          [],
        )
      })
      .catch((e) => {
        created = undefined
        throw e
      })
    return created
  }

  return {
    async load() {
      await ensure()
      const result: {
        records: Record<string, SyncRecord[]>
        outbox: QueuedMutation[]
        meta: Record<string, unknown>
      } = { records: {}, outbox: [], meta: {} }
      // One transaction, so the three reads see the same state.
      await driver.transaction(async (tx) => {
        for (const row of await tx.all<{ collection: string; data: string }>(
          `SELECT collection, data FROM ${records}`,
          [],
        ))
          (result.records[row.collection] ??= []).push(JSON.parse(row.data) as SyncRecord)
        for (const row of await tx.all<{ data: string }>(`SELECT data FROM ${outbox} ORDER BY seq`, []))
          result.outbox.push(JSON.parse(row.data) as QueuedMutation)
        for (const row of await tx.all<{ key: string; value: string }>(`SELECT key, value FROM ${meta}`, []))
          result.meta[row.key] = JSON.parse(row.value)
      })
      return result
    },

    async write(b) {
      await ensure()
      // Serialized before the transaction opens: a value JSON cannot hold fails with nothing written.
      const puts = (b.put ?? []).map(([c, r]) => [c, r.id, JSON.stringify(r)] as const)
      const enqueues = (b.enqueue ?? []).map((m) => [m.id, m.seq, JSON.stringify(m)] as const)
      const metas = Object.entries(b.meta ?? {}).map(
        ([k, v]) => [k, v == null ? null : JSON.stringify(v)] as const,
      )
      await driver.transaction(async (tx) => {
        for (const c of b.clear ?? []) await tx.run(`DELETE FROM ${records} WHERE collection = ?`, [c])
        for (const [c, id] of b.remove ?? [])
          await tx.run(`DELETE FROM ${records} WHERE collection = ? AND id = ?`, [c, id])
        for (const p of puts)
          await tx.run(
            `INSERT INTO ${records} (collection, id, data) VALUES (?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data`,
            p,
          )
        for (const id of b.dequeue ?? []) await tx.run(`DELETE FROM ${outbox} WHERE id = ?`, [id])
        // A queued mutation replaced keeps its place in the queue.
        for (const e of enqueues)
          await tx.run(
            `INSERT INTO ${outbox} (id, seq, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`,
            e,
          )
        for (const [k, v] of metas) {
          if (v === null) await tx.run(`DELETE FROM ${meta} WHERE key = ?`, [k])
          else
            await tx.run(
              `INSERT INTO ${meta} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
              [k, v],
            )
        }
      })
    },

    async close() {},

    files: {
      async put(id, data) {
        await ensure()
        const bytes = data instanceof Uint8Array ? data : new Uint8Array(await data.arrayBuffer())
        await driver.run(
          `INSERT INTO ${files} (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data`,
          [id, bytes],
        )
      },
      async get(id) {
        await ensure()
        const rows = await driver.all<{ data: unknown }>(`SELECT data FROM ${files} WHERE id = ?`, [id])
        return rows[0] ? toBytes(rows[0].data) : undefined
      },
      async delete(ids) {
        await ensure()
        for (const id of ids) await driver.run(`DELETE FROM ${files} WHERE id = ?`, [id])
      },
      async list() {
        await ensure()
        return (await driver.all<{ id: string }>(`SELECT id FROM ${files}`, [])).map((r) => r.id)
      },
    },
  }
}

/** A BLOB as the bindings return it: a Uint8Array (expo-sqlite, better-sqlite3's Buffer) or an ArrayBuffer (op-sqlite). */
function toBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v
  if (v instanceof ArrayBuffer) return new Uint8Array(v)
  throw new TypeError('sqliteStore: a stored file is not a BLOB')
}

/** The part of expo-sqlite's `SQLiteDatabase` (async API, SDK 50+) the driver uses. */
export interface ExpoSqliteDatabaseLike {
  runAsync(source: string, params: SqliteValue[]): Promise<unknown>
  getAllAsync<T>(source: string, params: SqliteValue[]): Promise<T[]>
  withTransactionAsync(task: () => Promise<void>): Promise<void>
  withExclusiveTransactionAsync?(task: (txn: ExpoSqliteExecutorLike) => Promise<void>): Promise<void>
}

export interface ExpoSqliteExecutorLike {
  runAsync(source: string, params: SqliteValue[]): Promise<unknown>
  getAllAsync<T>(source: string, params: SqliteValue[]): Promise<T[]>
}

/**
 * A driver over expo-sqlite's async API. Batches use `withExclusiveTransactionAsync` (no other query can slip
 * into the transaction) where it exists, `withTransactionAsync` elsewhere (web).
 *
 * @example
 * const store = sqliteStore(expoSqliteDriver(await SQLite.openDatabaseAsync('app.db')))
 */
export function expoSqliteDriver(db: ExpoSqliteDatabaseLike): SqliteDriver {
  const on = (x: ExpoSqliteExecutorLike): SqliteExecutor => ({
    run: (sql, params) => x.runAsync(sql, [...params]),
    all: <T>(sql: string, params: readonly SqliteValue[]) => x.getAllAsync<T>(sql, [...params]),
  })
  return {
    ...on(db),
    transaction: (fn) =>
      db.withExclusiveTransactionAsync
        ? db.withExclusiveTransactionAsync((txn) => fn(on(txn)))
        : db.withTransactionAsync(() => fn(on(db))),
  }
}

/** The part of op-sqlite's database the driver uses. */
export interface OpSqliteDatabaseLike extends OpSqliteExecutorLike {
  transaction(fn: (tx: OpSqliteExecutorLike) => Promise<void>): Promise<void>
}

export interface OpSqliteExecutorLike {
  // Rows are an array of objects (op-sqlite 9+), or `{ _array }` in older releases.
  execute(query: string, params?: SqliteValue[]): Promise<{ rows?: unknown }>
}

/**
 * A driver over op-sqlite (`open({ name })`).
 *
 * @example
 * import { open } from '@op-engineering/op-sqlite'
 * const store = sqliteStore(opSqliteDriver(open({ name: 'app.db' })))
 */
export function opSqliteDriver(db: OpSqliteDatabaseLike): SqliteDriver {
  const on = (x: OpSqliteExecutorLike): SqliteExecutor => ({
    run: (sql, params) => x.execute(sql, [...params]),
    all: async <T>(sql: string, params: readonly SqliteValue[]) => {
      const rows = (await x.execute(sql, [...params])).rows
      if (Array.isArray(rows)) return rows as T[]
      return ((rows as { _array?: T[] } | undefined)?._array ?? []) as T[]
    },
  })
  return { ...on(db), transaction: (fn) => db.transaction((tx) => fn(on(tx))) }
}
