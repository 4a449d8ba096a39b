import { Hono } from 'hono'
import { runBatch } from '../../core/batch/run-batch.ts'
import type { RecordsService } from '../../core/records/service.ts'
import type { Db } from '../../db/create-db.ts'
import type { AppEnv } from '../context.ts'
import { respondIdempotent } from '../middleware/idempotency.ts'
import { jsonBody } from '../middleware/json-body.ts'
import { parseBatch } from '../parse-batch.ts'

export function batchRoutes(deps: { db: Db; records: RecordsService }) {
  const r = new Hono<AppEnv>()
  r.post('/', async (c) => {
    const body = await jsonBody(c)
    const operations = parseBatch(body)
    return respondIdempotent(c, deps.db, body, (tx) =>
      runBatch(deps.db, deps.records, operations, c.var.principal, tx),
    )
  })
  return r
}
