import { createRequire } from 'node:module'
import { Kysely, PostgresDialect, type QueryResult } from 'kysely'
import pg from 'pg'
import { createConnectionGuard } from './connection-guard.ts'

/** Kysely over any table: collections are created at run time, so tables are not known statically. */
export type Db = Kysely<any>

export interface Database {
  readonly db: Db
  readonly pool: pg.Pool
  /**
   * Call after any schema change (here or on another node): statements are prepared under new names, so
   * a plan made for the old table shapes is never reused.
   */
  schemaChanged(): void
  close(): Promise<void>
}

/** Named statements a connection keeps at most; past that, new query shapes run unnamed. */
const MAX_PREPARED = 200
/** Statement texts the pool keeps a name for; past that, the least recently run one is forgotten. */
const MAX_NAMED_TEXTS = 1000

/**
 * The names statements are prepared under, shared by a pool's connections: a text keeps its name while it
 * is in use, so a connection prepares it once. Names come from a counter and are never given twice, so a
 * text forgotten (or renamed by a schema change) is prepared afresh rather than confused with another.
 */
interface StatementNames {
  /** Text → name, least recently run first. */
  readonly byText: Map<string, string>
  /** Name → what its rows look like (see NamedQuery), for the names in byText. */
  readonly rows: Map<string, RowShape>
  next: number
}

/**
 * The name of a statement text: looked up, not hashed, per query. A schema change empties the map, so
 * that a plan made for the old table shapes is never reused, even for a text that did not change.
 */
function nameOf(names: StatementNames, text: string): string {
  let name = names.byText.get(text)
  if (name === undefined) {
    name = `b${names.next++}`
    if (names.byText.size >= MAX_NAMED_TEXTS) {
      const [oldest, itsName] = names.byText.entries().next().value!
      names.byText.delete(oldest)
      names.rows.delete(itsName)
    }
  } else names.byText.delete(text)
  names.byText.set(text, name)
  return name
}

/**
 * Runs parameterized queries as named prepared statements, so PostgreSQL parses and plans each query
 * shape once per connection instead of on every request. Bounded: a connection prepares at most
 * MAX_PREPARED names over its life (the pool recycles idle connections).
 */
function prepareStatements(client: pg.PoolClient, names: StatementNames): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown
  const prepared = new Set<string>()
  ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (
    text: unknown,
    values?: unknown,
    cb?: unknown,
  ) => {
    if (
      typeof text === 'string' &&
      Array.isArray(values) &&
      values.length > 0 &&
      cb === undefined &&
      text.length <= 16_384
    ) {
      const name = nameOf(names, text)
      if (prepared.has(name) || prepared.size < MAX_PREPARED) {
        prepared.add(name)
        return runNamed(query, names.rows, name, text, values)
      }
    }
    return cb === undefined ? query(text, values) : query(text, values, cb)
  }
}

/**
 * The columns of a statement's rows, and what pg makes of each (its parsers, the empty row it copies), with a
 * row builder made for them (rowBuilder), when one could be.
 */
interface RowShape {
  readonly fields: readonly FieldDescription[]
  readonly parsers: unknown
  readonly template: unknown
  readonly parseRow: ((fields: readonly (string | null)[]) => Record<string, unknown>) | undefined
}

interface FieldDescription {
  readonly name: string
  readonly dataTypeID: number
  readonly format: string
}

/** pg's Query and Result, as far as NamedQuery reaches into them (pinned pg 8.23). */
interface QueryInternals {
  name: string
  callback: unknown
  values: unknown[]
  portal: string
  binary: unknown
  rows: unknown
  _result: { fields: unknown; _parsers: unknown; _prebuiltEmptyResultObject: unknown; parseRow?: unknown }
  _accumulateRows: unknown
  _checkForMultirow(): void
  _getRows(connection: unknown, rows: unknown): void
  hasBeenParsed(connection: unknown): boolean
  handleError(err: unknown, connection: unknown): void
  listeners(event: string): unknown[]
}

/** pg's Connection, as far as NamedQuery writes to it. */
interface PgConnection {
  close(config: unknown): void
  sync(): void
  /** Writes to the socket when it is writable (what each of Connection's message methods calls). */
  _send(buffer: Buffer): boolean
}

const requirePg = createRequire(import.meta.url)
/** How pg maps a parameter to the wire (pg's Query.prepare passes it to bind). */
const { prepareValue } = requirePg('pg/lib/utils.js') as { prepareValue: (v: unknown) => unknown }
/** pg's message serializer (pg-protocol, as pg itself requires it). */
const { serialize } = createRequire(requirePg.resolve('pg'))('pg-protocol') as {
  serialize: {
    bind(config: unknown): Buffer
    execute(config: unknown): Buffer
    sync(): Buffer
  }
}

/**
 * Per connection, the shape of the rows of each statement prepared on it, as PostgreSQL described them there.
 * A prepared statement's result columns cannot change under it (PostgreSQL fails the execution instead: "cached
 * plan must not change result type"), and a name is never given to another text, so a shape seen on a
 * connection holds for every later run of the statement on that connection.
 */
const described = new WeakMap<object, Map<string, RowShape>>()

const PgQuery = pg.Query as unknown as new (
  text: string,
  values: unknown[],
  callback: (err: Error | null, res: unknown) => void,
) => object

/**
 * A named statement's Query. PostgreSQL describes the rows of every execution, and pg's Result.addFields then
 * looks up a parser per column and builds the empty row it copies for each row: the same for every run of a
 * statement (its text fixes its columns), a twentieth of a GET by id. Here that is done on a statement's first
 * run and reused while the description is the same (names, types and formats compared column by column, so a
 * table altered under a statement only costs a new lookup).
 */
class NamedQuery extends PgQuery {
  readonly #rows: Map<string, RowShape>

  constructor(
    rows: Map<string, RowShape>,
    name: string,
    text: string,
    values: unknown[],
    callback: (err: Error | null, res: unknown) => void,
  ) {
    super(text, values, callback)
    this.#rows = rows
    ;(this as unknown as QueryInternals).name = name
  }

  /** The shapes described on the connection this query runs on (set by prepare). */
  #described: Map<string, RowShape> | undefined

  /**
   * pg's Query.prepare, without the Describe of the rows once this connection has described them for this
   * statement (see `described`): PostgreSQL then sends the rows alone, and the shape is installed as the
   * description would have installed it. The messages go out in one write. Otherwise pg's own, the
   * description then kept.
   */
  prepare(connection: PgConnection): void {
    const q = this as unknown as QueryInternals
    let shapes = described.get(connection)
    if (!shapes) described.set(connection, (shapes = new Map()))
    this.#described = shapes
    const known = q.hasBeenParsed(connection) ? shapes.get(q.name) : undefined
    if (!known) {
      ;(PgQuery.prototype as unknown as { prepare(c: unknown): void }).prepare.call(this, connection)
      return
    }
    let bind: Buffer
    try {
      bind = serialize.bind({
        portal: q.portal,
        statement: q.name,
        values: q.values,
        binary: q.binary,
        valueMapper: prepareValue,
      })
    } catch (err) {
      // As pg does: close what was parsed, and fail this query.
      connection.close({ type: 'S', name: q.name })
      connection.sync()
      q.handleError(err, connection)
      return
    }
    this.#install(known)
    // Bind, Execute and Sync (what _getRows sends without a row limit) in one write, not three buffered ones.
    if (q.rows) {
      connection._send(bind)
      q._getRows(connection, q.rows)
    } else
      connection._send(
        Buffer.concat([bind, serialize.execute({ portal: q.portal, rows: q.rows }), serialize.sync()]),
      )
  }

  handleRowDescription(msg: { fields: FieldDescription[] }): void {
    const q = this as unknown as QueryInternals
    let known = this.#rows.get(q.name)
    if (known && sameColumns(known.fields, msg.fields)) this.#install(known)
    else {
      ;(PgQuery.prototype as unknown as { handleRowDescription(m: unknown): void }).handleRowDescription.call(
        this,
        msg,
      )
      const r = q._result
      known = r._parsers
        ? {
            fields: msg.fields,
            parsers: r._parsers,
            template: r._prebuiltEmptyResultObject,
            parseRow: rowBuilder(msg.fields, r._parsers as RowParser[]),
          }
        : undefined
      if (known) this.#rows.set(q.name, known)
    }
    if (known) this.#described?.set(q.name, known)
  }

  /** What pg's handleRowDescription and Result.addFields do, with the parsers and empty row kept. */
  #install(known: RowShape): void {
    const q = this as unknown as QueryInternals
    q._checkForMultirow()
    const r = q._result
    r.fields = known.fields
    r._parsers = known.parsers
    r._prebuiltEmptyResultObject = known.template
    if (known.parseRow) r.parseRow = known.parseRow
    q._accumulateRows = q.callback || !q.listeners('row').length
  }
}

function sameColumns(a: readonly FieldDescription[], b: readonly FieldDescription[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.name !== y.name || x.dataTypeID !== y.dataTypeID || x.format !== y.format) return false
  }
  return true
}

type RowParser = (value: string) => unknown

/**
 * pg's Result.parseRow for one row shape, as a function made for it: the row is an object literal with the
 * columns' names, each value parsed by its column's parser (null stays null), instead of a copy of an empty row
 * filled in by names looked up per column. The same object (an ordinary one, keys in column order, a later
 * column of the same name winning) with less work for each row, and every row of the shape built alike (which
 * JSON.stringify goes through faster too). undefined (pg's own is used) for binary columns, a repeated name,
 * and `__proto__`, which a literal would not make an own property of.
 */
export function rowBuilder(
  fields: readonly FieldDescription[],
  parsers: readonly RowParser[],
): RowShape['parseRow'] {
  const names = new Set<string>()
  for (const f of fields) {
    if (f.format !== 'text' || names.has(f.name) || f.name === '__proto__') return undefined
    names.add(f.name)
  }
  // Names go in as JSON string literals (valid JavaScript strings, whatever they hold); nothing else varies.
  const body = `return function parseRow(f) {
    let v
    return { ${fields.map((f, i) => `${JSON.stringify(f.name)}: (v = f[${i}]) === null ? null : p${i}(v)`).join(', ')} }
  }`
  return new Function(...fields.map((_, i) => `p${i}`), body)(...parsers)
}

/**
 * What `client.query({ name, text, values })` does, without the copy pg makes of a config object on every
 * call (cloneQueryConfig, pinned pg 8.23): a Query built from the text is not copied, and is named before
 * it is submitted. It is this call's own object, so nothing is shared between queries but the row shape
 * (NamedQuery), which is read only. As pg does, a failure's stack trace is taken again where the caller
 * awaits it, not in the socket's read.
 */
function runNamed(
  query: (...args: unknown[]) => unknown,
  rows: Map<string, RowShape>,
  name: string,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult> {
  return new Promise<pg.QueryResult>((resolve, reject) => {
    query(
      new NamedQuery(rows, name, text, values, (err, res) =>
        err ? reject(err) : resolve(res as pg.QueryResult),
      ),
    )
  }).catch((err: Error) => {
    Error.captureStackTrace(err)
    throw err
  })
}

const parseTimestamp = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)
const parseTimestampArray = pg.types.getTypeParser(1185 as any)

/**
 * Timestamps leave the database as ISO-8601 UTC strings (columns are timestamptz(3), so nothing is lost
 * to JavaScript's millisecond precision), and int8 as numbers (counts, sequence numbers, integer fields).
 */
function typeParser(oid: number, format?: any): any {
  if (oid === pg.types.builtins.TIMESTAMPTZ) return timestamptzToIso
  if (oid === 1185) return (v: string) => (parseTimestampArray(v) as unknown[]).map(toIso)
  if (oid === pg.types.builtins.INT8) return (v: string) => Number(v)
  return pg.types.getTypeParser(oid, format)
}

/**
 * Whether `v` is `2024-05-01 12:34:56.78+00` (no fraction, or one to three digits of it), what a UTC session
 * prints for a timestamptz(3) in the ISO DateStyle: checked position by position (a regular expression was a
 * few percent of a list of 20 records, two timestamps each).
 */
function isPgUtc(v: string): boolean {
  const n = v.length
  return (
    (n === 22 || (n >= 24 && n <= 26)) &&
    v.charCodeAt(4) === 45 &&
    v.charCodeAt(7) === 45 &&
    v.charCodeAt(10) === 32 &&
    v.charCodeAt(13) === 58 &&
    v.charCodeAt(16) === 58 &&
    v.charCodeAt(n - 3) === 43 &&
    v.charCodeAt(n - 2) === 48 &&
    v.charCodeAt(n - 1) === 48 &&
    digits(v, 0, 4) &&
    digits(v, 5, 7) &&
    digits(v, 8, 10) &&
    digits(v, 11, 13) &&
    digits(v, 14, 16) &&
    digits(v, 17, 19) &&
    (n === 22 || (v.charCodeAt(19) === 46 && digits(v, 20, n - 3)))
  )
}

function digits(v: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (((v.charCodeAt(i) - 48) | 0) >>> 0 > 9) return false
  return true
}

/** The common case rewritten as a string (no Date, no parsing); anything else goes through a Date. */
export function timestamptzToIso(v: string): unknown {
  if (isPgUtc(v)) {
    const n = v.length
    // Three digits of fraction (the commonest): the text is already in place.
    if (n === 26) return `${v.slice(0, 10)}T${v.slice(11, 23)}Z`
    const frac = n === 22 ? '000' : v.slice(20, n - 3).padEnd(3, '0')
    return `${v.slice(0, 10)}T${v.slice(11, 19)}.${frac}Z`
  }
  return toIso(parseTimestamp(v))
}

function toIso(d: unknown): unknown {
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : d
}

export interface PoolOptions {
  readonly connectionString: string
  readonly max?: number
  /**
   * PostgreSQL's statement_timeout for every session (BASTIDE_DB_STATEMENT_TIMEOUT_MS): what a request's
   * statement may take. Migrations and schema changes lift it for their own transaction
   * (allowLongStatements).
   */
  readonly statementTimeoutMs?: number
  readonly onError?: (err: Error) => void
}

export interface DbOptions extends PoolOptions {
  /** Called with every SQL text executed (tests count statements with it). */
  readonly onQuery?: (sql: string, parameters: readonly unknown[]) => void
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 5000
/** Longest wait for a connection: for a free one in a full pool, or for a new one to be set up. */
const ACQUIRE_TIMEOUT_MS = 2500
/** A statement this long without an answer has the server checked on (see connection-guard.ts)... */
const SILENCE_MS = 1000
/**
 * ...which must answer within this, or counts as gone: a hung server costs a request about 2.5 s, as long
 * as waiting for a connection may take.
 */
const PROBE_TIMEOUT_MS = 1500
/** A session holding a transaction open without a statement is ended (its locks freed) after this. */
const IDLE_IN_TRANSACTION_MS = 30_000

/**
 * A pg Pool that fails fast when PostgreSQL is slow, hung or out of reach, and recovers on its own when it
 * is back: getting a connection is bounded (ACQUIRE_TIMEOUT_MS), statements are bounded by PostgreSQL
 * (statement_timeout, lock_timeout) and, should PostgreSQL stop answering altogether, by the connection
 * guard; PostgreSQL ends sessions left idle in a transaction and notices dead clients (TCP keepalives both
 * ways), so that a frozen or cut-off node does not keep its locks. Broken connections are dropped from the
 * pool and replaced by new ones once the server answers again.
 */
export function createPool(opts: PoolOptions & { readonly types?: pg.CustomTypesConfig }): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 20,
    connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    options: [
      // Every session speaks UTC.
      '-c TimeZone=UTC',
      `-c statement_timeout=${opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS}`,
      '-c lock_timeout=10000',
      `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`,
      '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3',
    ].join(' '),
    ...(opts.types ? { types: opts.types } : {}),
  })
  const guard = createConnectionGuard({
    connectionString: opts.connectionString,
    silenceMs: SILENCE_MS,
    probeTimeoutMs: PROBE_TIMEOUT_MS,
    onUnresponsive: (dropped) =>
      opts.onError?.(new Error(`PostgreSQL stopped answering: ${dropped} connection(s) dropped`)),
  })
  // An idle client losing its server (PostgreSQL restarted) must not crash the process.
  pool.on('error', (err) => opts.onError?.(err))
  // A client checked out of the pool (mid-transaction, or between acquiring and querying) has no 'error'
  // listener, and pg emits 'error' on it when its server goes away (57P01, socket closed): an uncaught
  // exception that kills the process. The work on it fails anyway (→ 503) and the pool drops it on release.
  pool.on('connect', (client) => {
    client.on('error', () => {})
    guard.watch(client)
  })
  pool.on('remove', (client) => guard.forget(client))
  settleEnd(pool)
  return pool
}

/**
 * pg-pool's end() resolves as soon as it has *asked* its connections to close, not once they have: a
 * PostgreSQL stopped right after (embedded PostgreSQL on shutdown) still finds their sessions and ends them
 * with 57P01, which the half-closed idle clients report as a lost connection — a warning on every clean
 * stop. Here end() resolves once every connection's socket is closed (pg-pool's 'remove'); a server that
 * does not answer the goodbye (hung, frozen) gets its sockets cut after ACQUIRE_TIMEOUT_MS, so that a
 * shutdown never waits on it.
 */
function settleEnd(pool: pg.Pool): void {
  const open = new Set<pg.PoolClient>()
  let settled: (() => void) | undefined
  pool.on('connect', (client) => open.add(client))
  pool.on('remove', (client) => {
    open.delete(client as pg.PoolClient)
    if (open.size === 0) settled?.()
  })
  const end = pool.end.bind(pool)
  pool.end = (async () => {
    await end()
    if (open.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      settled = resolve
      timer = setTimeout(() => {
        for (const client of open) socketOf(client)?.destroy()
      }, ACQUIRE_TIMEOUT_MS)
    })
    clearTimeout(timer)
  }) as pg.Pool['end']
}

/** The client's socket (pg keeps it as `connection.stream`; pinned pg 8.23). */
function socketOf(client: pg.PoolClient): { destroy(): void } | undefined {
  return (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream
}

/** Runs SQL on a connection of the pool a Db was made over (see directRunner). */
export type DirectRunner = <R>(sql: string, parameters: unknown[]) => Promise<QueryResult<R>>

const directRunners = new WeakMap<object, DirectRunner>()

/**
 * For a Db made by createDb (not a transaction): a way to run a compiled statement on one of its pool's
 * connections without Kysely's layers in between (connection provider, driver, logging wrapper: a dozen
 * promises, for a GET by id a twentieth of its time). The same as `db.executeQuery(CompiledQuery.raw(...))`:
 * the same connection handling (acquired, released), the same statement naming, the same result (rows,
 * numAffectedRows) and the same `onQuery` call once the statement has run or failed.
 */
export function directRunner(executor: object): DirectRunner | undefined {
  return directRunners.get(executor)
}

const AFFECTS_ROWS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE'])

export function createDb(opts: DbOptions): Database {
  const names: StatementNames = { byText: new Map(), rows: new Map(), next: 0 }
  const pool = createPool({ ...opts, types: { getTypeParser: typeParser as any } })
  pool.on('connect', (client) => prepareStatements(client, names))
  const db = new Kysely<any>({
    dialect: new PostgresDialect({ pool }),
    log: opts.onQuery
      ? (event) => {
          if (event.level === 'query' || event.level === 'error') {
            opts.onQuery?.(event.query.sql, event.query.parameters)
          }
        }
      : undefined,
  })
  const onQuery = opts.onQuery
  directRunners.set(db, async <R>(text: string, parameters: unknown[]): Promise<QueryResult<R>> => {
    const client = await pool.connect()
    try {
      const r = await client.query(text, parameters)
      return {
        numAffectedRows: AFFECTS_ROWS.has(r.command) ? BigInt(r.rowCount ?? 0) : undefined,
        rows: (r.rows ?? []) as R[],
      }
    } finally {
      client.release()
      onQuery?.(text, parameters)
    }
  })
  return {
    db,
    pool,
    schemaChanged() {
      names.byText.clear()
      names.rows.clear()
    },
    async close() {
      await db.destroy()
    },
  }
}
