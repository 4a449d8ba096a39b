import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { appendFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import {
  type ExpoSqliteDatabaseLike,
  expoSqliteDriver,
  memoryStore,
  type OfflineStore,
  type OpSqliteDatabaseLike,
  opSqliteDriver,
  type QueuedMutation,
  type SqliteDriver,
  type SqliteExecutor,
  sqliteStore,
} from '../src/index.ts'
import { fileStore } from '../src/offline-node.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'bastide-offline-store-'))
let n = 0
const fresh = (ext: string) => path.join(dir, `store-${n++}.${ext}`)

/** better-sqlite3 behind the SQLite store's driver interface, one transaction at a time as a real binding. */
function betterSqlite(db: Database.Database, fail?: (sql: string) => boolean): SqliteDriver {
  const ex: SqliteExecutor = {
    run: (sql, params) => {
      if (fail?.(sql)) throw new Error(`injected failure: ${sql}`)
      return db.prepare(sql).run(...params)
    },
    all: <T>(sql: string, params: readonly (string | number | null | Uint8Array)[]) =>
      db.prepare(sql).all(...params) as T[],
  }
  let queue: Promise<unknown> = Promise.resolve()
  return {
    ...ex,
    transaction(fn) {
      const run = queue.then(async () => {
        db.exec('BEGIN IMMEDIATE')
        try {
          await fn(ex)
          db.exec('COMMIT')
        } catch (e) {
          db.exec('ROLLBACK')
          throw e
        }
      })
      queue = run.catch(() => {})
      return run
    },
  }
}

type Value = string | number | null | Uint8Array

/** better-sqlite3 shaped as expo-sqlite's async API (the calls expoSqliteDriver makes). */
function expoShaped(db: Database.Database): ExpoSqliteDatabaseLike {
  const on = {
    runAsync: async (sql: string, params: Value[]) => db.prepare(sql).run(...params),
    getAllAsync: async <T>(sql: string, params: Value[]) => db.prepare(sql).all(...params) as T[],
  }
  return {
    ...on,
    withTransactionAsync: () => Promise.reject(new Error('the driver should take the exclusive transaction')),
    async withExclusiveTransactionAsync(task) {
      db.exec('BEGIN IMMEDIATE')
      try {
        await task(on)
        db.exec('COMMIT')
      } catch (e) {
        db.exec('ROLLBACK')
        throw e
      }
    },
  }
}

/** better-sqlite3 shaped as op-sqlite (`execute` answering `{ rows }`, `transaction(fn)`). */
function opShaped(db: Database.Database): OpSqliteDatabaseLike {
  const execute = async (sql: string, params: Value[] = []) => {
    const st = db.prepare(sql)
    return st.reader ? { rows: st.all(...params) } : (st.run(...params), { rows: [] })
  }
  return {
    execute,
    async transaction(fn) {
      db.exec('BEGIN IMMEDIATE')
      try {
        await fn({ execute })
        db.exec('COMMIT')
      } catch (e) {
        db.exec('ROLLBACK')
        throw e
      }
    },
  }
}

const rec = (id: string, title: string, version = 1) => ({
  id,
  created: '2026-01-01T00:00:00.000Z',
  updated: '2026-01-01T00:00:00.000Z',
  version,
  title,
})
const mut = (id: string, seq: number, recordId = 'r1'): QueuedMutation => ({
  id,
  seq,
  collection: 'todos',
  op: 'update',
  recordId,
  data: { title: id },
  baseVersion: 1,
  at: '2026-01-01T00:00:00.000Z',
})

interface Adapter {
  name: string
  /** A new, empty store and a way to open it again (null: it keeps nothing). */
  make(): { store: OfflineStore; reopen: (() => OfflineStore) | null }
}

const adapters: Adapter[] = [
  { name: 'memoryStore', make: () => ({ store: memoryStore(), reopen: null }) },
  {
    name: 'fileStore',
    make: () => {
      const file = fresh('json')
      return { store: fileStore(file), reopen: () => fileStore(file) }
    },
  },
  {
    name: 'sqliteStore (better-sqlite3)',
    make: () => {
      const file = fresh('db')
      return {
        store: sqliteStore(betterSqlite(new Database(file))),
        reopen: () => sqliteStore(betterSqlite(new Database(file))),
      }
    },
  },
  {
    name: 'sqliteStore (expoSqliteDriver)',
    make: () => {
      const file = fresh('db')
      return {
        store: sqliteStore(expoSqliteDriver(expoShaped(new Database(file)))),
        reopen: () => sqliteStore(expoSqliteDriver(expoShaped(new Database(file)))),
      }
    },
  },
  {
    name: 'sqliteStore (opSqliteDriver)',
    make: () => {
      const file = fresh('db')
      return {
        store: sqliteStore(opSqliteDriver(opShaped(new Database(file)))),
        reopen: () => sqliteStore(opSqliteDriver(opShaped(new Database(file)))),
      }
    },
  },
]

describe.each(adapters)('$name', (a) => {
  it('starts empty, and loads what batches wrote, in the documented order', async () => {
    const { store, reopen } = a.make()
    expect(await store.load()).toEqual({ records: {}, outbox: [], meta: {} })
    await store.write({
      put: [
        ['todos', rec('r1', 'one')],
        ['todos', rec('r2', 'two')],
        ['notes', rec('n1', 'note')],
      ],
      enqueue: [mut('m2', 2), mut('m1', 1, 'r2')],
      meta: { clientId: 'c-1', 'pull:todos': { filter: '', cursor: 'abc' } },
    })
    // A replaced mutation keeps its place; null removes a meta key; clear drops one collection only.
    await store.write({
      enqueue: [{ ...mut('m1', 1, 'r2'), data: { title: 'changed' } }],
      meta: { clientId: null },
    })
    await store.write({
      clear: ['notes'],
      put: [['todos', rec('r1', 'one again', 2)]],
      remove: [['todos', 'r2']],
    })
    await store.write({
      enqueue: [mut('m3', 3)],
      dequeue: ['m2'],
      meta: { seen: [1, 'two', { three: true }] },
    })

    const expected = {
      records: { todos: [rec('r1', 'one again', 2)] },
      outbox: [{ ...mut('m1', 1, 'r2'), data: { title: 'changed' } }, mut('m3', 3)],
      meta: { 'pull:todos': { filter: '', cursor: 'abc' }, seen: [1, 'two', { three: true }] },
    }
    expect(await store.load()).toEqual(expected)
    await store.close()
    if (reopen) {
      const again = reopen()
      expect(await again.load()).toEqual(expected)
      await again.write({ dequeue: ['m1'] })
      await again.close()
      const third = reopen()
      expect((await third.load()).outbox.map((m) => m.id)).toEqual(['m3'])
      await third.close()
    }
  })

  it('keeps nothing of a batch that fails', async () => {
    const { store } = a.make()
    await store.load()
    await store.write({ put: [['todos', rec('r1', 'kept')]], enqueue: [mut('m1', 1)] })
    // A value JSON cannot hold: refused before anything is written.
    await expect(
      store.write({ put: [['todos', rec('r2', 'lost')]], enqueue: [{ ...mut('m2', 2), data: { n: 1n } }] }),
    ).rejects.toThrow()
    const snap = await store.load()
    expect(snap.records).toEqual({ todos: [rec('r1', 'kept')] })
    expect(snap.outbox.map((m) => m.id)).toEqual(['m1'])
    await store.close()
  })

  it('keeps the bytes of queued files by id, across a reopen, until they are deleted', async () => {
    const { store, reopen } = a.make()
    await store.load()
    const files = store.files!
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) % 256)
    await files.put('f-1', big)
    await files.put('f-2', new Blob(['hello']))
    expect((await files.list()).sort()).toEqual(['f-1', 'f-2'])
    expect(await bytesOf(await files.get('f-1'))).toEqual(big)
    expect(new TextDecoder().decode(await bytesOf(await files.get('f-2')))).toBe('hello')
    expect(await files.get('nope')).toBeUndefined()
    await store.close()
    const again = reopen ? reopen() : store
    if (reopen) await again.load()
    expect(await bytesOf(await again.files!.get('f-1'))).toEqual(big)
    await again.files!.delete(['f-1', 'missing'])
    expect(await again.files!.list()).toEqual(['f-2'])
    expect(await again.files!.get('f-1')).toBeUndefined()
    await again.close()
  })
})

async function bytesOf(v: Blob | Uint8Array | undefined): Promise<Uint8Array> {
  if (v === undefined) throw new Error('no bytes')
  return v instanceof Uint8Array ? new Uint8Array(v) : new Uint8Array(await v.arrayBuffer())
}

describe('sqliteStore', () => {
  it('rolls a batch back when a statement fails midway', async () => {
    const file = fresh('db')
    let failing = false
    const db = new Database(file)
    const store = sqliteStore(betterSqlite(db, (sql) => failing && sql.includes('bastide_meta')))
    await store.load()
    await store.write({ put: [['todos', rec('r1', 'kept')]], meta: { a: 1 } })
    failing = true
    await expect(
      store.write({
        put: [['todos', rec('r2', 'lost')]],
        enqueue: [mut('m1', 1)],
        dequeue: [],
        meta: { a: 2 },
      }),
    ).rejects.toThrow(/injected/)
    failing = false
    expect(await store.load()).toEqual({
      records: { todos: [rec('r1', 'kept')] },
      outbox: [],
      meta: { a: 1 },
    })
  })

  it('keeps its tables under the prefix it is given', async () => {
    const db = new Database(':memory:')
    const store = sqliteStore(betterSqlite(db), { prefix: 'app_' })
    await store.load()
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all()
    expect(tables).toEqual([
      { name: 'app_files' },
      { name: 'app_meta' },
      { name: 'app_outbox' },
      { name: 'app_records' },
    ])
    expect(() => sqliteStore(betterSqlite(db), { prefix: 'x; DROP TABLE y' })).toThrow(TypeError)
  })
})

describe('fileStore', () => {
  it('ignores a torn last line (a write the process died in) and goes on writing after it', async () => {
    const file = fresh('json')
    const store = fileStore(file)
    await store.load()
    await store.write({ put: [['todos', rec('r1', 'whole')]] })
    await store.close()
    await appendFile(`${file}.log`, '{"put":[["todos",{"id":"r2","ti')
    const again = fileStore(file)
    expect((await again.load()).records).toEqual({ todos: [rec('r1', 'whole')] })
    await again.write({ put: [['todos', rec('r3', 'after')]] })
    await again.close()
    const third = fileStore(file)
    expect((await third.load()).records.todos?.map((r) => r.id).sort()).toEqual(['r1', 'r3'])
    await third.close()
  })

  it('compacts its log into the snapshot as it grows, and reads the same data back', async () => {
    const file = fresh('json')
    const store = fileStore(file, { compactBytes: 2_000 })
    await store.load()
    for (let i = 0; i < 60; i++)
      await store.write({ put: [['todos', rec(`r${i % 10}`, `title ${i}`, i + 1)]], meta: { last: i } })
    expect(statSync(`${file}.log`).size).toBeLessThan(4_000)
    await store.close()
    const again = fileStore(file)
    const snap = await again.load()
    expect(snap.records.todos).toHaveLength(10)
    expect(snap.records.todos?.find((r) => r.id === 'r9')).toEqual(rec('r9', 'title 59', 60))
    expect(snap.meta).toEqual({ last: 59 })
    expect(JSON.parse(readFileSync(file, 'utf8')).format).toBe(1)
    await again.close()
  })

  it('replays a log left behind by a compaction cut short without changing the result', async () => {
    const file = fresh('json')
    const store = fileStore(file)
    await store.load()
    await store.write({ put: [['todos', rec('r1', 'a')]], enqueue: [mut('m1', 1)] })
    await store.write({ clear: ['todos'], dequeue: ['m1'], put: [['todos', rec('r2', 'b')]] })
    await store.close()
    const log = readFileSync(`${file}.log`, 'utf8')
    const reopened = fileStore(file)
    const expected = await reopened.load()
    await reopened.close()
    // The snapshot already holds these batches: as if the process died before emptying the log.
    writeFileSync(`${file}.log`, log)
    const again = fileStore(file)
    expect(await again.load()).toEqual(expected)
    expect(expected).toEqual({ records: { todos: [rec('r2', 'b')] }, outbox: [], meta: {} })
    await again.close()
  })
})
