import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import type { Db } from '../../db/create-db.ts'
import type { Principal } from './principal.ts'

/** The channel the auth migration's triggers notify (see modules/auth/migrations/0003-session-notify.ts). */
export const AUTH_CHANNEL = 'bastide_auth'
/** Sessions one node keeps at most; past that, the oldest entry goes. */
const MAX_ENTRIES = 10_000
/**
 * An entry is looked up again after this long anyway: what a listener that died without a word (a silent
 * network loss, noticed only when TCP gives up) may miss is bounded by it.
 */
const MAX_AGE_MS = 30_000
/** A barrier not heard back within this counts as a lost listener. */
const BARRIER_TIMEOUT_MS = 2000
const RECONNECT_MS = 1000

export type UserPrincipal = Extract<Principal, { kind: 'user' }>

/** A live session as its lookup found it: the principal, its session id, when the session expires (ms). */
export interface LiveSession {
  readonly sid: string
  readonly principal: UserPrincipal
  readonly expiresAt: number
}

type Load = () => Promise<LiveSession | undefined>

export interface SessionCache {
  /** The principal of session `sid`: from the cache, or `load` (then cached). */
  bySid(sid: string, load: Load): Promise<UserPrincipal | undefined>
  /** The principal of the session whose stored token is `token`: from the cache, or `load` (then cached). */
  byToken(token: string, load: Load): Promise<UserPrincipal | undefined>
  /**
   * Runs `work` (a request that may change sessions or users) with the cache held: from its start until every
   * change it committed has been heard, lookups on this node skip the cache and read the database. The hold
   * ends in the background (see `barrier`), so `work`'s answer is not delayed, however it is sent.
   */
  changing<T>(work: () => Promise<T>): Promise<T>
  /**
   * Resolves once every session and user change committed before the call has reached this node's cache
   * (or the cache was emptied). Never rejects.
   */
  barrier(): Promise<void>
  /** Whether the node is listening, hence caching. */
  readonly listening: boolean
  close(): Promise<void>
}

interface Entry {
  readonly principal: UserPrincipal
  readonly userId: string
  /** Expiry of the session or MAX_AGE_MS after the lookup, whichever comes first. */
  readonly until: number
  token?: string
}

/**
 * Live sessions cached per node, so that an access JWT costs no query, while signing out, a password reset,
 * a ban, a deletion or any edit of the user's row still ends or changes access at once.
 *
 * Triggers on bastide.auth_sessions, data.users and the users collection's catalog row NOTIFY every change
 * at commit, whatever wrote it (better-auth, the console, the records API, SQL by hand); each node LISTENs on
 * its own connection and drops what a notice names. Only live sessions are cached (a banned user is no
 * principal), each hit re-checks the session's expiry, and nothing is cached unless the node is listening:
 * on connecting, reconnecting and on losing the connection the cache is emptied.
 *
 * - On this node, changes are seen by the very next request: requests that may change sessions or users run
 *   under `changing()` (see http/middleware/session-barrier.ts), which holds the cache from before their first
 *   write until a barrier of ours comes back through the listener. PostgreSQL delivers notices in commit
 *   order, so by then every notice of theirs has been heard; a request that comes in the meantime (after the
 *   answer, however fast) reads the database, which the write has already committed to.
 * - On other nodes, a change lands when their listener hears its notice: milliseconds later.
 * - A lookup that was under way while a notice arrived is not cached: its row may predate the change.
 */
export async function createSessionCache(deps: {
  readonly db: Db
  readonly databaseUrl: string
  readonly onError: (err: unknown) => void
}): Promise<SessionCache> {
  const entries = new Map<string, Entry>()
  const sidByToken = new Map<string, string>()
  const sidsByUser = new Map<string, Set<string>>()
  /** Moves on every change heard and every reset: a lookup started under another epoch is not cached. */
  let epoch = 0
  /** Requests under `changing()` not yet heard back: while any, hits are not trusted. */
  let holds = 0
  const barriers = new Map<string, () => void>()
  const listener = listen({
    databaseUrl: deps.databaseUrl,
    onNotice: (payload) => heard(payload),
    onListening: () => clear(),
    onLost: (err) => {
      if (err) deps.onError(err)
      clear()
      // Nothing is cached any more: a barrier has nothing left to wait for.
      for (const done of barriers.values()) done()
    },
  })

  const drop = (sid: string) => {
    const e = entries.get(sid)
    if (!e) return
    entries.delete(sid)
    if (e.token) sidByToken.delete(e.token)
    const sids = sidsByUser.get(e.userId)
    sids?.delete(sid)
    if (sids?.size === 0) sidsByUser.delete(e.userId)
  }

  const clear = () => {
    epoch++
    entries.clear()
    sidByToken.clear()
    sidsByUser.clear()
  }

  const heard = (payload: string) => {
    const [kind, id] = [payload.slice(0, 2), payload.slice(2)]
    if (kind === 'b:') return barriers.get(id)?.()
    epoch++
    if (kind === 's:') drop(id)
    else if (kind === 'u:') for (const sid of [...(sidsByUser.get(id) ?? [])]) drop(sid)
    else clear()
  }

  const hit = (sid: string | undefined): UserPrincipal | undefined => {
    const e = sid === undefined || holds > 0 ? undefined : entries.get(sid)
    if (!e) return undefined
    if (Date.now() < e.until) return e.principal
    drop(sid!)
    return undefined
  }

  /** Caches what `load` found, unless a notice or a reset came while it ran (its row may predate them). */
  const lookup = async (load: Load, token?: string) => {
    const at = epoch
    const live = await load()
    if (!live || at !== epoch || !listener.listening) return live?.principal
    const { sid, principal } = live
    const kept = entries.get(sid)
    if (!kept) {
      if (entries.size >= MAX_ENTRIES) drop(entries.keys().next().value!)
      const e: Entry = {
        principal,
        userId: principal.id,
        until: Math.min(live.expiresAt, Date.now() + MAX_AGE_MS),
      }
      entries.set(sid, e)
      const sids = sidsByUser.get(e.userId) ?? new Set()
      sidsByUser.set(e.userId, sids.add(sid))
    }
    const e = entries.get(sid)!
    if (token && !e.token) {
      e.token = token
      sidByToken.set(token, sid)
    }
    return principal
  }

  const barrier = async () => {
    if (!listener.listening) return
    const nonce = randomUUID()
    let timer: NodeJS.Timeout | undefined
    const back = new Promise<boolean>((resolve) => {
      barriers.set(nonce, () => resolve(true))
      timer = setTimeout(() => resolve(false), BARRIER_TIMEOUT_MS)
    })
    try {
      await sql`SELECT pg_notify(${AUTH_CHANNEL}, ${`b:${nonce}`})`.execute(deps.db)
      // Not heard back: the listener may be gone without a word; start over on a new connection.
      if (!(await back)) listener.restart()
    } catch {
      // Whether our notices were all heard is unknown: nothing cached can be trusted.
      clear()
    } finally {
      clearTimeout(timer)
      barriers.delete(nonce)
    }
  }

  const changing = async <T>(work: () => Promise<T>): Promise<T> => {
    holds++
    try {
      return await work()
    } finally {
      void barrier().finally(() => {
        holds--
      })
    }
  }

  await listener.started
  return {
    bySid: async (sid, load) => hit(sid) ?? lookup(load),
    byToken: async (token, load) => hit(sidByToken.get(token)) ?? lookup(load, token),
    changing,
    barrier,
    get listening() {
      return listener.listening
    },
    async close() {
      await listener.stop()
      clear()
      for (const done of barriers.values()) done()
    },
  }
}

/**
 * LISTENs on AUTH_CHANNEL on a connection of its own, reconnecting RECONNECT_MS after a loss. `listening` is
 * true from the moment LISTEN has taken effect (`onListening`) to the moment the connection is lost or
 * dropped (`onLost`): notices committed in between all reach `onNotice`, in commit order.
 */
function listen(o: {
  readonly databaseUrl: string
  readonly onNotice: (payload: string) => void
  readonly onListening: () => void
  readonly onLost: (err?: unknown) => void
}) {
  let stopped = false
  let client: pg.Client | undefined
  let timer: NodeJS.Timeout | undefined
  /** Connections already ended: pg may report one end several ways (error, then end). */
  const ended = new WeakSet<pg.Client>()
  const retry = () => {
    if (stopped || timer) return
    timer = setTimeout(() => {
      timer = undefined
      void connect()
    }, RECONNECT_MS)
    timer.unref()
  }
  /** Ends `c` once, whatever reported its end first (error, end, a failed start, a restart). */
  const lose = (c: pg.Client, err?: unknown) => {
    if (ended.has(c)) return
    ended.add(c)
    const was = client === c
    if (was) client = undefined
    c.end().catch(() => {})
    if (was || err) o.onLost(err)
    retry()
  }
  const connect = async () => {
    const c = new pg.Client({
      connectionString: o.databaseUrl,
      application_name: 'bastide-auth-listener',
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    })
    c.on('error', (err) => lose(c, err))
    c.on('end', () => lose(c))
    c.on('notification', (n) => o.onNotice(n.payload ?? ''))
    try {
      await c.connect()
      await c.query(`LISTEN ${AUTH_CHANNEL}`)
      if (stopped) {
        ended.add(c)
        await c.end()
        return
      }
      client = c
      o.onListening()
    } catch (err) {
      lose(c, err)
    }
  }
  return {
    started: connect(),
    get listening() {
      return client !== undefined
    },
    restart() {
      if (client) lose(client)
    },
    async stop() {
      stopped = true
      clearTimeout(timer)
      const c = client
      client = undefined
      if (c) {
        ended.add(c)
        await c.end().catch(() => {})
      }
    },
  }
}
