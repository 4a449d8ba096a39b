import { z } from 'zod'
import type { BatchOperation } from '../core/batch/run-batch.ts'
import { AppError, errors } from '../errors/index.ts'
import { parseIfMatch } from './parse-if-match.ts'

export const MAX_BATCH = 100

export const batchInput = z
  .object({
    requests: z
      .array(
        z
          .object({
            method: z.enum(['POST', 'PATCH', 'DELETE']),
            path: z.string().max(500).describe('e.g. `/api/collections/posts/records`.'),
            // Taken as sent: z.record would rebuild the object and drop a `__proto__` key without a word,
            // where the records API answers it (VALIDATION_FAILED, unknown field).
            body: z
              .custom<Record<string, unknown>>(
                (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
                'Expected an object',
              )
              .optional()
              // z.custom has no JSON Schema of its own: this is its shape in /api/openapi.json.
              .meta({ type: 'object', additionalProperties: {} }),
            headers: z.object({ 'If-Match': z.string().optional() }).partial().optional(),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_BATCH),
  })
  .strict()

export type BatchRequest = z.infer<typeof batchInput>['requests'][number]

const PATH = /^\/api\/collections\/([A-Za-z][A-Za-z0-9_]*)\/records(?:\/([^/?#]+))?$/

/**
 * POST /api/batch's body as record operations. The body's shape is checked at once (400 for the whole
 * batch); a request with a path, method or If-Match it cannot run becomes an `invalid` operation, which
 * fails at its turn, so that the first failing request, in order, is the one reported.
 */
export function parseBatch(body: unknown): BatchOperation[] {
  return batchInput.parse(body).requests.map((r) => {
    try {
      return toOperation(r)
    } catch (err) {
      if (err instanceof AppError) return { op: 'invalid', error: err }
      throw err
    }
  })
}

/** `/api/collections/{name}/records[/{id}]` with POST (no id), PATCH or DELETE (with one). */
function toOperation(r: BatchRequest): BatchOperation {
  const m = PATH.exec(r.path)
  if (!m) throw errors.badRequest('Batch paths are /api/collections/{name}/records[/{id}].')
  const collection = m[1]!
  const id = m[2]
  const ifMatch = parseIfMatch(r.headers?.['If-Match'])
  const common = { collection, ...(ifMatch !== undefined ? { ifMatch } : {}) }
  if (r.method === 'POST' && !id) return { op: 'create', ...common, body: r.body ?? {} }
  if (r.method === 'PATCH' && id) return { op: 'update', ...common, id, body: r.body ?? {} }
  if (r.method === 'DELETE' && id) return { op: 'delete', ...common, id }
  throw errors.badRequest(`${r.method} is not allowed on ${r.path}.`)
}
