import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { AppError } from '../../errors/index.ts'
import type { Principal } from '../auth/principal.ts'
import type { StoredResponse } from '../idempotency/run-idempotent.ts'
import type { RecordsService } from '../records/service.ts'

interface Target {
  readonly collection: string
  /** The record version the write expects (If-Match). */
  readonly ifMatch?: number
}

/** One record write of a batch, as parsed from its request; `invalid` is a request that could not be. */
export type BatchOperation =
  | (Target & { readonly op: 'create'; readonly body: Record<string, unknown> })
  | (Target & { readonly op: 'update'; readonly id: string; readonly body: Record<string, unknown> })
  | (Target & { readonly op: 'delete'; readonly id: string })
  | { readonly op: 'invalid'; readonly error: AppError }

/**
 * Runs record writes in one transaction: all succeed or none does. The first failing operation's error is
 * returned with its index; events fire only after the whole batch commits.
 */
export async function runBatch(
  db: Db,
  records: RecordsService,
  operations: readonly BatchOperation[],
  p: Principal,
  outer?: Tx,
): Promise<StoredResponse> {
  const responses = await inTransaction(
    db,
    async (tx) => {
      const out: StoredResponse[] = []
      for (const [i, o] of operations.entries()) {
        try {
          out.push(await run(records, o, p, tx))
        } catch (err) {
          if (err instanceof AppError) {
            throw new AppError(
              err.code,
              `Request ${i} failed: ${err.message}`,
              { ...err.details, index: i },
              { status: err.status },
            )
          }
          throw err
        }
      }
      return out
    },
    outer,
  )
  return { status: 200, body: { responses } }
}

async function run(
  records: RecordsService,
  o: BatchOperation,
  p: Principal,
  tx: Tx,
): Promise<StoredResponse> {
  if (o.op === 'invalid') throw o.error
  const opts = { tx, ifMatch: o.ifMatch }
  switch (o.op) {
    case 'create':
      return { status: 201, body: await records.create(o.collection, o.body, p, opts) }
    case 'update':
      return { status: 200, body: await records.update(o.collection, o.id, o.body, p, opts) }
    case 'delete':
      await records.remove(o.collection, o.id, p, opts)
      return { status: 204, body: null }
  }
}
