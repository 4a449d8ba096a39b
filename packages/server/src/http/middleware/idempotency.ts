import type { Context } from 'hono'
import {
  idempotencyScope,
  requestHash,
  runIdempotent,
  type StoredResponse,
} from '../../core/idempotency/run-idempotent.ts'
import type { Db } from '../../db/create-db.ts'
import type { Tx } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../context.ts'
import { sendJson } from '../native.ts'

/**
 * Answers a write, honouring `Idempotency-Key`: the first request runs `fn` and stores its response in
 * the same transaction; a retry from the same caller (see idempotencyScope) with the same key and body gets
 * that response back.
 */
export async function respondIdempotent(
  c: Context<AppEnv>,
  db: Db,
  body: unknown,
  fn: (tx: Tx | undefined) => Promise<StoredResponse>,
): Promise<Response> {
  const key = c.req.header('idempotency-key')
  if (key !== undefined && !/^[A-Za-z0-9._:-]{1,255}$/.test(key)) {
    throw errors.badRequest('Idempotency-Key must be 1–255 characters of letters, digits and . _ : -', {
      header: 'Idempotency-Key',
    })
  }
  const principal = key === undefined ? undefined : idempotencyScope(c.get('principal'), c.get('clientIp')())
  let res: StoredResponse & { replayed?: boolean }
  if (key === undefined || principal === undefined) res = await fn(undefined)
  else {
    const u = new URL(c.req.url)
    const hash = requestHash(c.req.method, u.pathname + u.search, c.req.header('if-match'), body)
    res = await runIdempotent(db, { principal, key, hash }, (tx) => fn(tx))
    if (res.replayed) c.header('Idempotency-Replayed', 'true')
  }
  if (res.status === 204) return c.body(null, 204)
  // A replay carries a header of its own (rare): through hono. Otherwise straight through Node's response.
  if (res.replayed) return c.json(res.body as object, res.status as 200)
  return sendJson(c, res.status, JSON.stringify(res.body))
}
