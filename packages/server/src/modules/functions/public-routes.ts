import { FUNCTIONS_ERROR_STATUS, type FunctionsErrorCode } from '@bastide/protocol'
import { type Context, Hono } from 'hono'
import type { FunctionEngine } from '../../core/functions/function-engine.ts'
import { functionError } from '../../core/functions/runtime/function-error.ts'
import { FUNCTION_NAME } from '../../core/functions/validate-manifest.ts'
import { AppError } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304])
/** Connection-level headers: the server sets its own; a function's would break the framing. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length'])

/**
 * ANY /api/functions/:name and everything under it: the function's own answer. The request body streams into
 * the sandbox (within BASTIDE_BODY_LIMIT, as for every route) and the response streams back out. The caller's
 * identity is the function's `ctx.client` (or an admin's, for a privileged function).
 */
export function functionHttpRoutes(deps: { readonly engine: FunctionEngine; readonly baseUrl: string }) {
  const { engine } = deps
  const r = new Hono<AppEnv>()
  const handle = async (c: Context<AppEnv>) => {
    const name = c.req.param('name') ?? ''
    const f = FUNCTION_NAME.test(name) ? await engine.find(name) : undefined
    const http = f?.triggers.flatMap((t) => ('http' in t ? [t.http] : []))
    if (!f || !http?.length)
      throw functionError('FUNCTION_NOT_FOUND', `No function answers at /api/functions/${name}.`)
    const method = c.req.method
    const allowed = http.flatMap((h) => (h === true ? ['*'] : (h.methods ?? ['*'])))
    if (
      !allowed.includes('*') &&
      !allowed.includes(method) &&
      !(method === 'HEAD' && allowed.includes('GET'))
    )
      throw new AppError(
        'BAD_REQUEST',
        `This function does not answer ${method}.`,
        { allowed },
        { status: 405 },
      )
    const url = new URL(c.req.url)
    const credential = /^Bearer\s+(bst_fn_\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1]
    const { invocationId, result } = await engine.invokeHttp(
      f,
      {
        method,
        url: new URL(`${url.pathname}${url.search}`, deps.baseUrl).toString(),
        // Never the caller's credentials: ctx.client already acts as the caller, and a function (or what it calls,
        // or logs) must not hold a token it could use after the invocation, or as someone else.
        headers: [...c.req.raw.headers].filter(([k]) => k !== 'authorization' && k !== 'cookie'),
        body: method === 'GET' || method === 'HEAD' ? null : c.req.raw.body,
      },
      c.var.principal,
      credential,
    )
    const res = result.response
    // Whatever it answers, 5xx included, is the function's doing, not a fault of the server's (request-id.ts).
    c.set('upstream', true)
    if (result.status === 'ok' && res) {
      const headers = new Headers()
      for (const [k, v] of res.headers) if (!HOP_BY_HOP.has(k.toLowerCase())) headers.append(k, v)
      const empty = NULL_BODY.has(res.status) || method === 'HEAD'
      if (empty) await res.body.cancel().catch(() => {})
      return new Response(empty ? null : res.body, { status: res.status, headers })
    }
    await res?.body.cancel().catch(() => {})
    const timedOut = result.status === 'timeout' || result.status === 'killed'
    return failure(
      c,
      timedOut ? 'FUNCTION_TIMEOUT' : 'FUNCTION_FAILED',
      timedOut
        ? 'The function did not answer in time (or went over its memory limit).'
        : 'The function failed; its invocation log has the error.',
      invocationId,
    )
  }
  r.all('/:name', handle)
  r.all('/:name/*', handle)
  return r
}

/**
 * 502 and 504 are the function's failures, not the server's: answered here in the one error shape (the error
 * handler would make any 5xx but 503 an INTERNAL 500).
 */
function failure(
  c: Context<AppEnv>,
  code: FunctionsErrorCode,
  message: string,
  invocation: string,
): Response {
  const status = FUNCTIONS_ERROR_STATUS[code]
  return c.json({ code, message, status, details: { invocation } }, status as 502)
}
