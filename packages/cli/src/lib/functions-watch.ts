import fs from 'node:fs'
import path from 'node:path'
import type { BastideClient } from '@bastide/sdk'
import { CliError, EXIT } from './exit-codes.ts'
import { findFunctions, type LocalFunction } from './functions-bundle.ts'
import { type DeployOutcome, deployFunction } from './functions-deploy.ts'

/**
 * `bastide functions serve`: deploys every function under `dir`, then watches `dir` and redeploys a function when a
 * file it was built from changes (its folder, or shared code under `functions/_lib/` it imports), or when a new
 * function folder appears. Changes are gathered for `debounceMs` (an editor's save is several events), and rounds
 * never overlap. Resolves once `signal` aborts and the round under way has finished.
 */
export async function watchFunctions(o: {
  readonly dir: string
  readonly client: BastideClient
  readonly signal: AbortSignal
  readonly onOutcome: (outcome: DeployOutcome) => void
  /** Something went wrong that the next change may fix (the server restarting, a bad folder name). */
  readonly onProblem: (message: string) => void
  /** After each round (the first included): for tests and the "watching" note. */
  readonly onIdle?: () => void
  readonly debounceMs?: number
}): Promise<void> {
  if (!fs.existsSync(o.dir))
    throw new CliError(
      `${o.dir} does not exist: create a function first (bastide functions new <name>).`,
      EXIT.failed,
      'NO_FUNCTIONS',
    )
  /** The files each function was last built from. */
  const inputs = new Map<string, ReadonlySet<string>>()
  const pending = new Set<string>()
  let all = true
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined

  const round = async () => {
    const wanted = all ? undefined : new Set(pending)
    all = false
    pending.clear()
    let fns: LocalFunction[]
    try {
      fns = findFunctions(o.dir)
    } catch (err) {
      o.onProblem((err as Error).message)
      return
    }
    for (const gone of [...inputs.keys()].filter((n) => !fns.some((f) => f.name === n))) {
      inputs.delete(gone)
      o.onProblem(
        `${gone}: its folder is gone; it stays deployed (bastide functions delete ${gone} removes it).`,
      )
    }
    for (const fn of fns) {
      if (o.signal.aborted) return
      if (wanted && !wanted.has(fn.name) && inputs.has(fn.name)) continue
      try {
        const { outcome, bundle } = await deployFunction(o.client, fn)
        if (bundle) inputs.set(fn.name, new Set(bundle.inputs))
        else if (!inputs.has(fn.name)) inputs.set(fn.name, new Set([fn.entry]))
        o.onOutcome(outcome)
      } catch (err) {
        // The server is unreachable or refused the key: keep watching, the next save tries again.
        if (!(err instanceof CliError)) throw err
        if (!inputs.has(fn.name)) inputs.set(fn.name, new Set([fn.entry]))
        o.onProblem(`${fn.name}: ${err.message}`)
      }
    }
  }

  const schedule = () => {
    if (timer) clearTimeout(timer)
    timer = setTimeout(kick, o.debounceMs ?? 100)
  }
  const kick = () => {
    timer = undefined
    if (running || o.signal.aborted) return
    running = round()
      .catch((err: unknown) => o.onProblem(`unexpected: ${(err as Error)?.stack ?? String(err)}`))
      .finally(() => {
        running = undefined
        if (pending.size > 0 || all) schedule()
        else o.onIdle?.()
      })
  }

  const watcher = fs.watch(o.dir, { recursive: true }, (_event, filename) => {
    if (!filename) {
      all = true
    } else {
      const rel = filename.toString()
      const file = path.join(o.dir, rel)
      const top = rel.split(path.sep)[0]!
      if (top !== 'node_modules' && !/^[_.]/.test(top)) pending.add(top)
      for (const [name, files] of inputs) if (files.has(file)) pending.add(name)
    }
    if (pending.size > 0 || all) schedule()
  })
  kick()
  await new Promise<void>((resolve) => {
    if (o.signal.aborted) resolve()
    else o.signal.addEventListener('abort', () => resolve(), { once: true })
  })
  watcher.close()
  if (timer) clearTimeout(timer)
  await running
}

/** An AbortSignal that aborts on Ctrl-C (SIGINT) or SIGTERM; `dispose` removes the handlers. */
export function untilInterrupted(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController()
  const stop = () => ac.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    },
  }
}
