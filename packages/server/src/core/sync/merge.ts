import type { SyncMergeEvent, SyncMergeResult } from '@bastide/protocol'
import type { FunctionEngine } from '../functions/function-engine.ts'
import { functionError } from '../functions/runtime/function-error.ts'

/** Runs a collection's merge function (the `function` conflict policy) on one conflicting mutation. */
export type MergeRunner = (fnName: string, event: SyncMergeEvent) => Promise<SyncMergeResult>

/**
 * A MergeRunner over the functions engine: the function's `{ sync: 'merge' }` trigger runs now, in the push, which
 * calls it with no transaction open (core/sync/push.ts: no connection or row lock is held while it runs). Its
 * failures are AppErrors the push answers the mutation with (nothing written): FUNCTION_NOT_FOUND when the
 * function is gone or has no sync trigger, FUNCTION_TIMEOUT when it ran out of time or memory, FUNCTION_FAILED
 * when it threw or returned something else than `{ data: {...} }` or `{ keep: 'server' }`. As for HTTP triggers,
 * the function's own error stays in its invocation log (`details.invocation`): it may name internals.
 */
export function createMergeRunner(functions: Pick<FunctionEngine, 'runSync'>): MergeRunner {
  return async (fnName, event) => {
    const run = await functions.runSync(fnName, event)
    if (!run)
      throw functionError(
        'FUNCTION_NOT_FOUND',
        `The merge function "${fnName}" is not deployed, or has no { sync: 'merge' } trigger.`,
      )
    const { result, invocation } = run
    const details = { invocation: invocation.id }
    if (result.status === 'timeout' || result.status === 'killed')
      throw functionError(
        'FUNCTION_TIMEOUT',
        'The merge function did not answer in time (or went over its memory limit).',
        details,
      )
    if (result.status !== 'ok')
      throw functionError(
        'FUNCTION_FAILED',
        'The merge function failed; its invocation log has the error.',
        details,
      )
    const merged = asMergeResult(result.value)
    if (!merged)
      throw functionError(
        'FUNCTION_FAILED',
        "The merge function must return { data: {...} } or { keep: 'server' }.",
        details,
      )
    return merged
  }
}

function asMergeResult(v: unknown): SyncMergeResult | undefined {
  if (!isObject(v)) return undefined
  if (v.keep === 'server' && !('data' in v)) return { keep: 'server' }
  if (isObject(v.data) && !('keep' in v)) return { data: v.data }
  return undefined
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)
