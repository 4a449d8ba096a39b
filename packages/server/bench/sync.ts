/**
 * Offline sync: what a device pays to get a collection the first time (the initial sync through
 * `GET /api/collections/{name}/changes`, pages of 1,000), what it pays to catch up after 100 changes made
 * elsewhere (the delta pull), and what pushing 100 offline writes costs (`POST /api/sync/push`).
 *
 *   pnpm bench:sync                                  # 10,000 then 100,000 records, a fresh server each
 *   pnpm bench:sync -- --records 2000                # one size (or a list: --records 5000,50000)
 *   pnpm bench:sync -- --as admin --page 5000 --encoding identity
 *
 * The caller is a signed-in user under the rule `owner = @request.auth.id` (`--as admin`: the admin key, which
 * bypasses rules). Its user and session, and the seeded records, are inserted with SQL (a benchmark shortcut:
 * the API would spend minutes seeding 100,000 records); sync is enabled after seeding, through the admin API, so
 * the change log starts empty as on a collection that has been syncing for a while. Everything else goes through
 * the server. PostgreSQL: DATABASE_URL or embedded; a fresh database per size, dropped at the end.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { parseArgs } from 'node:util'
import v8 from 'node:v8'
import vm from 'node:vm'
import zlib from 'node:zlib'
import pg from 'pg'
import { freePort } from '../src/db/embedded-postgres.ts'
import {
  ADMIN_KEY,
  adminCall,
  cleanups,
  createDatabase,
  installCleanupHandlers,
  MB,
  machineLine,
  printTable,
  runCleanups,
  runMain,
  spawnBastide,
  tempDir,
  waitReady,
} from './lib.ts'

const COLLECTION = 'bench_todos'
/** Changes made between the initial sync and the delta pull, and mutations pushed: this many each. */
const CHANGES = 100

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    records: { type: 'string', default: process.env.BENCH_RECORDS ?? '10000,100000' },
    page: { type: 'string', default: '1000' },
    as: { type: 'string', default: 'user' },
    encoding: { type: 'string', default: 'gzip' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (args.help) {
  console.log(
    'usage: tsx bench/sync.ts [--records N[,N…]] [--page 1..5000] [--as user|admin] [--encoding gzip|identity]',
  )
  process.exit(0)
}
const SIZES = args.records.split(',').map((s) => Number(s.trim().replaceAll('_', '')))
const PAGE = Number(args.page)
const AS = args.as
const ENCODING = args.encoding
if (SIZES.some((n) => !Number.isInteger(n) || n < CHANGES * 3)) {
  console.error(`--records: positive integers of at least ${CHANGES * 3}`)
  process.exit(2)
}
if (!Number.isInteger(PAGE) || PAGE < 1 || PAGE > 5000) {
  console.error('--page must be an integer from 1 to 5000 (the server caps a page at 5,000)')
  process.exit(2)
}
if (AS !== 'user' && AS !== 'admin') {
  console.error('--as must be user or admin')
  process.exit(2)
}
if (ENCODING !== 'gzip' && ENCODING !== 'identity') {
  console.error('--encoding must be gzip or identity')
  process.exit(2)
}

installCleanupHandlers()

// The client's heap is measured after a full collection; gc() is not exposed under tsx without this.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

/** kB values of /proc/<pid>/status (VmRSS, VmHWM), in bytes; undefined off Linux or once the process is gone. */
function procStatus(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN) * 1024
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
  } catch {
    return undefined
  }
}

/** CPU seconds (user + system) a process used so far, from /proc (USER_HZ 100); undefined off Linux. */
function procCpu(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return undefined
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const mib = (b: number | undefined) =>
  b !== undefined && Number.isFinite(b) ? `${(b / MB).toFixed(b < 10 * MB ? 1 : 0)} MiB` : '-'
const kib = (b: number) => (b < MB ? `${(b / 1024).toFixed(1)} KiB` : mib(b))
const secs = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`)

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })

interface Answer {
  readonly status: number
  readonly body: any
  /** Bytes of the body as received (compressed when the server compressed it). */
  readonly wire: number
  /** Bytes of the JSON once decompressed. */
  readonly json: number
}

/** One request on a keep-alive socket, counting the body's bytes on the wire and decompressed. */
function call(base: string, auth: string, method: string, p: string, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${p}`,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${auth}`,
          'accept-encoding': ENCODING,
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const raw = Buffer.concat(chunks)
          const enc = res.headers['content-encoding']
          const text = enc === 'gzip' ? zlib.gunzipSync(raw) : enc === 'deflate' ? zlib.inflateSync(raw) : raw
          try {
            resolve({
              status: res.statusCode ?? 0,
              body: text.length ? JSON.parse(text.toString('utf8')) : null,
              wire: raw.length,
              json: text.length,
            })
          } catch (err) {
            reject(new Error(`${method} ${p}: ${res.statusCode}, unparsable body: ${err}`))
          }
        })
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

async function ok(a: Promise<Answer>, what: string): Promise<Answer> {
  const r = await a
  if (r.status < 200 || r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`)
  return r
}

interface Pull {
  requests: number
  wire: number
  json: number
  ms: number
  changes: number
  upserts: number
  removes: number
  cursor: string
}

/** Pages through `/changes` from `since` (none: the initial sync) until `hasMore` is false, into `local`. */
async function pull(
  base: string,
  auth: string,
  local: Map<string, Record<string, unknown>>,
  since: string | undefined,
): Promise<Pull> {
  const out: Pull = { requests: 0, wire: 0, json: 0, ms: 0, changes: 0, upserts: 0, removes: 0, cursor: '' }
  let cursor = since
  const t = performance.now()
  for (;;) {
    const q = new URLSearchParams({ limit: String(PAGE), ...(cursor ? { since: cursor } : {}) })
    const r = await ok(call(base, auth, 'GET', `/api/collections/${COLLECTION}/changes?${q}`), 'GET /changes')
    out.requests++
    out.wire += r.wire
    out.json += r.json
    const page = r.body as {
      changes: (
        | { op: 'upsert'; record: Record<string, unknown> & { id: string } }
        | { op: 'remove'; id: string }
      )[]
      cursor: string
      hasMore: boolean
      resync: boolean
    }
    if (page.resync) throw new Error('the server asked for a resync in the middle of the benchmark')
    for (const c of page.changes) {
      out.changes++
      if (c.op === 'upsert') {
        out.upserts++
        local.set(c.record.id, c.record)
      } else {
        out.removes++
        local.delete(c.id)
      }
    }
    cursor = page.cursor
    if (!page.hasMore) break
  }
  out.ms = performance.now() - t
  out.cursor = cursor!
  return out
}

/**
 * Benchmark shortcut: one user with a session, and `n` records owned by them, inserted with SQL. Returns the
 * user's id and raw session token (a bearer credential, as after a sign-in).
 */
async function seed(dbUrl: string, n: number): Promise<{ userId: string; token: string }> {
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  try {
    const userId = randomUUID()
    const token = `benchsync${randomUUID().replaceAll('-', '')}`
    await c.query('BEGIN')
    await c.query(
      `INSERT INTO data.users (id, email, name, verified) VALUES ($1, 'bench-sync@example.com', 'Bench', true)`,
      [userId],
    )
    await c.query(
      `INSERT INTO bastide.auth_sessions (id, token, "userId", "expiresAt")
       VALUES (md5(random()::text), $1, $2, now() + interval '1 day')`,
      [token, userId],
    )
    // Spread over the last 30 days, as a real list would be; a title, a note of a sentence or two, a position.
    await c.query(
      `INSERT INTO data.${COLLECTION} (id, created, updated, title, notes, done, position, owner)
       SELECT gen_random_uuid(), t, t, 'Todo ' || i, repeat('Something to remember. ', 1 + i % 4), i % 3 = 0, i, $2
       FROM generate_series(1, $1::int) AS i, LATERAL (SELECT now() - (i % 43200) * interval '1 minute' AS t) x`,
      [n, userId],
    )
    await c.query('COMMIT')
    await c.query(`ANALYZE data.${COLLECTION}`)
    return { userId, token }
  } finally {
    await c.end()
  }
}

interface Result {
  readonly n: number
  readonly rows: string[][]
  readonly notes: string[]
}

async function runSize(n: number): Promise<Result> {
  const mark = cleanups.length
  const dir = tempDir('sync')
  const dbUrl = await createDatabase()
  const port = await freePort()
  const dataDir = path.join(dir, 'data')
  fs.mkdirSync(dataDir)
  const child = spawnBastide({ databaseUrl: dbUrl, port, dataDir, env: { BASTIDE_CONSOLE_DIR: 'off' } })
  const base = `http://127.0.0.1:${port}`
  try {
    await waitReady(`${base}/api/health/live`, child)
    const rule = 'owner = @request.auth.id'
    await adminCall(base, 'POST', '/api/collections', {
      name: COLLECTION,
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'notes', type: 'text' },
        { name: 'done', type: 'bool' },
        { name: 'position', type: 'number', options: { integer: true } },
        { name: 'owner', type: 'relation', options: { collection: 'users' } },
      ],
      indexes: [{ fields: ['owner'] }],
      rules: { list: rule, view: rule, create: rule, update: rule, delete: rule },
    })
    const t = performance.now()
    const { userId, token } = await seed(dbUrl, n)
    const seedMs = performance.now() - t
    await adminCall(base, 'PUT', `/api/admin/sync/collections/${COLLECTION}`, {
      enabled: true,
      conflict: 'lww_field',
    })
    const auth = AS === 'admin' ? ADMIN_KEY : token
    const notes: string[] = [
      `${fmt(n)} records seeded with SQL in ${secs(seedMs)}; caller: ${AS === 'admin' ? 'the admin key' : `a user, rule \`${rule}\``}`,
    ]

    // Initial sync: every record, page by page, into a Map as a client's memory store would hold them.
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    const rssBefore = procStatus(child.pid!)
    let peakRss = rssBefore?.rss ?? Number.NaN
    const sampler = setInterval(() => {
      const s = procStatus(child.pid!)
      if (s && !(s.rss <= peakRss)) peakRss = s.rss
    }, 50)
    const cpu0 = procCpu(child.pid!)
    const local = new Map<string, Record<string, unknown>>()
    const initial = await pull(base, auth, local, undefined)
    const cpuInitial = (procCpu(child.pid!) ?? Number.NaN) - (cpu0 ?? Number.NaN)
    clearInterval(sampler)
    const hwm = procStatus(child.pid!)?.hwm
    gc()
    const heapAfter = process.memoryUsage().heapUsed
    if (local.size !== n) throw new Error(`initial sync: ${local.size} records, expected ${n}`)
    notes.push(
      `server memory (/proc/${child.pid}/status): RSS ${mib(rssBefore?.rss)} before the initial sync, peak ` +
        `${mib(peakRss)} during it (sampled every 50 ms), VmHWM ${mib(hwm)} since start`,
      `client heap: +${mib(heapAfter - heapBefore)} holding ${fmt(local.size)} records in a Map ` +
        `(${fmt((heapAfter - heapBefore) / local.size)} bytes per record, after gc)`,
    )

    // 100 changes made elsewhere (another device, the console): updates, deletes, creates through the records API.
    const ids = [...local.keys()]
    const nUpd = 40
    const nDel = 30
    const nNew = CHANGES - nUpd - nDel
    const records = `/api/collections/${COLLECTION}/records`
    const changes: (() => Promise<Answer>)[] = [
      ...ids
        .slice(0, nUpd)
        .map(
          (id) => () => call(base, auth, 'PATCH', `${records}/${id}`, { title: `Edited ${id}`, done: true }),
        ),
      ...ids.slice(nUpd, nUpd + nDel).map((id) => () => call(base, auth, 'DELETE', `${records}/${id}`)),
      ...Array.from(
        { length: nNew },
        (_, i) => () =>
          call(base, auth, 'POST', records, { title: `New ${i}`, notes: 'Made elsewhere', owner: userId }),
      ),
    ]
    let next = 0
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < changes.length) {
          const r = await changes[next++]!()
          if (r.status >= 300) throw new Error(`change: ${r.status} ${JSON.stringify(r.body)}`)
        }
      }),
    )

    // The delta: what the device pulls on reconnect. A change appears once every transaction older than it has
    // ended; the rare extra pull (another transaction still open on the server) is counted.
    const cpuDelta0 = procCpu(child.pid!)
    let delta = await pull(base, auth, local, initial.cursor)
    for (let tries = 0; delta.changes < CHANGES && tries < 50; tries++) {
      await new Promise((r) => setTimeout(r, 100))
      const more = await pull(base, auth, local, delta.cursor)
      delta = {
        ...more,
        requests: delta.requests + more.requests,
        wire: delta.wire + more.wire,
        json: delta.json + more.json,
        ms: delta.ms + more.ms,
        changes: delta.changes + more.changes,
        upserts: delta.upserts + more.upserts,
        removes: delta.removes + more.removes,
      }
    }
    const cpuDelta = (procCpu(child.pid!) ?? Number.NaN) - (cpuDelta0 ?? Number.NaN)
    const expectedSize = n - nDel + nNew
    if (delta.changes !== CHANGES || local.size !== expectedSize)
      notes.push(
        `WARNING: the delta brought ${delta.changes} changes (expected ${CHANGES}); the local copy holds ` +
          `${fmt(local.size)} records (expected ${fmt(expectedSize)})`,
      )

    // Push: 100 offline writes in one request (40 updates on their current version, 30 creates, 30 deletes),
    // the same request again (a retry after a lost answer: every result replayed, nothing written), then the 40
    // updated records' titles on the version the device synced (conflicts, which lww_field merges).
    const clientId = randomUUID()
    const at = new Date().toISOString()
    const rest = [...local.values()].filter((r) => !String(r.title).startsWith('Edited'))
    const mutations = [
      ...rest.slice(0, nUpd).map((r) => ({
        id: randomUUID(),
        collection: COLLECTION,
        op: 'update',
        recordId: r.id,
        data: { done: !r.done },
        baseVersion: r.version,
        at,
      })),
      ...Array.from({ length: nNew }, (_, i) => ({
        id: randomUUID(),
        collection: COLLECTION,
        op: 'create',
        recordId: randomUUID(),
        data: { title: `Offline ${i}`, owner: userId },
        at,
      })),
      ...rest.slice(nUpd, nUpd + nDel).map((r) => ({
        id: randomUUID(),
        collection: COLLECTION,
        op: 'delete',
        recordId: r.id,
        baseVersion: r.version,
        at,
      })),
    ]
    const push = async (ms: typeof mutations) => {
      const c0 = procCpu(child.pid!)
      const t0 = performance.now()
      const r = await ok(
        call(base, auth, 'POST', '/api/sync/push', { clientId, mutations: ms }),
        'POST /api/sync/push',
      )
      const statuses = new Map<string, number>()
      for (const x of r.body.results as { status: string }[])
        statuses.set(x.status, (statuses.get(x.status) ?? 0) + 1)
      const elapsed = performance.now() - t0
      return {
        ms: elapsed,
        answer: r,
        statuses,
        cpu: (procCpu(child.pid!) ?? Number.NaN) - (c0 ?? Number.NaN),
      }
    }
    const said = (s: Map<string, number>) => [...s].map(([k, v]) => `${v} ${k}`).join(', ')
    const first = await push(mutations)
    const replay = await push(mutations)
    // Stale: the version the device synced (1), while the records are now at 2 (the updates just pushed).
    const stale = rest.slice(0, nUpd).map((r) => ({
      id: randomUUID(),
      collection: COLLECTION,
      op: 'update',
      recordId: r.id,
      data: { title: `Offline edit of ${r.title}` },
      baseVersion: r.version,
      at,
    }))
    const conflicts = await push(stale)

    const rate = (count: number, ms: number, what: string) => `${fmt((count * 1000) / ms)} ${what}/s`
    const cpu = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} s` : '-')
    const bytes = (p: { wire: number; json: number }) =>
      ENCODING === 'gzip' ? `${kib(p.wire)} (${kib(p.json)} JSON)` : kib(p.json)
    const rows = [
      [
        'initial sync',
        `${fmt(initial.changes)} records`,
        String(initial.requests),
        secs(initial.ms),
        bytes(initial),
        rate(initial.changes, initial.ms, 'records'),
        cpu(cpuInitial),
      ],
      [
        `delta after ${CHANGES} changes`,
        `${delta.upserts} upserts, ${delta.removes} removes`,
        String(delta.requests),
        secs(delta.ms),
        bytes(delta),
        rate(delta.changes, delta.ms, 'changes'),
        cpu(cpuDelta),
      ],
      [
        `push ${mutations.length} mutations`,
        said(first.statuses),
        '1',
        secs(first.ms),
        bytes(first.answer),
        rate(mutations.length, first.ms, 'mutations'),
        cpu(first.cpu),
      ],
      [
        'push again (replay)',
        said(replay.statuses),
        '1',
        secs(replay.ms),
        bytes(replay.answer),
        rate(mutations.length, replay.ms, 'mutations'),
        cpu(replay.cpu),
      ],
      [
        `push ${stale.length} stale updates`,
        said(conflicts.statuses),
        '1',
        secs(conflicts.ms),
        bytes(conflicts.answer),
        rate(stale.length, conflicts.ms, 'mutations'),
        cpu(conflicts.cpu),
      ],
    ]
    if ((first.statuses.get('applied') ?? 0) !== mutations.length)
      notes.push(`WARNING: the first push was not applied as a whole: ${said(first.statuses)}`)
    return { n, rows, notes }
  } finally {
    await runCleanups(mark)
  }
}

runMain(
  async () => {
    console.log(machineLine())
    console.log(
      `pages of ${PAGE.toLocaleString('en-US')}, Accept-Encoding: ${ENCODING}, one keep-alive connection, this process as the client\n`,
    )
    const results: Result[] = []
    for (const n of SIZES) {
      process.stdout.write(`${fmt(n)} records… `)
      const r = await runSize(n)
      console.log('done')
      results.push(r)
    }
    console.log()
    printTable(
      ['records', 'phase', 'what', 'requests', 'time', 'bytes', 'rate', 'server CPU'],
      results.flatMap((r) => r.rows.map((row) => [fmt(r.n), ...row])),
      [0, 1, 2],
    )
    for (const r of results) {
      console.log(`\n${fmt(r.n)} records:`)
      for (const note of r.notes) console.log(`  ${note}`)
    }
  },
  () => agent.destroy(),
)
