import type { RecordAction } from '@bastide/protocol'
import pg from 'pg'
import type { WebhookSubscription } from './webhooks-service.ts'

/**
 * Which (collection, action) pairs some enabled webhook wants, in memory: the record outbox asks on every write,
 * so a write nobody subscribed to costs nothing. Reloaded after this node's changes, on other nodes' NOTIFY
 * (listen), and periodically as a safety net.
 */
export interface SubscriptionIndex {
  wants(collection: string, action: RecordAction): boolean
  reload(): Promise<void>
}

export function createSubscriptionIndex(
  load: () => Promise<readonly WebhookSubscription[]>,
): SubscriptionIndex {
  let index = new Map<string, ReadonlySet<RecordAction>>()
  let loading: Promise<void> | undefined
  let again = false
  async function run(): Promise<void> {
    const next = new Map<string, Set<RecordAction>>()
    for (const s of await load()) {
      let set = next.get(s.collection)
      if (!set) next.set(s.collection, (set = new Set()))
      for (const a of s.actions) set.add(a)
    }
    index = next
  }
  function reload(): Promise<void> {
    // A reload asked for while one runs is run after it (that one may have read before the change committed).
    if (loading) {
      again = true
      return loading
    }
    loading = run().finally(() => {
      loading = undefined
      if (again) {
        again = false
        void reload().catch(() => {})
      }
    })
    return loading
  }
  return {
    wants(collection, action) {
      return index.get(collection)?.has(action) === true || index.get('*')?.has(action) === true
    },
    reload,
  }
}

/**
 * LISTENs on `channel` with a connection of its own (not one of the pool's), calling `onChange` for each
 * notification and after each (re)connection, since changes may have been missed meanwhile. Reconnects after a
 * second when the connection drops. Returns the function that stops it.
 */
export async function listenForChanges(o: {
  readonly databaseUrl: string
  readonly channel: string
  readonly onChange: () => void
  readonly onError: (err: unknown) => void
}): Promise<() => Promise<void>> {
  let stopped = false
  let client: pg.Client | undefined
  let timer: NodeJS.Timeout | undefined
  const retry = () => {
    if (stopped || timer) return
    timer = setTimeout(() => {
      timer = undefined
      void connect()
    }, 1000)
    timer.unref()
  }
  const connect = async () => {
    const c = new pg.Client({
      connectionString: o.databaseUrl,
      application_name: 'bastide-webhooks-listener',
    })
    c.on('error', (err) => {
      o.onError(err)
      if (client === c) client = undefined
      c.end().catch(() => {})
      retry()
    })
    c.on('notification', () => o.onChange())
    try {
      await c.connect()
      if (stopped) {
        await c.end()
        return
      }
      await c.query(`LISTEN ${o.channel}`)
      client = c
      o.onChange()
    } catch (err) {
      o.onError(err)
      c.end().catch(() => {})
      retry()
    }
  }
  await connect()
  return async () => {
    stopped = true
    clearTimeout(timer)
    const c = client
    client = undefined
    await c?.end().catch(() => {})
  }
}
