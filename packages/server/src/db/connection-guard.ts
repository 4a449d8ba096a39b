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
  /** Watches `client` (a pool's 'connect'): its statements are checked on from now on. */
  watch(client: pg.ClientBase): void
  /** Stops watching `client` (a pool's 'remove'). */
  forget(client: pg.ClientBase): void
}

/** Checks of a statement the server is still working on come less and less often, up to this far apart. */
const MAX_RECHECK_MS = 30_000

/** The statement a client is waiting on, if any (pg keeps it as `_activeQuery`; pinned pg 8.23). */
function activeQuery(client: pg.ClientBase): object | null {
  const c = client as unknown as { _getActiveQuery?: () => object | null; _activeQuery?: object | null }
  return (c._getActiveQuery ? c._getActiveQuery() : c._activeQuery) ?? null
}

/**
 * Notices a PostgreSQL that stopped answering (process frozen, host or network gone) while statements wait
 * on it. Its kernel may well keep the TCP connections open and even accept new ones, so nothing fails on
 * its own: without this a request hangs until the client gives up, and the pool fills with such requests.
 *
 * A timer looks at the pool's connections a few times per `silenceMs` (nothing is added to the query path:
 * wrapping every query cost a fifth of a GET's throughput) and notes how long each has waited on the same
 * statement. One unanswered for `silenceMs` is not proof of anything (a migration, a big index, a lock wait),
 * so the server is asked, on a connection of its own, whether it answers at all. If it does, the statement
 * runs on under PostgreSQL's own statement_timeout and is checked again later. If it does not within
 * `probeTimeoutMs`, every statement waiting that long fails with a connection error (→ 503 UNAVAILABLE) and
 * its connection is closed, which the pool then drops. One check at a time serves every waiting statement.
 */
export function createConnectionGuard(opts: ConnectionGuardOptions): ConnectionGuard {
  interface Watched {
    /** The statement seen waiting, the first time it was seen, and when to check on it next. */
    query: object | null
    since: number
    nextCheck: number
    wait: number
  }
  const clients = new Map<pg.ClientBase, Watched>()
  const tick = Math.max(20, Math.min(100, Math.floor(opts.silenceMs / 4)))
  let timer: NodeJS.Timeout | undefined
  let probing = false

  const sweep = () => {
    const now = Date.now()
    const due: [pg.ClientBase, Watched][] = []
    for (const [client, w] of clients) {
      const q = activeQuery(client)
      if (q !== w.query) {
        w.query = q
        w.since = now
        w.wait = opts.silenceMs
        w.nextCheck = now + opts.silenceMs
      } else if (q !== null && w.nextCheck <= now) due.push([client, w])
    }
    if (probing || due.length === 0) return
    probing = true
    void serverAnswers(opts.connectionString, opts.probeTimeoutMs).then((alive) => {
      probing = false
      let dropped = 0
      for (const [client, w] of due) {
        // Answered meanwhile, or gone from the pool: nothing to do.
        if (clients.get(client) !== w || activeQuery(client) !== w.query) continue
        if (alive) {
          w.wait = Math.min(w.wait * 2, MAX_RECHECK_MS)
          w.nextCheck = Date.now() + w.wait
          continue
        }
        dropped++
        const err = Object.assign(
          new Error(`Connection terminated: PostgreSQL has not answered for ${Date.now() - w.since} ms`),
          { code: 'ETIMEDOUT' },
        )
        ;(
          client as unknown as { connection?: { stream?: { destroy(e: Error): void } } }
        ).connection?.stream?.destroy(err)
      }
      if (dropped > 0) opts.onUnresponsive?.(dropped)
    })
  }

  return {
    watch(client) {
      clients.set(client, { query: null, since: 0, nextCheck: 0, wait: opts.silenceMs })
      if (!timer) {
        timer = setInterval(sweep, tick)
        timer.unref()
      }
    },
    forget(client) {
      clients.delete(client)
      if (clients.size === 0 && timer) {
        clearInterval(timer)
        timer = undefined
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
