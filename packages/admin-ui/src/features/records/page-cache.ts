/**
 * The grid's rows, fetched page by page as the viewport needs them. A page is loaded by cursor when the
 * page before it is known (its `nextCursor`), else by its number (a jump to the end of 100,000 rows fetches the
 * last page only, not the 499 before it). Rows are patched in place by id for live updates and edits.
 */
export interface PageResult<R> {
  readonly items: readonly R[]
  readonly nextCursor?: string | null | undefined
  readonly totalItems?: number | undefined
}

/** How to ask for page `index` (0-based): after a cursor, or by its 1-based number. */
export type PageRequest = { readonly after: string } | { readonly page: number }

export class PageCache<R extends { readonly id: string }> {
  readonly #pages = new Map<number, R[]>()
  readonly #cursors = new Map<number, string>()
  readonly #pending = new Set<number>()
  /** Rows in the collection (for the scrollbar), once known. */
  total: number | undefined

  constructor(readonly pageSize: number) {}

  /** The row at `index`, or undefined while its page is not loaded. */
  rowAt(index: number): R | undefined {
    return this.#pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize]
  }

  /** Pages covering rows `from..to` (inclusive) that are neither loaded nor loading. */
  missing(from: number, to: number): number[] {
    const out: number[] = []
    const last = this.total === undefined ? to : Math.min(to, this.total - 1)
    for (let p = Math.floor(Math.max(0, from) / this.pageSize); p <= Math.floor(last / this.pageSize); p++)
      if (!this.#pages.has(p) && !this.#pending.has(p)) out.push(p)
    return out
  }

  /** The request for page `index`, marked as loading. */
  begin(index: number): PageRequest {
    this.#pending.add(index)
    const after = this.#cursors.get(index)
    return after !== undefined ? { after } : { page: index + 1 }
  }

  /** A page's answer: its rows, the cursor to the next page, the total when counted. */
  store(index: number, res: PageResult<R>): void {
    this.#pending.delete(index)
    this.#pages.set(index, [...res.items])
    if (res.totalItems !== undefined) this.total = res.totalItems
    if (res.nextCursor) this.#cursors.set(index + 1, res.nextCursor)
    else this.total = index * this.pageSize + res.items.length
  }

  /** A page that failed: it may be asked again. */
  fail(index: number): void {
    this.#pending.delete(index)
  }

  get loadedPages(): number {
    return this.#pages.size
  }

  /** Replaces the row with `row.id` wherever it is loaded; true when found. */
  patch(row: R): boolean {
    for (const items of this.#pages.values()) {
      const i = items.findIndex((r) => r.id === row.id)
      if (i >= 0) {
        items[i] = row
        return true
      }
    }
    return false
  }

  /** The loaded row with this id. */
  find(id: string): R | undefined {
    for (const items of this.#pages.values()) {
      const r = items.find((x) => x.id === id)
      if (r) return r
    }
    return undefined
  }

  /** Every loaded row, in order (for "select all loaded"). */
  loaded(): R[] {
    return [...this.#pages.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, rows]) => rows)
  }
}
