import type { BastideClient, CollectionSchema } from '@bastide/sdk'
import { recordsToCsv } from './csv.ts'
import { SYSTEM_COLUMNS } from './filter-complete.ts'
import { fieldsOf } from './values.ts'

export type ExportFormat = 'csv' | 'json'

/** The columns an export writes: system fields, then the collection's own. */
export function exportColumns(c: CollectionSchema): string[] {
  return [
    ...SYSTEM_COLUMNS,
    ...fieldsOf(c)
      .filter((f) => !f.system)
      .map((f) => f.name),
  ]
}

/**
 * Every record matching the grid's filter and sort, read page by page by cursor (500 a page), as a CSV or
 * JSON Blob. `onProgress` gets the rows read so far and the total.
 */
export async function exportRecords(
  client: BastideClient,
  c: CollectionSchema,
  o: {
    filter: string
    sort: string
    format: ExportFormat
    signal?: AbortSignal
    onProgress: (done: number, total: number | undefined) => void
  },
): Promise<Blob> {
  const coll = client.collection<Record<string, unknown> & { id: string }>(c.name)
  const rows: Record<string, unknown>[] = []
  let after: string | undefined
  let total: number | undefined
  for (;;) {
    const page = await coll.list({
      perPage: 500,
      sort: o.sort,
      ...(o.filter.trim() ? { filter: o.filter } : {}),
      ...(after ? { after } : { count: true }),
      ...(o.signal ? { signal: o.signal } : {}),
    })
    total ??= page.totalItems
    rows.push(...page.items)
    o.onProgress(rows.length, total)
    if (!page.nextCursor || page.items.length === 0) break
    after = page.nextCursor
  }
  const columns = exportColumns(c)
  if (o.format === 'json') {
    const shaped = rows.map((r) => Object.fromEntries(columns.map((k) => [k, r[k] ?? null])))
    return new Blob([JSON.stringify(shaped, null, 2)], { type: 'application/json' })
  }
  return new Blob([recordsToCsv(columns, rows)], { type: 'text/csv' })
}
