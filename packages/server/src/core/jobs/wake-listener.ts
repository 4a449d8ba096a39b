import pg from 'pg'
import type { Logger } from 'pino'

/** The channel a committed job wakes workers on; the payload is the queue's name. */
export const WAKE_CHANNEL = 'bastide_jobs'

export interface WakeListener {
  close(): Promise<void>
}

/**
 * One LISTEN connection per node: a job committed on any node (its `pg_notify` goes out with the commit)
 * wakes this node's idle workers of that queue at once, instead of at their next poll. Lost connections are
 * reopened with a growing delay; meanwhile polling carries on alone.
 */
export function listenForWakes(o: {
  readonly databaseUrl: string
  readonly log: Logger
  readonly onWake: (queue: string) => void
}): WakeListener {
  let client: pg.Client | undefined
  let closed = false
  let retryMs = 500
  let timer: NodeJS.Timeout | undefined

  const connect = async () => {
    if (closed) return
    const c = new pg.Client({ connectionString: o.databaseUrl, application_name: 'bastide-jobs-listen' })
    c.on('notification', (n) => {
      if (n.channel === WAKE_CHANNEL && n.payload) o.onWake(n.payload)
    })
    c.on('error', (err) => {
      o.log.warn({ err: err.message }, 'job wake-up connection lost')
      reconnect(c)
    })
    c.on('end', () => reconnect(c))
    client = c
    try {
      await c.connect()
      await c.query(`LISTEN ${WAKE_CHANNEL}`)
      retryMs = 500
      if (closed) await c.end().catch(() => {})
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'job wake-up connection failed')
      reconnect(c)
    }
  }
  const reconnect = (c: pg.Client) => {
    if (closed || client !== c || timer) return
    client = undefined
    c.end().catch(() => {})
    timer = setTimeout(() => {
      timer = undefined
      void connect()
    }, retryMs)
    timer.unref()
    retryMs = Math.min(retryMs * 2, 30_000)
  }
  const ready = connect()

  return {
    async close() {
      closed = true
      clearTimeout(timer)
      await ready
      const c = client
      client = undefined
      await c?.end().catch(() => {})
    },
  }
}
