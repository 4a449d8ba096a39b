/**
 * The baseline the benchmark compares Bastide with: plain `node:http` + a `pg` Pool configured like
 * Bastide's (same size, same session options, same type parsers), serving the four benchmarked endpoints
 * of the `bench_posts` collection with the very SQL Bastide runs for them (see src/core/records/service.ts),
 * answering the same JSON. No framework, no middleware, no rule engine: what the database work costs alone.
 *
 * Run as a child of bench/run.ts: `DATABASE_URL=... PORT=... node --import tsx bench/raw-server.ts`.
 *   GET   /records/:id                 view (view rule `score >= 0` inlined)
 *   GET   /records                     list: filter `score > 500`, sort `-score`, perPage 20 (hardcoded)
 *   POST  /records                     create (open rule)
 *   PATCH /records/:id                 update (open rule)
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import pg from 'pg'

const parseTimestamp = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ)

/** Bastide's type parsing (src/db/create-db.ts): timestamptz as ISO strings, int8 as numbers. */
function typeParser(oid: number, format?: any): any {
  if (oid === pg.types.builtins.TIMESTAMPTZ) return (v: string) => (parseTimestamp(v) as Date).toISOString()
  if (oid === pg.types.builtins.INT8) return (v: string) => Number(v)
  return pg.types.getTypeParser(oid, format)
}

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BENCH_RAW_POOL_MAX ?? 20),
  connectionTimeoutMillis: 3000,
  idleTimeoutMillis: 30_000,
  options: '-c TimeZone=UTC -c statement_timeout=30000 -c lock_timeout=10000',
  types: { getTypeParser: typeParser as any },
})
pool.on('error', () => {})

const COLS =
  '"r"."id", "r"."created", "r"."updated", "r"."version", "r"."title", "r"."body", "r"."score", "r"."owner"'
const TABLE = '"data"."bench_posts"'
const VIEW_SQL = `SELECT ${COLS} FROM ${TABLE} AS r WHERE r.id = $1::uuid AND ("r"."score" >= $2)`
const LIST_SQL = `SELECT ${COLS} FROM ${TABLE} AS r WHERE ("r"."score" >= $1) AND ("r"."score" > $2)
          ORDER BY "r"."score" DESC, "r"."id" DESC LIMIT $3 OFFSET $4`
const INSERT_SQL = `INSERT INTO ${TABLE} AS r ("id", "title", "body", "score", "owner")
          VALUES ($1::uuid, $2, $3, $4, $5) RETURNING ${COLS}, nextval('bastide.record_seq') AS _seq`
const FIELDS = ['title', 'body', 'score', 'owner'] as const
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const PER_PAGE = 20

type Row = Record<string, unknown>

function uuidv7(): string {
  const b = randomBytes(16)
  b.writeUIntBE(Date.now(), 0, 6)
  b[6] = 0x70 | (b[6]! & 0x0f)
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

function readBody(req: http.IncomingMessage): Promise<Row> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', reject)
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
        if (v === null || typeof v !== 'object' || Array.isArray(v)) reject(new Error('not an object'))
        else resolve(v as Row)
      } catch (e) {
        reject(e)
      }
    })
  })
}

function withoutSeq(row: Row): Row {
  delete row._seq
  return row
}

/** The same cursor Bastide returns (src/core/records/select.ts encodeCursor) for sort `-score`. */
function cursor(row: Row): string {
  return Buffer.from(JSON.stringify({ s: '-score,-id', v: [row.score ?? null, row.id ?? null] })).toString(
    'base64url',
  )
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (path === '/health') return send(res, 200, { status: 'ok' })
  if (path === '/records') {
    if (req.method === 'GET') {
      const r = await pool.query<Row>(LIST_SQL, [0, 500, PER_PAGE + 1, 0])
      const rows = r.rows
      const more = rows.length > PER_PAGE
      if (more) rows.pop()
      const last = rows[rows.length - 1]
      return send(res, 200, {
        items: rows,
        page: 1,
        perPage: PER_PAGE,
        nextCursor: more && last ? cursor(last) : null,
      })
    }
    if (req.method === 'POST') {
      const body = await readBody(req)
      if (typeof body.title !== 'string' || body.title === '')
        return send(res, 400, { code: 'VALIDATION_FAILED', message: 'title is required', status: 400 })
      const r = await pool.query<Row>(INSERT_SQL, [
        uuidv7(),
        body.title,
        body.body ?? null,
        body.score ?? null,
        body.owner ?? null,
      ])
      return send(res, 201, withoutSeq(r.rows[0]!))
    }
  }
  if (path.startsWith('/records/')) {
    const id = path.slice('/records/'.length)
    if (!UUID.test(id))
      return send(res, 404, { code: 'NOT_FOUND', message: 'Record not found.', status: 404 })
    if (req.method === 'GET') {
      const r = await pool.query<Row>(VIEW_SQL, [id, 0])
      const row = r.rows[0]
      if (!row) return send(res, 404, { code: 'NOT_FOUND', message: 'Record not found.', status: 404 })
      return send(res, 200, row)
    }
    if (req.method === 'PATCH') {
      const body = await readBody(req)
      const sets: string[] = []
      const params: unknown[] = []
      for (const f of FIELDS) {
        if (f in body) {
          params.push(body[f])
          sets.push(`"${f}" = $${params.length}`)
        }
      }
      params.push(id)
      const r = await pool.query<Row>(
        `UPDATE ${TABLE} AS r SET ${[...sets, 'updated = now()', 'version = r.version + 1'].join(', ')} WHERE r.id = $${params.length}::uuid
          RETURNING ${COLS}, nextval('bastide.record_seq') AS _seq`,
        params,
      )
      const row = r.rows[0]
      if (!row) return send(res, 404, { code: 'NOT_FOUND', message: 'Record not found.', status: 404 })
      return send(res, 200, withoutSeq(row))
    }
  }
  send(res, 404, { code: 'NOT_FOUND', message: 'Route not found.', status: 404 })
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent)
      send(res, err instanceof SyntaxError ? 400 : 500, { code: 'INTERNAL', message: String(err) })
  })
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1')

const stop = () => {
  server.close()
  server.closeAllConnections()
  void pool.end().finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
