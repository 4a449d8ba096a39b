import pg from 'pg'

export interface ConnectionGuardOptions {
  readonly connectionString: string
  /** A statement unanswered for this long has the server checked on. */
  readonly silenceMs: number
  /** How long the check (a fresh connection and `SELECT 1`) may take before the server counts as gone. */
  readonly probeTimeoutMs: number
  /** Called once per check that found the server gone, with the number of connections dropped. */
  readonly onUnresponsive?: (dropped: number) => void
}

export interface ConnectionGuard {
  /** Watches the statements `client` sends from now on (wraps its `query`). */
  watch(client: pg.ClientBase): void
}

/** Checks of a statement the server is still working on come less and less often, up to this far apart. */
const MAX_RECHECK_MS = 30_000

/**
 * Notices a PostgreSQL that stopped answering (process frozen, host or network gone) while statements wait
 * on it. Its kernel may well keep the TCP connections open and even accept new ones, so nothing fails on
 * its own: without this a request hangs until the client gives up, and the pool fills with such requests.
 *
 * A statement unanswered for `silenceMs` is not proof of anything (a migration, a big index, a lock wait),
 * so the server is asked, on a connection of its own, whether it answers at all. If it does, the statement
 * runs on under PostgreSQL's own statement_timeout and is checked again later. If it does not within
 * `probeTimeoutMs`, every statement waiting that long fails with a connection error (→ 503 UNAVAILABLE) and
 * its connection is closed, which the pool then drops. One check at a time serves every waiting statement.
 */
export function createConnectionGuard(opts: ConnectionGuardOptions): ConnectionGuard {
  interface Waiting {
    readonly client: pg.ClientBase
    readonly since: number
    nextCheck: number
    wait: number
  }
  const waiting = new Set<Waiting>()
  let sweeper: NodeJS.Timeout | undefined
  let probing = false

  const sweep = () => {
    if (waiting.size === 0) {
      clearInterval(sweeper)
      sweeper = undefined
      return
    }
    if (probing) return
    const started = Date.now()
    const due = [...waiting].filter((w) => w.nextCheck <= started)
    if (due.length === 0) return
    probing = true
    void serverAnswers(opts.connectionString, opts.probeTimeoutMs).then((alive) => {
      probing = false
      let dropped = 0
      for (const w of due) {
        if (!waiting.has(w)) continue
        if (alive) {
          w.wait = Math.min(w.wait * 2, MAX_RECHECK_MS)
          w.nextCheck = Date.now() + w.wait
          continue
        }
        waiting.delete(w)
        dropped++
        const err = Object.assign(
          new Error(`Connection terminated: PostgreSQL has not answered for ${Date.now() - w.since} ms`),
          { code: 'ETIMEDOUT' },
        )
        ;(
          w.client as unknown as { connection?: { stream?: { destroy(e: Error): void } } }
        ).connection?.stream?.destroy(err)
      }
      if (dropped > 0) opts.onUnresponsive?.(dropped)
    })
  }

  return {
    watch(client) {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const result = query(...args)
        // Promise-style calls only (what Kysely and our own code make); callbacks and cursors pass as they are.
        if (!(result instanceof Promise)) return result
        const since = Date.now()
        const w: Waiting = { client, since, nextCheck: since + opts.silenceMs, wait: opts.silenceMs }
        waiting.add(w)
        if (!sweeper) {
          sweeper = setInterval(sweep, Math.max(25, Math.floor(opts.silenceMs / 4)))
          sweeper.unref()
        }
        const done = () => void waiting.delete(w)
        result.then(done, done)
        return result
      }
    },
  }
}

/**
 * Whether PostgreSQL answers at all within `timeoutMs`: a new connection and `SELECT 1`. An error the server
 * sends (too many connections, starting up, shutting down) is an answer too; silence, a refused or reset
 * connection are not.
 */
async function serverAnswers(connectionString: string, timeoutMs: number): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeoutMs })
  client.on('error', () => {})
  const kill = () =>
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy()
  const timer = setTimeout(kill, timeoutMs)
  let alive = false
  try {
    await client.connect()
    await client.query('SELECT 1')
    alive = true
  } catch (err) {
    alive = err instanceof pg.DatabaseError
  } finally {
    clearTimeout(timer)
    if (alive) void client.end().catch(() => {})
    else kill()
  }
  return alive
}
