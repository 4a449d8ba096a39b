/** The system fields every record has. */
export interface BaseRecord {
  /** UUID (v7 when the server makes it; a client may supply its own). */
  readonly id: string
  /** ISO-8601 UTC. */
  readonly created: string
  /** ISO-8601 UTC. */
  readonly updated: string
  /** +1 on each update; pass it back as `version` to update only what you read. */
  readonly version: number
}

/** A list page: `GET /api/collections/{name}/records`. */
export interface ListResult<R> {
  readonly items: R[]
  readonly page: number
  readonly perPage: number
  /** Only with `count: true` (it costs one more query). */
  readonly totalItems?: number
  readonly totalPages?: number
  /** Pass as `after` to get the next page by keyset; absent on the last page. */
  readonly nextCursor?: string
}

/** What a write did to a record: the `action` of realtime changes and of the events bus. */
export type RecordAction = 'create' | 'update' | 'delete'
