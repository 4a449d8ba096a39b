import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { AppError, errors } from '../../errors/index.ts'
import type { Principal } from '../auth/principal.ts'
import type { StoredResponse } from '../idempotency/run-idempotent.ts'
import type { RecordsService } from '../records/service.ts'

export const MAX_BATCH = 100

export const batchInput = z
  .object({
    requests: z
      .array(
        z
          .object({
            method: z.enum(['POST', 'PATCH', 'DELETE']),
            path: z.string().max(500),
            // Taken as sent: z.record would rebuild the object and drop a `__proto__` key without a word,
            // where the records API answers it (VALIDATION_FAILED, unknown field).
            body: z
              .custom<Record<string, unknown>>(
                (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
                'Expected an object',
              )
              .optional(),
            headers: z.object({ 'If-Match': z.string().optional() }).partial().optional(),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_BATCH),
  })
  .strict()

export type BatchInput = z.infer<typeof batchInput>

const PATH = /^\/api\/collections\/([A-Za-z][A-Za-z0-9_]*)\/records(?:\/([^/?#]+))?$/

export function parseIfMatch(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(v.trim())
  // A precondition that cannot be evaluated fails as a precondition (HTTP 412), not as a bad request.
  if (!m)
    throw new AppError('PRECONDITION_FAILED', 'If-Match must be a record version, e.g. "3".', {
      header: 'If-Match',
    })
  return Number(m[1])
}

/**
 * Runs record writes in one transaction: all succeed or none does. The failing request's error is
 * returned with its index; events fire only after the whole batch commits.
 */
export async function runBatch(
  db: Db,
  records: RecordsService,
  input: BatchInput,
  p: Principal,
  outer?: Tx,
): Promise<StoredResponse> {
  const responses = await inTransaction(
    db,
    async (tx) => {
      const out: StoredResponse[] = []
      for (const [i, r] of input.requests.entries()) {
        try {
          const m = PATH.exec(r.path)
          if (!m) throw errors.badRequest('Batch paths are /api/collections/{name}/records[/{id}].')
          const [, name, id] = m
          const opts = { tx, ifMatch: parseIfMatch(r.headers?.['If-Match']) }
          if (r.method === 'POST' && !id)
            out.push({ status: 201, body: await records.create(name!, r.body ?? {}, p, opts) })
          else if (r.method === 'PATCH' && id)
            out.push({ status: 200, body: await records.update(name!, id, r.body ?? {}, p, opts) })
          else if (r.method === 'DELETE' && id) {
            await records.remove(name!, id, p, opts)
            out.push({ status: 204, body: null })
          } else throw errors.badRequest(`${r.method} is not allowed on ${r.path}.`)
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
