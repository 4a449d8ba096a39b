import { useInfiniteQuery } from '@tanstack/react-query'

/** One page of a cursor-paged admin list (audit, request log). */
export interface CursorPage<T> {
  readonly items: readonly T[]
  readonly nextCursor: string | null
}

/**
 * A cursor-paged list, newest first, `perPage` at a time: the query (for LoadMore, refresh, errors) and the
 * items of every page loaded so far. `refetchInterval` re-reads the loaded pages (a live tail).
 */
export function useCursorPages<T>(options: {
  queryKey: readonly unknown[]
  page: (p: { perPage: number; signal: AbortSignal; cursor?: string }) => Promise<CursorPage<T>>
  perPage: number
  refetchInterval?: number | false
}) {
  const query = useInfiniteQuery({
    queryKey: options.queryKey,
    queryFn: ({ pageParam, signal }) =>
      options.page({ perPage: options.perPage, signal, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: '' as string,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: options.refetchInterval ?? false,
  })
  return { query, items: query.data?.pages.flatMap((p) => p.items) ?? [] }
}

/** What LoadMore needs of a TanStack infinite query. */
export interface MorePages {
  readonly hasNextPage: boolean
  readonly isFetchingNextPage: boolean
  fetchNextPage(): Promise<unknown>
}

/**
 * Under a cursor-paged list (audit, request log): "Load more" while the server has more, then says the end
 * is reached; nothing for an empty list (the page says that itself).
 */
export function LoadMore(props: { pages: MorePages; shown: number; end: string }) {
  const { pages, shown } = props
  if (pages.hasNextPage)
    return (
      <div className="row">
        <button
          type="button"
          className="btn"
          disabled={pages.isFetchingNextPage}
          onClick={() => void pages.fetchNextPage()}
        >
          {pages.isFetchingNextPage ? 'Loading…' : 'Load more'}
        </button>
        <span className="muted">{shown} shown</span>
      </div>
    )
  return shown > 0 ? (
    <p className="muted">
      {shown} shown: {props.end}.
    </p>
  ) : null
}
