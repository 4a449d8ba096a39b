/**
 * Bastide vs a raw `node:http` + `pg` baseline, on loopback, for the four record operations.
 *
 *   pnpm bench                                  # full run: view, list, create, update × both servers
 *   pnpm bench -- --duration 15 --connections 50
 *   pnpm bench -- --only list,view
 *   pnpm bench -- --profile list                # CPU profile of Bastide under one scenario
 *   pnpm bench -- --auth                        # view under each credential: none, API key, session, JWT
 *
 * PostgreSQL: DATABASE_URL (a superuser-ish URL on which a database can be created) or, unset, an embedded
 * PostgreSQL in a temporary directory. A fresh database `bst_bench_<random>` is created and dropped at the end.
 * Both servers run as child processes so that the load generator (autocannon, in this process) does not
 * share their event loop. Nothing is written into the repository.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon, { type Request, type Result } from 'autocannon'
import pg from 'pg'
import { freePort } from '../src/db/embedded-postgres.ts'
import {
  ADMIN_KEY,
  cleanups,
  createDatabase,
  installCleanupHandlers,
  machineLine,
  printTable,
  runMain,
  SERVER_DIR,
  stopChild,
  trackChild,
  waitReady,
} from './lib.ts'
import { hasWrk, runWrk, type WrkRequest } from './wrk.ts'

/** Where Bastide runs from: this package, or (A/B experiments) a copy of it with a change applied. */
const BASTIDE_DIR = process.env.BENCH_BASTIDE_DIR ? path.resolve(process.env.BENCH_BASTIDE_DIR) : SERVER_DIR
const COLLECTION = 'bench_posts'
const LIST_QUERY = `filter=${encodeURIComponent('score > 500')}&sort=-score&perPage=20`

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string', default: process.env.BENCH_DURATION ?? '8' },
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '4' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '2' },
    connections: { type: 'string', default: process.env.BENCH_CONNECTIONS ?? '50' },
    records: { type: 'string', default: process.env.BENCH_RECORDS ?? '10000' },
    only: { type: 'string' },
    profile: { type: 'string' },
    auth: { type: 'boolean' },
    loadgen: { type: 'string', default: process.env.BENCH_LOADGEN },
    help: { type: 'boolean', short: 'h' },
  },
})
if (args.help) {
  console.log(
    'usage: tsx bench/run.ts [--duration s] [--rounds n] [--warmup s] [--connections n] [--records n] [--only view,list,create,update] [--profile scenario] [--auth] [--loadgen wrk|autocannon]',
  )
  process.exit(0)
}
const DURATION = positive('duration', args.duration!)
const WARMUP = Number(args.warmup)
/**
 * Each scenario's measured time is cut into this many rounds, the servers taking turns within each round and
 * the order reversed from one round to the next (A B, B A, ...): on a shared machine the speed of everything
 * drifts and jumps over seconds, and a ratio of two runs made seconds apart measured that too. Each round
 * gives a ratio; the median of them is reported, with their spread.
 */
const ROUNDS = Math.floor(positive('rounds', args.rounds!))
const SLICE = Math.max(1, Math.round(DURATION / ROUNDS))
const CONNECTIONS = positive('connections', args.connections!)
const RECORDS = positive('records', args.records!)
/** wrk when installed (see wrk.ts), else autocannon; `--loadgen` chooses. */
const LOADGEN: 'wrk' | 'autocannon' =
  args.loadgen === 'autocannon' || args.loadgen === 'wrk'
    ? args.loadgen
    : args.loadgen
      ? (() => {
          console.error('--loadgen must be wrk or autocannon')
          process.exit(2)
        })()
      : hasWrk()
        ? 'wrk'
        : 'autocannon'

function positive(name: string, v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number`)
    process.exit(2)
  }
  return n
}

// ---------------------------------------------------------------------------------------------------------
// Targets and scenarios

interface Target {
  readonly name: 'Bastide' | 'raw'
  readonly base: string
  /** Where records live: `/api/collections/bench_posts/records` or `/records`. */
  readonly records: string
  readonly pid: number | undefined
}

interface Scenario {
  readonly name: 'view' | 'list' | 'create' | 'update'
  readonly label: string
  readonly write: boolean
  request(t: Target, ids: readonly string[]): Request
  /** The same requests for wrk (random ids and values drawn in Lua). */
  wrk(t: Target, ids: readonly string[]): WrkRequest
}

/** A Lua string.format call: `fmt` a Lua format string, `args` Lua expressions. */
const luaFormat = (fmt: string, ...args: string[]) =>
  `string.format(${JSON.stringify(fmt)}, ${args.join(', ')})`

const pick = <T>(a: readonly T[]): T => a[Math.floor(Math.random() * a.length)]!
const randInt = (n: number) => Math.floor(Math.random() * n)
const LOREM =
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore.'

function newPost(i: number) {
  return { title: `post ${i}`, body: LOREM, score: randInt(1001), owner: `user_${randInt(100)}` }
}

const JSON_HEADERS = { 'content-type': 'application/json' }

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'view',
    label: 'GET by id',
    write: false,
    request: (t, ids) => ({
      method: 'GET',
      path: `${t.records}/${ids[0]}`,
      setupRequest: (r) => ({ ...r, path: `${t.records}/${pick(ids)}` }),
    }),
    wrk: (t, ids) => ({ method: 'GET', paths: ids.map((id) => `${t.records}/${id}`) }),
  },
  {
    name: 'list',
    label: 'list 20, filter+sort',
    write: false,
    // The raw server ignores the query string and runs the same SQL with these values hardcoded.
    request: (t) => ({ method: 'GET', path: `${t.records}?${LIST_QUERY}` }),
    wrk: (t) => ({ method: 'GET', paths: [`${t.records}?${LIST_QUERY}`] }),
  },
  {
    name: 'create',
    label: 'create',
    write: true,
    request: (t) => ({
      method: 'POST',
      path: t.records,
      headers: JSON_HEADERS,
      body: JSON.stringify(newPost(0)),
      setupRequest: (r) => ({ ...r, body: JSON.stringify(newPost(randInt(1e9))) }),
    }),
    wrk: (t) => ({
      method: 'POST',
      paths: [t.records],
      headers: JSON_HEADERS,
      luaBody: luaFormat(
        `{"title":"post %d","body":"${LOREM}","score":%d,"owner":"user_%d"}`,
        'math.random(1000000000)',
        'math.random(0, 1000)',
        'math.random(0, 99)',
      ),
    }),
  },
  {
    name: 'update',
    label: 'update',
    write: true,
    request: (t, ids) => ({
      method: 'PATCH',
      path: `${t.records}/${ids[0]}`,
      headers: JSON_HEADERS,
      body: JSON.stringify({ title: 'updated', score: 1 }),
      setupRequest: (r) => ({
        ...r,
        path: `${t.records}/${pick(ids)}`,
        body: JSON.stringify({ title: `updated ${randInt(1e9)}`, score: randInt(1001) }),
      }),
    }),
    wrk: (t, ids) => ({
      method: 'PATCH',
      paths: ids.map((id) => `${t.records}/${id}`),
      headers: JSON_HEADERS,
      luaBody: luaFormat(
        '{"title":"updated %d","score":%d}',
        'math.random(1000000000)',
        'math.random(0, 1000)',
      ),
    }),
  },
]

// ---------------------------------------------------------------------------------------------------------
// Cleanup: children, database, embedded PostgreSQL, temp dirs — on success, failure and Ctrl-C.

installCleanupHandlers()

function spawnNode(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  cwd = SERVER_DIR,
): ChildProcess {
  const ts = script.endsWith('.ts') ? ['--import', 'tsx'] : []
  const child = spawn(process.execPath, [...nodeArgs, ...ts, script], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  // Callers register its stop themselves, after what must outlive it.
  return trackChild(child, false)
}

// ---------------------------------------------------------------------------------------------------------
// Database

// ---------------------------------------------------------------------------------------------------------
// Servers

let built: Promise<void> | undefined
/** Builds the server under test to dist/ (scripts/build.mjs), once per run, and only when its sources changed. */
function ensureBuilt(): Promise<void> {
  built ??= import(pathToFileURL(path.join(BASTIDE_DIR, 'scripts/build.mjs')).href).then(
    (m: { ensureBuilt(): Promise<void> }) => m.ensureBuilt(),
  )
  return built
}

async function startBastideChild(
  dbUrl: string,
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; target: Target }> {
  const port = await freePort()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-bench-data-'))
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  // What `pnpm start` and the Docker image run: the JavaScript build (tsx adds work of its own to every
  // function a request creates, e.g. esbuild's keepNames helper, which production does not pay).
  await ensureBuilt()
  const child = spawnNode(
    'dist/main.js',
    {
      DATABASE_URL: dbUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      BASTIDE_ADMIN_KEY: ADMIN_KEY,
      BASTIDE_LOG_LEVEL: 'warn',
      BASTIDE_DATA_DIR: dataDir,
    },
    nodeArgs,
    BASTIDE_DIR,
  )
  cleanups.push(() => stopChild(child))
  const base = `http://127.0.0.1:${port}`
  await waitReady(`${base}/api/health`, child, 'Bastide')
  return {
    child,
    target: { name: 'Bastide', base, records: `/api/collections/${COLLECTION}/records`, pid: child.pid },
  }
}

async function startRawChild(dbUrl: string): Promise<{ child: ChildProcess; target: Target }> {
  const port = await freePort()
  const child = spawnNode('bench/raw-server.ts', { DATABASE_URL: dbUrl, PORT: String(port) })
  cleanups.push(() => stopChild(child))
  const base = `http://127.0.0.1:${port}`
  await waitReady(`${base}/health`, child, 'raw baseline')
  return { child, target: { name: 'raw', base, records: '/records', pid: child.pid } }
}

async function call(
  base: string,
  method: string,
  p: string,
  body?: unknown,
  admin = false,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {}
  if (admin) headers.authorization = `Bearer ${ADMIN_KEY}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const r = await fetch(`${base}${p}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await r.text()
  return { status: r.status, body: text ? JSON.parse(text) : null }
}

async function seed(bastide: Target): Promise<string[]> {
  const col = await call(
    bastide.base,
    'POST',
    '/api/collections',
    {
      name: COLLECTION,
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'body', type: 'text' },
        { name: 'score', type: 'number', options: { integer: true } },
        { name: 'owner', type: 'text' },
      ],
      // The list scenario (score > 500 ORDER BY score DESC, id DESC) walks this index backwards.
      indexes: [{ fields: ['score', 'id'] }],
      rules: { list: 'score >= 0', view: 'score >= 0', create: '', update: '', delete: null },
    },
    true,
  )
  if (col.status !== 201) throw new Error(`creating ${COLLECTION}: ${col.status} ${JSON.stringify(col.body)}`)
  const started = Date.now()
  const ids: string[] = []
  const batches = Math.ceil(RECORDS / 100)
  let next = 0
  const worker = async () => {
    while (next < batches) {
      const b = next++
      const n = Math.min(100, RECORDS - b * 100)
      const requests = Array.from({ length: n }, (_, i) => ({
        method: 'POST',
        path: `/api/collections/${COLLECTION}/records`,
        body: newPost(b * 100 + i),
      }))
      const r = await call(bastide.base, 'POST', '/api/batch', { requests }, true)
      if (r.status !== 200) throw new Error(`seeding batch ${b}: ${r.status} ${JSON.stringify(r.body)}`)
      for (const x of r.body.responses) ids.push(x.body.id)
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  console.log(
    `seeded ${ids.length} records via /api/batch in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )
  return ids
}

/** Both servers answer the same thing for the same request (same SQL, same JSON), and every request works. */
async function checkParity(b: Target, raw: Target, ids: readonly string[]): Promise<string[]> {
  const problems: string[] = []
  const id = ids[0]!
  const v1 = await call(b.base, 'GET', `${b.records}/${id}`)
  const v2 = await call(raw.base, 'GET', `${raw.records}/${id}`)
  if (v1.status !== 200 || v2.status !== 200) problems.push(`view: status ${v1.status} vs ${v2.status}`)
  else if (JSON.stringify(v1.body) !== JSON.stringify(v2.body)) problems.push('view: bodies differ')
  const l1 = await call(b.base, 'GET', `${b.records}?${LIST_QUERY}`)
  const l2 = await call(raw.base, 'GET', `${raw.records}?${LIST_QUERY}`)
  if (l1.status !== 200 || l2.status !== 200) problems.push(`list: status ${l1.status} vs ${l2.status}`)
  else if (JSON.stringify(l1.body) !== JSON.stringify(l2.body)) problems.push('list: bodies differ')
  else if (l1.body.items.length !== 20) problems.push(`list: ${l1.body.items.length} items, expected 20`)
  const body = newPost(-1)
  const c1 = await call(b.base, 'POST', b.records, body)
  const c2 = await call(raw.base, 'POST', raw.records, body)
  if (c1.status !== 201 || c2.status !== 201) problems.push(`create: status ${c1.status} vs ${c2.status}`)
  else if (Object.keys(c1.body).join() !== Object.keys(c2.body).join()) problems.push('create: shapes differ')
  const u1 = await call(b.base, 'PATCH', `${b.records}/${c1.body?.id}`, { title: 'x', score: 2 })
  const u2 = await call(raw.base, 'PATCH', `${raw.records}/${c2.body?.id}`, { title: 'x', score: 2 })
  if (u1.status !== 200 || u2.status !== 200) problems.push(`update: status ${u1.status} vs ${u2.status}`)
  else if (Object.keys(u1.body).join() !== Object.keys(u2.body).join() || u1.body.version !== 2)
    problems.push('update: shapes differ')
  return problems
}

// ---------------------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc): on a small machine the server, PostgreSQL and the load generator share the
// cores, so CPU time per request says more about a server's cost than its req/s alone.

const CLK_TCK = 100

function procCpu(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / CLK_TCK
  } catch {
    return undefined
  }
}

function procParent(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/** The postmaster's pid when PostgreSQL runs on this machine and /proc shows it; otherwise undefined. */
let postmaster: number | undefined

async function findPostmaster(dbUrl: string): Promise<void> {
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  try {
    const r = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    const parent = procParent(r.rows[0]!.pid)
    if (parent && fs.readFileSync(`/proc/${parent}/cmdline`, 'utf8').includes('postgres')) postmaster = parent
  } catch {
    postmaster = undefined
  } finally {
    await c.end()
  }
}

/** CPU seconds used so far by PostgreSQL: the postmaster and its live children. */
function pgCpu(): number | undefined {
  if (!postmaster) return undefined
  let total = procCpu(postmaster) ?? 0
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    if (procParent(Number(d)) === postmaster) total += procCpu(Number(d)) ?? 0
  }
  return total
}

/**
 * CPU seconds the machine has been busy (all cores), from /proc/stat: user, nice, system, irq and softirq
 * (processes are charged for some interrupt work, so it is counted on both sides); idle, iowait and steal
 * (time the hypervisor gave to another guest) are not.
 */
function machineBusy(): number | undefined {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    return (f[0]! + f[1]! + f[2]! + (f[5] ?? 0) + (f[6] ?? 0)) / CLK_TCK
  } catch {
    return undefined
  }
}

function selfCpu(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

// ---------------------------------------------------------------------------------------------------------
// Load

interface Measure {
  /** Requests answered in the measured time, and that time in seconds. */
  readonly requests: number
  readonly seconds: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly bad: number
  readonly detail: string
  /** CPU µs per request: the server process, PostgreSQL, the load generator (this process). */
  readonly cpu: { server?: number; pg?: number; loadgen: number }
  /** Cores used by other processes on the machine meanwhile (noise), when it can be told. */
  readonly others?: number
}

function fire(
  t: Target,
  s: Scenario,
  ids: readonly string[],
  duration: number,
  headers?: Record<string, string>,
): Promise<Result> {
  const request = s.request(t, ids)
  return autocannon({
    url: t.base,
    connections: CONNECTIONS,
    duration,
    timeout: 10,
    requests: [headers ? { ...request, headers: { ...request.headers, ...headers } } : request],
  })
}

/** `seconds` of load on `t` measured, after `warmup` seconds of it unmeasured. */
async function measure(
  t: Target,
  s: Scenario,
  ids: readonly string[],
  headers?: Record<string, string>,
  seconds = DURATION,
  warmup = WARMUP,
): Promise<Measure> {
  if (LOADGEN === 'wrk') return measureWrk(t, s, ids, headers, seconds, warmup)
  if (warmup > 0) await fire(t, s, ids, warmup, headers)
  const snap = () => ({
    server: t.pid ? procCpu(t.pid) : undefined,
    pg: pgCpu(),
    self: selfCpu(),
    machine: machineBusy(),
  })
  const before = snap()
  const r = await fire(t, s, ids, seconds, headers)
  const after = snap()
  const n = r.requests.total || 1
  const perReq = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined ? ((b - a) * 1e6) / n : undefined
  const cpu = {
    ...(perReq(before.server, after.server) !== undefined
      ? { server: perReq(before.server, after.server)! }
      : {}),
    ...(perReq(before.pg, after.pg) !== undefined ? { pg: perReq(before.pg, after.pg)! } : {}),
    loadgen: perReq(before.self, after.self)!,
  }
  const bad = r.non2xx + r.errors + r.timeouts
  const codes = Object.entries(r.statusCodeStats)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, v]) => `${code}×${v.count}`)
  const detail = bad
    ? `non-2xx ${r.non2xx} (${codes.join(', ') || '-'}), errors ${r.errors}, timeouts ${r.timeouts}`
    : ''
  let others: number | undefined
  if (
    before.machine !== undefined &&
    after.machine !== undefined &&
    cpu.server !== undefined &&
    cpu.pg !== undefined
  ) {
    const ours = ((cpu.server + cpu.pg + cpu.loadgen) * n) / 1e6
    others = Math.max(0, (after.machine - before.machine - ours) / r.duration)
  }
  return {
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    bad,
    detail,
    cpu,
    ...(others !== undefined ? { others } : {}),
  }
}

/** measure() with wrk: the same figures, wrk's CPU as the load generator's. */
async function measureWrk(
  t: Target,
  s: Scenario,
  ids: readonly string[],
  headers: Record<string, string> | undefined,
  seconds: number,
  warmup: number,
): Promise<Measure> {
  const base = s.wrk(t, ids)
  const r: WrkRequest = headers ? { ...base, headers: { ...base.headers, ...headers } } : base
  if (warmup > 0) await runWrk(t.base, r, { connections: CONNECTIONS, seconds: warmup })
  const snap = () => ({
    server: t.pid ? procCpu(t.pid) : undefined,
    pg: pgCpu(),
    machine: machineBusy(),
  })
  const before = snap()
  const w = await runWrk(t.base, r, { connections: CONNECTIONS, seconds })
  const after = snap()
  const n = w.requests || 1
  const perReq = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined ? ((b - a) * 1e6) / n : undefined
  const server = perReq(before.server, after.server)
  const pgUs = perReq(before.pg, after.pg)
  const cpu = {
    ...(server !== undefined ? { server } : {}),
    ...(pgUs !== undefined ? { pg: pgUs } : {}),
    loadgen: (w.cpu * 1e6) / n,
  }
  const bad = w.non2xx + w.errors + w.timeouts
  const detail = bad ? `non-2xx ${w.non2xx}, errors ${w.errors}, timeouts ${w.timeouts}` : ''
  let others: number | undefined
  if (
    before.machine !== undefined &&
    after.machine !== undefined &&
    server !== undefined &&
    pgUs !== undefined
  ) {
    const ours = ((server + pgUs + cpu.loadgen) * n) / 1e6
    others = Math.max(0, (after.machine - before.machine - ours) / w.seconds)
  }
  return {
    requests: w.requests,
    seconds: w.seconds,
    rps: w.requests / w.seconds,
    p50: w.p50,
    p99: w.p99,
    bad,
    detail,
    cpu,
    ...(others !== undefined ? { others } : {}),
  }
}

/**
 * Slices of one side's load as one measure: requests over time, CPU per request over all requests, the p50
 * weighted by requests, the worst p99, and every error.
 */
function combine(slices: readonly Measure[]): Measure {
  const requests = slices.reduce((a, m) => a + m.requests, 0)
  const seconds = slices.reduce((a, m) => a + m.seconds, 0)
  const n = requests || 1
  const perReq = (f: (m: Measure) => number | undefined) =>
    slices.every((m) => f(m) !== undefined)
      ? slices.reduce((a, m) => a + f(m)! * m.requests, 0) / n
      : undefined
  const server = perReq((m) => m.cpu.server)
  const pgUs = perReq((m) => m.cpu.pg)
  const others = slices.every((m) => m.others !== undefined)
    ? slices.reduce((a, m) => a + m.others! * m.seconds, 0) / (seconds || 1)
    : undefined
  return {
    requests,
    seconds,
    rps: requests / (seconds || 1),
    p50: slices.reduce((a, m) => a + m.p50 * m.requests, 0) / n,
    p99: Math.max(...slices.map((m) => m.p99)),
    bad: slices.reduce((a, m) => a + m.bad, 0),
    detail: slices
      .map((m) => m.detail)
      .filter(Boolean)
      .join('; '),
    cpu: {
      ...(server !== undefined ? { server } : {}),
      ...(pgUs !== undefined ? { pg: pgUs } : {}),
      loadgen: perReq((m) => m.cpu.loadgen)!,
    },
    ...(others !== undefined ? { others } : {}),
  }
}

/** `lowest–highest` of the rounds' ratios. */
const spread = (xs: readonly number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`

function median(xs: readonly number[]): number {
  const a = [...xs].sort((x, y) => x - y)
  const mid = a.length >> 1
  return a.length % 2 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2
}

/**
 * One line of results; `jwtOf`: this is the view under an access JWT, and that the anonymous one. `ratios`: each
 * round's req/s ratio (to raw, or for the JWT line to anonymous), whose median is the line's ratio.
 */
interface Row {
  readonly s: Scenario
  readonly b: Measure
  readonly r: Measure
  readonly jwtOf?: Measure
  readonly ratios: readonly number[]
}

/** Issue 18's targets: reads at 0.75× raw, writes at 0.6×, the JWT path at 0.8× the anonymous one. */
const READ_GOAL = 0.75
const WRITE_GOAL = 0.6
const JWT_GOAL = 0.8

function printResults(rows: Row[]): void {
  console.log()
  printTable(
    [
      'scenario',
      'Bastide req/s',
      'p50 ms',
      'p99 ms',
      'raw req/s',
      'p50 ms',
      'p99 ms',
      'ratio',
      'rounds',
      'target',
      'non-2xx B/raw',
    ],
    rows.map(({ s, b, r, jwtOf, ratios }) => {
      // The JWT line's ratio to raw: its rounds' req/s against raw's rounds.
      const ratio = jwtOf ? b.rps / r.rps : median(ratios)
      const goal = s.write ? WRITE_GOAL : READ_GOAL
      return [
        jwtOf ? `${s.name} (${s.label}, access JWT)` : `${s.name} (${s.label})`,
        b.rps.toFixed(0),
        b.p50.toFixed(1),
        b.p99.toFixed(1),
        r.rps.toFixed(0),
        r.p50.toFixed(1),
        r.p99.toFixed(1),
        ratio.toFixed(2),
        jwtOf ? '' : spread(ratios),
        `≥${goal} ${ratio >= goal ? 'ok' : 'MISSED'}`,
        `${b.bad}/${r.bad}`,
      ]
    }),
  )
  const us = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(0))
  console.log('\nCPU time per request, µs (server process / PostgreSQL / load generator):')
  printTable(
    [
      'scenario',
      'Bastide',
      'PG (Bastide)',
      'loadgen',
      'raw',
      'PG (raw)',
      'loadgen',
      'Bastide ÷ raw',
      'other procs, cores B/raw',
    ],
    rows.map(({ s, b, r, jwtOf }) => [
      jwtOf ? `${s.name} + JWT` : s.name,
      us(b.cpu.server),
      us(b.cpu.pg),
      us(b.cpu.loadgen),
      us(r.cpu.server),
      us(r.cpu.pg),
      us(r.cpu.loadgen),
      b.cpu.server !== undefined && r.cpu.server ? (b.cpu.server / r.cpu.server).toFixed(1) : 'n/a',
      `${b.others?.toFixed(2) ?? 'n/a'}/${r.others?.toFixed(2) ?? 'n/a'}`,
    ]),
  )
  for (const { b, jwtOf, ratios } of rows) {
    if (!jwtOf) continue
    const vs = median(ratios)
    const extra =
      b.cpu.server !== undefined && jwtOf.cpu.server !== undefined
        ? `, server CPU ${b.cpu.server - jwtOf.cpu.server >= 0 ? '+' : ''}${(b.cpu.server - jwtOf.cpu.server).toFixed(0)} µs/req`
        : ''
    console.log(
      `\naccess JWT vs anonymous (view): ${vs.toFixed(2)}, rounds ${spread(ratios)} (target ≥${JWT_GOAL} ${vs >= JWT_GOAL ? 'ok' : 'MISSED'})${extra}`,
    )
  }
  console.log()
  const noisy = rows.some(({ b, r }) => (b.others ?? 0) > 0.15 || (r.others ?? 0) > 0.15)
  if (noisy)
    console.log(
      'WARNING: other processes used a noticeable share of the CPU during some runs; those numbers are disturbed (rerun on a quiet machine).',
    )
  for (const { s, b, r } of rows) {
    if (b.bad) console.log(`WARNING: ${s.name} on Bastide: ${b.detail}`)
    if (r.bad) console.log(`WARNING: ${s.name} on raw: ${r.detail}`)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Credentials: what resolving each kind of identity costs on the same request

/** A new user's session token and access JWT, and an API key with records:read. */
async function credentials(b: Target): Promise<{ session: string; access: string; key: string }> {
  const email = `bench-${randomBytes(4).toString('hex')}@example.com`
  const password = `Bench-${randomBytes(12).toString('hex')}`
  // Node's fetch sends Sec-Fetch-Mode, which better-auth takes for a browser's: it then wants an Origin,
  // and the server (no BASTIDE_PUBLIC_URL) trusts its own http://localhost:<port>.
  const authPost = async (p: string, body: unknown) => {
    const r = await fetch(`${b.base}/api/auth${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: `http://localhost:${new URL(b.base).port}` },
      body: JSON.stringify(body),
    })
    const json = (await r.json()) as Record<string, unknown>
    if (r.status !== 200) throw new Error(`${p}: ${r.status} ${JSON.stringify(json)}`)
    return json
  }
  await authPost('/sign-up/email', { email, password, name: 'Bench' })
  const session = (await authPost('/sign-in/email', { email, password })).token as string
  const jwt = await fetch(`${b.base}/api/auth/token`, { headers: { authorization: `Bearer ${session}` } })
  const access: string = ((await jwt.json()) as { token: string }).token
  const key = await call(b.base, 'POST', '/api/admin/keys', { name: 'bench', scopes: ['records:read'] }, true)
  if (key.status !== 201) throw new Error(`api key: ${key.status} ${JSON.stringify(key.body)}`)
  return { session, access, key: key.body.key as string }
}

/**
 * The view scenario on Bastide under each credential a client can send. The JWT is verified locally and
 * its session checked by one indexed query; a session token is one query; an API key is a hash and one
 * query; anonymous is none of these, so the difference to it is the price of identity.
 */
async function benchAuth(b: Target, ids: readonly string[], raw: Target): Promise<void> {
  const { session, access, key } = await credentials(b)
  const view = SCENARIOS.find((s) => s.name === 'view')!
  const identities: [string, Record<string, string> | undefined][] = [
    ['anonymous', undefined],
    ['API key (bst_sk_)', { authorization: `Bearer ${key}` }],
    ['session token', { authorization: `Bearer ${session}` }],
    ['access JWT', { authorization: `Bearer ${access}` }],
  ]
  console.log(
    `load: ${LOADGEN}, ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s measured, view (GET by id) under each credential`,
  )
  const rows: [string, Measure][] = []
  // The raw server's view before and after (averaged), so that drift over the run does not favour a credential.
  process.stdout.write(`  ${'raw (node+pg)'.padEnd(18)} … `)
  const rawBefore = await measure(raw, view, ids)
  console.log(`${rawBefore.rps.toFixed(0)} req/s`)
  for (const [name, headers] of identities) {
    process.stdout.write(`  ${name.padEnd(18)} … `)
    const m = await measure(b, view, ids, headers)
    console.log(`${m.rps.toFixed(0)} req/s${m.bad ? `, ${m.detail}` : ''}`)
    rows.push([name, m])
  }
  process.stdout.write(`  ${'raw (node+pg)'.padEnd(18)} … `)
  const rawAfter = await measure(raw, view, ids)
  console.log(`${rawAfter.rps.toFixed(0)} req/s`)
  const rawRps = (rawBefore.rps + rawAfter.rps) / 2
  const anon = rows[0]![1]
  console.log()
  printTable(
    [
      'credential',
      'req/s',
      'p50 ms',
      'p99 ms',
      'vs anonymous',
      'vs raw',
      'server µs/req',
      'server µs vs anonymous',
      'PG µs/req',
      'non-2xx',
    ],
    rows.map(([name, m]) => [
      name,
      m.rps.toFixed(0),
      m.p50.toFixed(1),
      m.p99.toFixed(1),
      (m.rps / anon.rps).toFixed(2),
      (m.rps / rawRps).toFixed(2),
      m.cpu.server?.toFixed(0) ?? 'n/a',
      // CPU per request moves less with a busy machine than req/s: the steadier price of the credential.
      m.cpu.server !== undefined && anon.cpu.server !== undefined
        ? `${m.cpu.server - anon.cpu.server >= 0 ? '+' : ''}${(m.cpu.server - anon.cpu.server).toFixed(0)}`
        : 'n/a',
      m.cpu.pg?.toFixed(0) ?? 'n/a',
      String(m.bad),
    ]),
  )
  for (const [name, m] of rows) if (m.bad) console.log(`WARNING: ${name}: ${m.detail}`)
}

// ---------------------------------------------------------------------------------------------------------
// CPU profile summary

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

function frameLabel(f: ProfileNode['callFrame']): string {
  const fn = f.functionName || '(anonymous)'
  if (!f.url) return fn
  const url = f.url.replace(/^file:\/\//, '')
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url)
  const where = pnpm
    ? `${pnpm[1]}/${pnpm[2]}`
    : url.startsWith(BASTIDE_DIR)
      ? path.relative(BASTIDE_DIR, url)
      : url
  return `${fn} ${where}:${f.lineNumber + 1}`
}

function groupOf(f: ProfileNode['callFrame']): string {
  const url = f.url.replace(/^file:\/\//, '')
  if (!url) return f.functionName.startsWith('(') ? f.functionName : '(native/V8 builtins)'
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pnpm) return pnpm[1]!
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`
  if (url.startsWith(BASTIDE_DIR)) return `bastide ${path.relative(BASTIDE_DIR, url)}`
  return url
}

/** Self and inclusive time from a .cpuprofile, restricted to [fromUs, toUs] on the monotonic clock. */
function summarizeProfile(file: string, fromUs: number, toUs: number): void {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  let t = prof.startTime
  let inWindow = 0
  const self = new Map<string, number>()
  const groups = new Map<string, number>()
  const incl = new Map<string, number>()
  let total = 0
  let idle = 0
  const within = (ts: number) => ts >= fromUs && ts <= toUs
  // If the clocks do not line up (other platform), fall back to the whole profile.
  const anyInWindow = prof.timeDeltas.some((_, i) => {
    t += prof.timeDeltas[i]!
    return within(t)
  })
  t = prof.startTime
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? 0
    t += prof.timeDeltas[i]!
    if (anyInWindow && !within(t)) continue
    inWindow++
    const node = byId.get(prof.samples[i]!)!
    if (node.callFrame.functionName === '(idle)') {
      idle += dt
      continue
    }
    total += dt
    const label = frameLabel(node.callFrame)
    self.set(label, (self.get(label) ?? 0) + dt)
    const g = groupOf(node.callFrame)
    groups.set(g, (groups.get(g) ?? 0) + dt)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame
      if (!f.url || f.url.startsWith('node:')) continue
      const l = frameLabel(f)
      if (seen.has(l)) continue
      seen.add(l)
      incl.set(l, (incl.get(l) ?? 0) + dt)
    }
  }
  const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)}%`
  const top = (m: Map<string, number>, n: number, filter: (k: string) => boolean = () => true) =>
    [...m.entries()]
      .filter(([k]) => filter(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
  console.log(
    `\nCPU profile (${anyInWindow ? 'measured window only' : 'whole process'}): ${inWindow} samples, busy ${(total / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s`,
  )
  console.log('\nTop self time by function:')
  for (const [k, v] of top(self, 30)) console.log(`  ${pct(v)}  ${k}`)
  console.log('\nSelf time by package / file:')
  for (const [k, v] of top(groups, 20)) console.log(`  ${pct(v)}  ${k}`)
  console.log('\nInclusive time, Bastide (dist/, the build of src/) and middleware frames:')
  for (const [k, v] of top(incl, 40, (k) =>
    / ((src|dist)\/|hono\/dist\/(middleware|utils\/(body|crypto)))/.test(k),
  ))
    console.log(`  ${pct(v)}  ${k}`)
}

/**
 * Seeds through a Bastide of its own, stopped afterwards: the servers measured both start fresh and go through
 * the same requests. (A server that did the seeding spent about a fifth more CPU per GET by id afterwards than
 * a fresh one of the same build, side by side in one run: a history of 10,000 batch inserts the raw server,
 * which has no batch endpoint, cannot share.)
 */
async function seedFresh(dbUrl: string): Promise<string[]> {
  const seeder = await startBastideChild(dbUrl)
  const ids = await seed(seeder.target)
  await stopChild(seeder.child)
  return ids
}

async function profile(dbUrl: string, scenarioName: string): Promise<void> {
  const s = SCENARIOS.find((x) => x.name === scenarioName)
  if (!s) throw new Error(`--profile: unknown scenario '${scenarioName}'`)
  const ids = await seedFresh(dbUrl)
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-bench-prof-'))
  cleanups.push(() => fs.rmSync(profDir, { recursive: true, force: true }))
  const { child, target } = await startBastideChild(dbUrl, ['--cpu-prof', `--cpu-prof-dir=${profDir}`])
  // --auth: under a user's access JWT.
  const headers = args.auth ? { authorization: `Bearer ${(await credentials(target)).access}` } : undefined
  if (WARMUP > 0) await fire(target, s, ids, WARMUP, headers)
  const from = Number(process.hrtime.bigint() / 1000n)
  const r = await fire(target, s, ids, DURATION, headers)
  const to = Number(process.hrtime.bigint() / 1000n)
  await stopChild(child)
  console.log(
    `\n${s.name} on Bastide (profiled, so slower): ${(r.requests.total / r.duration).toFixed(0)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}`,
  )
  const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
  if (!file) throw new Error('the Bastide child wrote no CPU profile')
  const kept = path.join(os.tmpdir(), `bastide-bench-${s.name}.cpuprofile`)
  fs.copyFileSync(path.join(profDir, file), kept)
  summarizeProfile(kept, from, to)
  console.log(`\nprofile kept at ${kept} (open it in Chrome DevTools › Performance)`)
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now()
  console.log(machineLine())
  const dbUrl = await createDatabase()
  console.log(`database ${new URL(dbUrl).pathname.slice(1)}`)
  await findPostmaster(dbUrl)
  if (args.profile) {
    await profile(dbUrl, args.profile)
    return
  }
  if (args.auth) {
    const ids = await seedFresh(dbUrl)
    const b = await startBastideChild(dbUrl)
    await benchAuth(b.target, ids, (await startRawChild(dbUrl)).target)
    return
  }
  const only = args.only?.split(',').map((s) => s.trim())
  const scenarios = SCENARIOS.filter((s) => !only || only.includes(s.name))
  if (scenarios.length === 0) throw new Error(`--only: no scenario among ${args.only}`)

  const ids = await seedFresh(dbUrl)
  const bastide = await startBastideChild(dbUrl)
  const raw = await startRawChild(dbUrl)
  const problems = await checkParity(bastide.target, raw.target, ids)
  if (problems.length) {
    for (const p of problems) console.log(`PARITY PROBLEM: ${p}`)
    throw new Error('the two servers do not answer the same; fix that before comparing them')
  }
  console.log(
    'parity check: both servers return identical view/list bodies and the same create/update shapes',
  )
  console.log(
    `load: ${LOADGEN}, ${CONNECTIONS} connections, ${WARMUP} s warm-up, then ${ROUNDS} rounds of ${SLICE} s per server, taking turns (order reversed each round), per scenario; anonymous requests (rules apply)`,
  )

  // Mobile apps call with an access JWT: the view scenario runs under one too, right after the anonymous one.
  const jwt = scenarios.some((s) => s.name === 'view')
    ? { authorization: `Bearer ${(await credentials(bastide.target)).access}` }
    : undefined
  const rows: Row[] = []
  const line = (m: Measure) =>
    `${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, server CPU ${m.cpu.server?.toFixed(0) ?? 'n/a'} µs/req, other procs ${m.others?.toFixed(2) ?? 'n/a'} cores${m.bad ? `, ${m.detail}` : ''}`
  for (const s of scenarios) {
    // The view also runs under an access JWT (mobile apps call with one), in the same rounds.
    const sides: { name: string; t: Target; headers?: Record<string, string> }[] = [
      { name: 'Bastide', t: bastide.target },
      { name: 'raw', t: raw.target },
      ...(s.name === 'view' && jwt ? [{ name: 'B + JWT', t: bastide.target, headers: jwt }] : []),
    ]
    const slices = sides.map(() => [] as Measure[])
    for (let round = 0; round < ROUNDS; round++) {
      const order = sides.map((_, i) => i)
      if (round % 2 === 1) order.reverse()
      for (const i of order) {
        const side = sides[i]!
        slices[i]!.push(await measure(side.t, s, ids, side.headers, SLICE, round === 0 ? WARMUP : 0))
      }
      const rps = slices.map((x) => x[round]!.rps)
      console.log(
        `  ${s.name.padEnd(6)} round ${round + 1}/${ROUNDS}: ${sides.map((x, i) => `${x.name} ${rps[i]!.toFixed(0)}`).join(', ')} req/s`,
      )
    }
    const total = slices.map(combine)
    for (const [i, side] of sides.entries())
      console.log(`  ${s.name.padEnd(6)} ${side.name.padEnd(7)} … ${line(total[i]!)}`)
    const perRound = (a: number, b: number) => slices[a]!.map((m, round) => m.rps / slices[b]![round]!.rps)
    rows.push({ s, b: total[0]!, r: total[1]!, ratios: perRound(0, 1) })
    if (sides.length === 3)
      rows.push({ s, b: total[2]!, r: total[1]!, jwtOf: total[0]!, ratios: perRound(2, 0) })
  }
  printResults(rows)
  console.log(
    `ratio = the median, over the rounds, of Bastide req/s ÷ raw req/s in the same round ("rounds": lowest–highest). Total time ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  )
}

runMain(main)
