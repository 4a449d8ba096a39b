import type { BastideClient } from '@bastide/sdk'
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { PageCache } from './page-cache.ts'
import type { Rec } from './values.ts'

export const PAGE_SIZE = 150

export interface RecordQuery {
  readonly collection: string
  readonly filter: string
  readonly sort: string
  readonly expand: readonly string[]
}

/**
 * The grid's data: pages fetched by cursor as the viewport asks for them (see PageCache), plus the rows that
 * arrive live (created since the grid loaded, shown on top) and those deleted meanwhile. A new query (filter,
 * sort, expand) starts a new cache.
 */
export function useRecordPages(client: BastideClient, q: RecordQuery) {
  const [generation, setGeneration] = useState(0)
  const refresh = useCallback(() => setGeneration((g) => g + 1), [])
  const refreshRef = useRef(refresh)
  refreshRef.current = refresh
  const key = `${JSON.stringify(q)}#${generation}`
  const cache = useMemo(() => {
    void key
    return new PageCache<Rec>(PAGE_SIZE)
  }, [key])
  const cacheRef = useRef(cache)
  cacheRef.current = cache
  const [version, setVersion] = useState(0)
  const [error, setError] = useState<unknown>(null)
  const [fresh, setFresh] = useState<Rec[]>([])
  const [deleted, setDeleted] = useState<ReadonlySet<string>>(new Set())
  const [requests, setRequests] = useState(0)
  const bump = useCallback(() => setVersion((v) => v + 1), [])
  const qRef = useRef(q)
  qRef.current = q
  const controllers = useRef(new Map<AbortController, number>())

  const ensure = useCallback(
    (from: number, to: number) => {
      for (const index of cache.missing(from, to)) {
        const req = cache.begin(index)
        const ctl = new AbortController()
        controllers.current.set(ctl, index)
        const cur = qRef.current
        setRequests((n) => n + 1)
        client
          .collection<Rec>(cur.collection)
          .list({
            ...req,
            perPage: PAGE_SIZE,
            ...(cur.filter.trim() ? { filter: cur.filter } : {}),
            sort: cur.sort,
            ...(cur.expand.length ? { expand: cur.expand as never[] } : {}),
            ...(cache.total === undefined ? { count: true } : {}),
            signal: ctl.signal,
          })
          .then(
            (res) => {
              if (ctl.signal.aborted) return
              cache.store(index, res as never)
              setError(null)
              bump()
            },
            (e) => {
              cache.fail(index)
              if (!ctl.signal.aborted) setError(e)
            },
          )
          .finally(() => controllers.current.delete(ctl))
      }
    },
    [cache, client, bump],
  )

  // A new query: drop what was in flight, start from the first page.
  useEffect(() => {
    setFresh([])
    setDeleted(new Set())
    setError(null)
    ensure(0, PAGE_SIZE - 1)
    const running = controllers.current
    return () => {
      // Pages in flight are dropped now (not when their abort lands), so the next run asks for them again.
      for (const [c, index] of running) {
        c.abort()
        cache.fail(index)
      }
      running.clear()
    }
  }, [ensure, cache])

  // Live rows through realtime, under the same filter.
  useEffect(() => {
    const coll = client.collection<Rec>(q.collection)
    const onChange = (change: { action: string; record?: unknown }) => {
      if (change.action === 'resync') {
        refreshRef.current()
        return
      }
      const r = change.record as Rec | undefined
      if (!r) return
      if (change.action === 'create') {
        setFresh((list) =>
          list.some((x) => x.id === r.id) || cacheRef.current.find(r.id) ? list : [r, ...list],
        )
      } else if (change.action === 'update') {
        // Keep the expansion the grid asked for: the change carries the record without it.
        const keep = (old: Rec | undefined) => (old?.expand ? { ...r, expand: old.expand } : r)
        if (cacheRef.current.patch(keep(cacheRef.current.find(r.id)))) bump()
        setFresh((list) => list.map((x) => (x.id === r.id ? keep(x) : x)))
      } else if (change.action === 'delete') {
        setDeleted((s) => new Set(s).add(r.id))
      }
    }
    const stop = q.filter.trim() ? coll.subscribe(q.filter, onChange) : coll.subscribe(onChange)
    return stop
  }, [client, q.collection, q.filter, bump])

  const rowCount = fresh.length + (cache.total ?? cache.loadedPages * PAGE_SIZE)
  // biome-ignore lint/correctness/useExhaustiveDependencies: version marks a page stored in the cache
  const rowAt = useCallback(
    (i: number): Rec | undefined => (i < fresh.length ? fresh[i] : cache.rowAt(i - fresh.length)),
    [fresh, cache, version],
  )
  const ensureRows = useCallback(
    (from: number, to: number) => ensure(Math.max(0, from - fresh.length), to - fresh.length),
    [ensure, fresh.length],
  )
  /** Writes a row the console saved (an edit, the form) into the grid at once. */
  const putRow = useCallback(
    (r: Rec, created = false) => {
      if (cache.patch(r)) bump()
      else if (created) setFresh((list) => (list.some((x) => x.id === r.id) ? list : [r, ...list]))
      setFresh((list) => list.map((x) => (x.id === r.id ? r : x)))
    },
    [cache, bump],
  )
  return {
    refresh,
    rowCount,
    rowAt,
    ensureRows,
    putRow,
    error,
    deleted,
    requests,
    freshCount: fresh.length,
    total: cache.total,
    loaded: () => [...fresh, ...cache.loaded()],
  }
}
