import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/server'
import pg from 'pg'
import type { Logger } from 'pino'

/**
 * The seed of every upload lock's hash. Two-int4 advisory locks live in a key space of their own, apart from the
 * single-bigint ones (migrations, setup, reconciliation, backups); the only other two-int4 user is the backup run
 * lock, which keeps its class constant as its first key.
 */
export const UPLOAD_LOCK_CLASS = 0x74757331 // 'tus1'
/**
 * The two int4 keys of an upload's lock (parameters: $1 UPLOAD_LOCK_CLASS, $2 the upload id): the halves of a
 * 64-bit `hashtextextended`, seeded with the class. With a 32-bit `hashtext`, two uploads could share a lock (even
 * odds once ~77,000 are locked at once, sooner with ids made to collide): one upload's PATCH then waited on, or
 * asked to stop, another's.
 */
export const UPLOAD_LOCK_KEYS =
  '(hashtextextended($2, $1) >> 32)::int4, ((hashtextextended($2, $1) & 4294967295) - 2147483648)::int4'
/** Where a request that wants an upload asks its holder, on whichever node, to let go. */
const RELEASE_CHANNEL = 'bastide_tus_release'
/** How long tus waits for a lock before failing the request (tus's own default). */
const DEFAULT_ACQUIRE_TIMEOUT_MS = 30_000
const DEFAULT_POLL_MS = 50
/** A waiter asks the holder to let go again this often (the holder may have changed meanwhile). */
const RENOTIFY_MS = 1000

/** A tus Locker that holds across nodes; `close` ends its session (and so frees every lock it held). */
export interface UploadLocker extends Locker {
  close(): Promise<void>
}

interface Holder {
  readonly requestRelease: RequestRelease
  /** The session the advisory lock was taken in; undefined while still trying. */
  session?: Session
}

interface Session {
  readonly client: pg.Client
  alive: boolean
}

/** Asks a holder to let go; its failure is its own (tus's callback only schedules an abort). */
function askToRelease(h: Holder): void {
  try {
    void Promise.resolve(h.requestRelease()).catch(() => {})
  } catch {}
}

/**
 * Upload locks shared by every node: PostgreSQL session-level advisory locks, taken with
 * `pg_try_advisory_lock` (polled until the tus lock timeout) on one dedicated connection per node.
 *
 * Why PostgreSQL and not Redis: PostgreSQL is there on every deployment, Redis is optional; and a session
 * lock lives exactly as long as its holder's connection. A node killed mid-PATCH frees its locks the moment
 * its socket closes (a vanished host within ~25 s, by the TCP keepalives set below): no expiry to tune
 * against long uploads, no renewal timer that an event-loop stall could let lapse while the holder is still
 * writing, which would let two nodes append to the same upload.
 *
 * Within a node, advisory locks are re-entrant per session, so the node also keeps its own holders (as
 * tus's MemoryLocker does) and admits one request per upload at a time.
 *
 * tus's "request release" (a new request on an upload asks the one holding it to stop, so that a client
 * that lost its connection mid-PATCH can resume at once): locally the holder's callback is called; across
 * nodes the waiter sends `NOTIFY bastide_tus_release, '<id>'`, and the node holding that upload calls it.
 */
export function createUploadLocker(opts: {
  connectionString: string
  log: Logger
  acquireTimeoutMs?: number
  pollMs?: number
}): UploadLocker {
  const { log } = opts
  const timeoutMs = opts.acquireTimeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS
  /** This node's requests per upload id: trying or holding. */
  const holders = new Map<string, Holder>()
  let session: Promise<Session> | undefined
  /** The session `session` resolved to, once it has. */
  let sessionOf: Session | undefined
  let closed = false

  const lost = (s: Session, why: string) => {
    if (!s.alive) return
    s.alive = false
    if (session && sessionOf === s) session = undefined
    // Ended for good, so that no lock outlives our knowledge of it (a failed unlock, a protocol error).
    void s.client.end().catch(() => {})
    // Other nodes may take these uploads from now on: ask every request writing under them to stop.
    const affected = [...holders.values()].filter((h) => h.session === s)
    if (affected.length && !closed)
      log.warn({ uploads: affected.length, why }, 'upload locks lost with their PostgreSQL session')
    for (const h of affected) askToRelease(h)
  }

  const connect = async (): Promise<Session> => {
    const client = new pg.Client({
      connectionString: opts.connectionString,
      connectionTimeoutMillis: 2500,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // The server notices a vanished node (and frees its locks) by keepalives; the session sits idle
      // between locks, which no idle timeout may end.
      options: [
        '-c statement_timeout=5000',
        '-c idle_session_timeout=0',
        '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3',
      ].join(' '),
    })
    const s: Session = { client, alive: true }
    client.on('error', (err) => lost(s, err.message))
    client.on('end', () => lost(s, 'connection ended'))
    client.on('notification', (n) => {
      if (n.channel !== RELEASE_CHANNEL || n.payload === undefined) return
      const h = holders.get(n.payload)
      if (h?.session === s) askToRelease(h)
    })
    try {
      await client.connect()
      await client.query(`LISTEN ${RELEASE_CHANNEL}`)
    } catch (err) {
      s.alive = false
      await client.end().catch(() => {})
      throw err
    }
    sessionOf = s
    return s
  }

  const current = (): Promise<Session> => {
    if (closed) return Promise.reject(new Error('upload locker closed'))
    if (!session) {
      const p = connect()
      session = p
      // A failed connection is forgotten, so that the next request tries again.
      p.catch(() => {
        if (session === p) session = undefined
      })
    }
    return session
  }

  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done, { once: true })
    })

  class UploadLock implements Lock {
    private mine: Holder | undefined
    constructor(private readonly id: string) {}

    async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
      const deadline = Date.now() + timeoutMs
      let notifiedAt = 0
      for (;;) {
        if (signal.aborted || Date.now() > deadline) throw ERRORS.ERR_LOCK_TIMEOUT
        const local = holders.get(this.id)
        if (local) {
          // Held (or being taken) by a request on this node: ask it, as MemoryLocker does, and wait.
          if (local.session) askToRelease(local)
          await sleep(pollMs, signal)
          continue
        }
        const mine: Holder = { requestRelease }
        holders.set(this.id, mine)
        let s: Session
        let got: boolean
        try {
          s = await current()
          const r = await s.client.query<{ ok: boolean }>(
            `SELECT pg_try_advisory_lock(${UPLOAD_LOCK_KEYS}) AS ok`,
            [UPLOAD_LOCK_CLASS, this.id],
          )
          got = r.rows[0]?.ok === true
        } catch (err) {
          holders.delete(this.id)
          throw err
        }
        if (got && s.alive) {
          mine.session = s
          this.mine = mine
          return
        }
        holders.delete(this.id)
        if (Date.now() - notifiedAt >= RENOTIFY_MS) {
          notifiedAt = Date.now()
          // Held on another node: ask it to let go (every node listens; the holder's node acts on it).
          await s.client.query('SELECT pg_notify($1, $2)', [RELEASE_CHANNEL, this.id]).catch(() => {})
        }
        await sleep(pollMs, signal)
      }
    }

    async unlock(): Promise<void> {
      const mine = this.mine
      if (!mine || holders.get(this.id) !== mine) throw new Error('Releasing an unlocked lock!')
      this.mine = undefined
      holders.delete(this.id)
      const s = mine.session
      // A lost session freed its locks already.
      if (!s?.alive) return
      await s.client
        .query(`SELECT pg_advisory_unlock(${UPLOAD_LOCK_KEYS})`, [UPLOAD_LOCK_CLASS, this.id])
        .catch((err: Error) => lost(s, err.message))
    }
  }

  return {
    newLock: (id) => new UploadLock(id),
    async close() {
      closed = true
      const s = await session?.catch(() => undefined)
      session = undefined
      if (s) {
        s.alive = false
        await s.client.end().catch(() => {})
      }
    },
  }
}
