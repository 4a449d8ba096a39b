/**
 * Realtime fan-out: thousands of socket.io connections, each subscribed to a collection whose view rule is
 * `owner = @request.auth.id`, while a writer commits changes at a fixed rate through the REST API; on one node
 * and on two nodes sharing PostgreSQL and a Redis.
 *
 *   pnpm bench:realtime                                   # 5,000 connections, 500 writes/s for 20 s, both setups
 *   pnpm bench:realtime -- --connections 2000 --rate 200 --duration 10 --only 1
 *
 * Processes: this one orchestrates (database, Redis, servers, accounting); the Bastide servers
 * (`src/main.ts`, preloaded with bench/loop-probe.ts for event-loop delay and RSS), the client process holding
 * every connection (`--role clients`) and the writer (`--role writer`) are children, so that none shares an
 * event loop with another. All of them share the machine's cores with PostgreSQL and Redis, so the CPU each
 * used is reported.
 *
 * Users and sessions are inserted directly in SQL (a benchmark shortcut: 5,000 sign-ups through the API would
 * spend minutes in scrypt); the raw session token is what each connection presents as `auth.token`.
 * PostgreSQL: DATABASE_URL (a role allowed to create databases) or embedded; a fresh database per setup,
 * dropped at the end. Everything (children, databases, Redis, temp dirs) is cleaned up, also on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { io as connect, type Socket } from 'socket.io-client'
import { freePort } from '../src/db/embedded-postgres.ts'
import {
  cleanup,
  cleanups,
  createDatabase,
  ensurePostgres,
  installCleanupHandlers,
  machineLine,
  printTable,
  runCleanups,
  SERVER_DIR,
  tempDir,
  trackChild,
} from './lib.ts'

const SELF = 'bench/realtime.ts'
const COLLECTION = 'bench_items'
/** Share of the writes that update a record written before (the rest create one). */
const UPDATE_SHARE = 0.2
/** Connections opening at once during the ramp. */
const RAMP_CONCURRENCY = 500
/** Requests the writer keeps in flight at most. */
const WRITER_CONCURRENCY = 32
/** How long to wait after the last write for the last deliveries. */
const GRACE_MS = 5000
const FD_LIMIT = 65536

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    connections: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '500' },
    duration: { type: 'string', default: '20' },
    only: { type: 'string', default: '1,2' },
    role: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})

/** Monotonic milliseconds: CLOCK_MONOTONIC on Linux, the same clock in every process of the machine. */
const now = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------------------
// Messages between this process and its clients and writer children (over the IPC channel)

interface BenchUser {
  readonly id: string
  readonly token: string
}

type ToClients =
  | { type: 'connect'; urls: string[]; users: BenchUser[]; concurrency: number }
  | { type: 'count' }
  | { type: 'collect' }
type FromClients =
  | {
      type: 'ramped'
      ms: number
      subscribed: string[]
      failed: number
      errors: Record<string, number>
    }
  | { type: 'count'; received: number; disconnected: number }
  | {
      type: 'receipts'
      /** [`id@version`, first receipt (monotonic ms), times received] */
      receipts: [string, number, number][]
      misrouted: number
      disconnected: number
    }

type ToWriter = {
  type: 'write'
  urls: string[]
  owners: string[]
  rate: number
  duration: number
  adminKey: string
}
type FromWriter =
  | { type: 'ready' }
  | {
      type: 'done'
      /** [`id@version`, request sent, response read (monotonic ms)] */
      writes: [string, number, number][]
      failed: number
      errors: Record<string, number>
      seconds: number
    }

function once<T extends { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T) => {
      if (m.type !== type) return
      off()
      resolve(m)
    }
    const onExit = (code: number | null) => {
      off()
      reject(new Error(`a child exited (code ${code}) while '${type}' was awaited`))
    }
    const off = () => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1
}

// ---------------------------------------------------------------------------------------------------------
// Child: the clients process. Every connection is its own engine (forceNew: no multiplexing of sockets).

async function runClients(): Promise<void> {
  const sockets: Socket[] = []
  const receipts = new Map<string, [number, number]>()
  let misrouted = 0
  let disconnected = 0
  let received = 0
  process.on('message', async (m: ToClients) => {
    if (m.type === 'count') {
      process.send!({ type: 'count', received, disconnected } satisfies FromClients)
    } else if (m.type === 'collect') {
      process.send!({
        type: 'receipts',
        receipts: [...receipts].map(([k, [t, n]]) => [k, t, n]),
        misrouted,
        disconnected,
      } satisfies FromClients)
    } else if (m.type === 'connect') {
      const errors: Record<string, number> = {}
      const subscribed: string[] = []
      let next = 0
      const started = now()
      const one = async (i: number) => {
        const user = m.users[i]!
        const so = connect(m.urls[i % m.urls.length]!, {
          path: '/realtime',
          transports: ['websocket'],
          auth: { token: user.token },
          forceNew: true,
          reconnection: false,
          timeout: 60_000,
        })
        sockets.push(so)
        so.on('change', (c: { record: { id: string; version: number; owner: string } }) => {
          const t = now()
          received++
          if (c.record.owner !== user.id) misrouted++
          const key = `${c.record.id}@${c.record.version}`
          const r = receipts.get(key)
          if (r) r[1]++
          else receipts.set(key, [t, 1])
        })
        try {
          await new Promise<void>((resolve, reject) => {
            so.once('connect', () => resolve())
            so.once('connect_error', (err) => reject(err))
          })
          const ack = await so.timeout(60_000).emitWithAck('subscribe', { collection: COLLECTION })
          if (!ack?.ok) throw new Error(`subscribe: ${ack?.error?.code ?? 'no ack'}`)
          subscribed.push(user.id)
          so.on('disconnect', () => disconnected++)
        } catch (err) {
          bump(errors, err instanceof Error ? err.message : String(err))
          so.disconnect()
        }
      }
      await Promise.all(
        Array.from({ length: Math.min(m.concurrency, m.users.length) }, async () => {
          while (next < m.users.length) await one(next++)
        }),
      )
      process.send!({
        type: 'ramped',
        ms: now() - started,
        subscribed,
        failed: m.users.length - subscribed.length,
        errors,
      } satisfies FromClients)
    }
  })
  process.on('disconnect', () => {
    for (const so of sockets) so.disconnect()
    process.exit(0)
  })
}

// ---------------------------------------------------------------------------------------------------------
// Child: the writer. Paced creates and updates through REST with the admin key, on keep-alive connections.

async function runWriter(): Promise<void> {
  process.on('disconnect', () => process.exit(0))
  const m = await new Promise<ToWriter>((resolve) => {
    process.on('message', (msg: ToWriter) => {
      if (msg.type === 'write') resolve(msg)
    })
    process.send!({ type: 'ready' } satisfies FromWriter)
  })
  const agent = new http.Agent({ keepAlive: true, maxSockets: WRITER_CONCURRENCY })
  const request = (base: string, method: string, p: string, body: unknown) =>
    new Promise<{ status: number; body: { id?: string; version?: number } }>((resolve, reject) => {
      const data = JSON.stringify(body)
      const req = http.request(`${base}${p}`, {
        method,
        agent,
        headers: {
          authorization: `Bearer ${m.adminKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
        },
      })
      req.on('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
          } catch (err) {
            reject(err)
          }
        })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(data)
    })

  const total = Math.round(m.rate * m.duration)
  const interval = 1000 / m.rate
  const writes: [string, number, number][] = []
  const errors: Record<string, number> = {}
  /** Records created so far, with their owner: what updates pick from. */
  const created: { id: string; owner: string }[] = []
  let next = 0
  const started = now()
  const worker = async () => {
    while (next < total) {
      const i = next++
      const due = started + i * interval
      const wait = due - now()
      if (wait > 1) await sleep(wait)
      const base = m.urls[i % m.urls.length]!
      const records = `/api/collections/${COLLECTION}/records`
      const update = created.length > 50 && Math.random() < UPDATE_SHARE
      const sent = now()
      try {
        let r: Awaited<ReturnType<typeof request>>
        if (update) {
          const target = created[Math.floor(Math.random() * created.length)]!
          r = await request(base, 'PATCH', `${records}/${target.id}`, { label: `updated ${i}` })
        } else {
          const owner = m.owners[Math.floor(Math.random() * m.owners.length)]!
          r = await request(base, 'POST', records, { label: `item ${i}`, owner })
          if (r.status === 201 && r.body.id) created.push({ id: r.body.id, owner })
        }
        const t = now()
        if (r.status !== 200 && r.status !== 201) bump(errors, `HTTP ${r.status}`)
        else writes.push([`${r.body.id}@${r.body.version}`, sent, t])
      } catch (err) {
        bump(errors, err instanceof Error ? err.message : String(err))
      }
    }
  }
  await Promise.all(Array.from({ length: WRITER_CONCURRENCY }, worker))
  const seconds = (now() - started) / 1000
  agent.destroy()
  process.send!({
    type: 'done',
    writes,
    failed: total - writes.length,
    errors,
    seconds,
  } satisfies FromWriter)
}

// ---------------------------------------------------------------------------------------------------------
// Orchestrator: cleanup, children, accounting (as in bench/run.ts)

/**
 * A child with a raised file-descriptor limit (5,000 sockets in one process): through `sh -c 'ulimit -n …;
 * exec node …'`, so that the pid is node's. Falls back to the hard limit when the soft one cannot go higher.
 */
function spawnChild(
  nodeArgs: string[],
  env: Record<string, string>,
  ipc: boolean,
  stdout: 'inherit' | 'ignore' = 'inherit',
): ChildProcess {
  const script = `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`
  const child = spawn('sh', ['-c', script, process.execPath, ...nodeArgs], {
    cwd: SERVER_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit', ...(ipc ? (['ipc'] as const) : [])],
  })
  return trackChild(child)
}

const CLK_TCK = 100

function procStat(pid: number): string[] | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** A process's soft limit on open files (each connection is one), from /proc (Linux). */
function openFilesLimit(pid: number | undefined): number | undefined {
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'))
    const n = Number(line?.split(/\s+/)[3])
    return Number.isFinite(n) ? n : undefined
  } catch {
    return undefined
  }
}

/** CPU seconds used so far by a process (user + system), from /proc (Linux). */
function procCpu(pid: number | undefined): number | undefined {
  const f = pid ? procStat(pid) : undefined
  return f ? (Number(f[11]) + Number(f[12])) / CLK_TCK : undefined
}

/**
 * CPU seconds used so far by each PostgreSQL backend serving `db`, by pid (other databases on a shared server,
 * and its background processes, are not counted). Empty when PostgreSQL is not visible in /proc.
 */
async function pgCpu(c: pg.Client, db: string): Promise<Map<number, number>> {
  const r = await c.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [db],
  )
  const out = new Map<number, number>()
  for (const { pid } of r.rows) {
    const t = procCpu(pid)
    if (t !== undefined) out.set(pid, t)
  }
  return out
}

/** CPU seconds the whole machine has been busy (user, nice, system, irq, softirq), from /proc/stat. */
function machineBusy(): number | undefined {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    return (f[0]! + f[1]! + f[2]! + (f[5] ?? 0) + (f[6] ?? 0)) / CLK_TCK
  } catch {
    return undefined
  }
}

interface CpuSnapshot {
  readonly named: Record<string, number | undefined>
  readonly pg: Map<number, number>
  readonly machine: number | undefined
}

/** CPU seconds of the named processes, this database's PostgreSQL backends and the whole machine. */
async function cpuSnapshot(
  pids: Record<string, number | undefined>,
  pgc: pg.Client,
  db: string,
): Promise<CpuSnapshot> {
  const self = process.cpuUsage()
  const named: Record<string, number | undefined> = { bench: (self.user + self.system) / 1e6 }
  for (const [name, pid] of Object.entries(pids)) named[name] = procCpu(pid)
  return { named, pg: await pgCpu(pgc, db), machine: machineBusy() }
}

/**
 * Cores used between two snapshots: per named process, `pg` (backends that appeared meanwhile count from
 * zero), `machine`, and `others` — what the machine did beyond all of ours (other work disturbing the run).
 */
function cores(a: CpuSnapshot, b: CpuSnapshot, seconds: number): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {}
  let ours = 0
  for (const k of Object.keys(b.named)) {
    const x = a.named[k]
    const y = b.named[k]
    out[k] = x !== undefined && y !== undefined ? (y - x) / seconds : undefined
    ours += out[k] ?? 0
  }
  let pgSeconds = 0
  for (const [pid, t] of b.pg) pgSeconds += t - (a.pg.get(pid) ?? 0)
  out.pg = b.pg.size ? pgSeconds / seconds : undefined
  ours += out.pg ?? 0
  if (a.machine !== undefined && b.machine !== undefined) {
    out.machine = (b.machine - a.machine) / seconds
    out.others = Math.max(0, out.machine - ours)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Database, Redis, servers

/** A private redis-server on a free port, nothing on disk (as test/support/processes.ts). */
async function startRedis(): Promise<{ url: string; pid: number }> {
  const port = await freePort()
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  )
  trackChild(child)
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error('redis-server exited (is it installed?)')
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.end()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return { url: `redis://127.0.0.1:${port}`, pid: child.pid! }
    if (Date.now() > deadline) throw new Error('redis-server did not start within 10 s')
    await sleep(50)
  }
}

interface Probe {
  seq: number
  p50: number
  p99: number
  max: number
  rss: number
  maxRss: number
}

interface Node {
  readonly base: string
  readonly pid: number
  /** Ends the probe's current phase and returns its figures (a new phase starts). */
  phase(): Promise<Probe>
}

async function startNode(env: Record<string, string>): Promise<Node> {
  const port = await freePort()
  const probeFile = path.join(tempDir('probe'), 'loop.json')
  const child = spawnChild(
    ['--import', 'tsx', '--import', './bench/loop-probe.ts', 'src/main.ts'],
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      BASTIDE_LOG_LEVEL: 'warn',
      BASTIDE_DATA_DIR: tempDir('data'),
      BENCH_LOOP_PROBE_FILE: probeFile,
      ...env,
    },
    false,
  )
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`Bastide exited before it was ready (code ${child.exitCode})`)
    if (Date.now() > deadline) throw new Error('Bastide was not ready within 60 s')
    if (
      await fetch(`${base}/api/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break
    await sleep(150)
  }
  const read = (): Probe | undefined => {
    try {
      return JSON.parse(fs.readFileSync(probeFile, 'utf8')) as Probe
    } catch {
      return undefined
    }
  }
  return {
    base,
    pid: child.pid!,
    async phase() {
      const before = read()?.seq ?? 0
      child.kill('SIGUSR2')
      const until = Date.now() + 10_000
      for (;;) {
        const p = read()
        if (p && p.seq > before) return p
        if (Date.now() > until) throw new Error('the loop probe did not answer SIGUSR2 within 10 s')
        await sleep(20)
      }
    },
  }
}

async function admin(base: string, adminKey: string, method: string, p: string, body?: unknown) {
  const r = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await r.text()
  return { status: r.status, body: text ? JSON.parse(text) : null }
}

/**
 * `n` users and one session each, straight into the tables better-auth reads (a benchmark shortcut: signing
 * up through the API hashes each password with scrypt). The raw token is accepted as `auth.token`.
 */
async function seedUsers(dbUrl: string, n: number): Promise<BenchUser[]> {
  const users = Array.from({ length: n }, () => ({
    id: randomUUID(),
    token: randomBytes(24).toString('hex'),
  }))
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  try {
    await c.query('BEGIN')
    await c.query(
      `INSERT INTO data.users (id, email, name, verified)
       SELECT id, 'bench-' || i || '@example.com', 'Bench ' || i, true
       FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, i)`,
      [users.map((u) => u.id)],
    )
    await c.query(
      `INSERT INTO bastide.auth_sessions (id, token, "userId", "expiresAt")
       SELECT md5(random()::text || token), token, "userId", now() + interval '1 day'
       FROM unnest($1::text[], $2::uuid[]) AS t(token, "userId")`,
      [users.map((u) => u.token), users.map((u) => u.id)],
    )
    await c.query('COMMIT')
  } finally {
    await c.end()
  }
  return users
}

// ---------------------------------------------------------------------------------------------------------
// One setup: n nodes, the clients, the writer

interface Result {
  readonly nodes: number
  readonly connections: number
  readonly subscribed: number
  readonly connectErrors: Record<string, number>
  readonly rampSeconds: number
  readonly idleRss: number[]
  readonly rampRss: number[]
  readonly loadRss: number[]
  readonly rampLoop: Probe[]
  readonly loadLoop: Probe[]
  readonly writesPerSecond: number
  readonly writeErrors: Record<string, number>
  readonly expected: number
  readonly delivered: number
  readonly missing: number
  readonly duplicates: number
  readonly misrouted: number
  readonly disconnected: number
  /** From the writer's response (≈ commit) to receipt. */
  readonly latency: { p50: number; p99: number; max: number }
  /** From the writer's request being sent: an upper bound. */
  readonly latencyFromSend: { p50: number; p99: number }
  readonly rampCores: Record<string, number | undefined>
  readonly loadCores: Record<string, number | undefined>
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : Number.NaN

async function runSetup(nodes: number, conns: number, rate: number, duration: number): Promise<Result> {
  const mark = cleanups.length
  try {
    const adminKey = `bst_sk_bench_${randomBytes(16).toString('hex')}`
    const dbUrl = await createDatabase()
    const dbName = new URL(dbUrl).pathname.slice(1)
    const pgc = new pg.Client({ connectionString: await ensurePostgres() })
    await pgc.connect()
    cleanups.push(() => pgc.end())
    const snapshot = () => cpuSnapshot(pids(), pgc, dbName)
    const redis = nodes > 1 ? await startRedis() : undefined
    const env: Record<string, string> = {
      DATABASE_URL: dbUrl,
      BASTIDE_ADMIN_KEY: adminKey,
      BASTIDE_SECRET: randomBytes(32).toString('hex'),
      ...(redis
        ? { REDIS_URL: redis.url, BASTIDE_REDIS_PREFIX: `bench${randomBytes(3).toString('hex')}:` }
        : {}),
    }
    // One after the other: the first applies the migrations.
    const servers: Node[] = []
    for (let i = 0; i < nodes; i++) servers.push(await startNode(env))
    const col = await admin(servers[0]!.base, adminKey, 'POST', '/api/collections', {
      name: COLLECTION,
      fields: [
        { name: 'label', type: 'text' },
        { name: 'owner', type: 'relation', options: { collection: 'users' } },
      ],
      rules: {
        list: 'owner = @request.auth.id',
        view: 'owner = @request.auth.id',
        create: null,
        update: null,
        delete: null,
      },
    })
    if (col.status !== 201)
      throw new Error(`creating ${COLLECTION}: ${col.status} ${JSON.stringify(col.body)}`)
    const users = await seedUsers(dbUrl, conns)
    // The second node learns of the collection through its own cache; give it a moment, then check.
    for (const s of servers) {
      const r = await admin(s.base, adminKey, 'GET', `/api/collections/${COLLECTION}/records?perPage=1`)
      if (r.status !== 200) throw new Error(`${s.base} does not serve ${COLLECTION} yet: ${r.status}`)
    }

    const clients = spawnChild(['--import', 'tsx', SELF, '--role', 'clients'], {}, true)
    const writer = spawnChild(['--import', 'tsx', SELF, '--role', 'writer'], {}, true)
    await once<FromWriter>(writer, 'ready')
    const fds = openFilesLimit(clients.pid)
    if (fds !== undefined && fds < conns + 100)
      console.log(
        `  WARNING: the clients process may open ${fds} files, fewer than ${conns} connections need`,
      )
    const pids = (): Record<string, number | undefined> => ({
      ...Object.fromEntries(servers.map((s, i) => [`node${i + 1}`, s.pid])),
      clients: clients.pid,
      writer: writer.pid,
      ...(redis ? { redis: redis.pid } : {}),
    })
    await sleep(500)

    // Ramp
    const idle = await Promise.all(servers.map((s) => s.phase()))
    let t0 = now()
    let cpu0 = await snapshot()
    clients.send({
      type: 'connect',
      urls: servers.map((s) => s.base),
      users,
      concurrency: RAMP_CONCURRENCY,
    } satisfies ToClients)
    const ramped = await once<Extract<FromClients, { type: 'ramped' }>>(clients, 'ramped')
    const rampCores = cores(cpu0, await snapshot(), (now() - t0) / 1000)
    const rampLoop = await Promise.all(servers.map((s) => s.phase()))
    console.log(
      `  ${nodes} node(s): ${ramped.subscribed.length}/${conns} subscribed in ${(ramped.ms / 1000).toFixed(1)} s${ramped.failed ? `, ${ramped.failed} failed: ${JSON.stringify(ramped.errors)}` : ''}`,
    )
    if (ramped.subscribed.length === 0) throw new Error('no connection subscribed')
    await sleep(1000)

    // Writes
    await Promise.all(servers.map((s) => s.phase()))
    t0 = now()
    cpu0 = await snapshot()
    writer.send({
      type: 'write',
      urls: servers.map((s) => s.base),
      owners: ramped.subscribed,
      rate,
      duration,
      adminKey,
    } satisfies ToWriter)
    const done = await once<Extract<FromWriter, { type: 'done' }>>(writer, 'done')
    const graceUntil = now() + GRACE_MS
    for (;;) {
      clients.send({ type: 'count' } satisfies ToClients)
      const c = await once<Extract<FromClients, { type: 'count' }>>(clients, 'count')
      if (c.received >= done.writes.length || now() > graceUntil) break
      await sleep(100)
    }
    const loadCores = cores(cpu0, await snapshot(), (now() - t0) / 1000)
    const loadLoop = await Promise.all(servers.map((s) => s.phase()))
    clients.send({ type: 'collect' } satisfies ToClients)
    const got = await once<Extract<FromClients, { type: 'receipts' }>>(clients, 'receipts')

    const receipts = new Map(got.receipts.map(([k, t, n]) => [k, { t, n }]))
    const lat: number[] = []
    const fromSend: number[] = []
    let missing = 0
    let duplicates = 0
    for (const [key, sent, answered] of done.writes) {
      const r = receipts.get(key)
      if (!r) {
        missing++
        continue
      }
      duplicates += r.n - 1
      lat.push(r.t - answered)
      fromSend.push(r.t - sent)
    }
    lat.sort((a, b) => a - b)
    fromSend.sort((a, b) => a - b)
    const delivered = lat.length
    return {
      nodes,
      connections: conns,
      subscribed: ramped.subscribed.length,
      connectErrors: ramped.errors,
      rampSeconds: ramped.ms / 1000,
      idleRss: idle.map((p) => p.rss),
      rampRss: rampLoop.map((p) => p.maxRss),
      loadRss: loadLoop.map((p) => p.maxRss),
      rampLoop,
      loadLoop,
      writesPerSecond: done.writes.length / done.seconds,
      writeErrors: done.errors,
      expected: done.writes.length,
      delivered,
      missing,
      duplicates,
      misrouted: got.misrouted,
      disconnected: got.disconnected,
      latency: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] ?? Number.NaN },
      latencyFromSend: { p50: pct(fromSend, 50), p99: pct(fromSend, 99) },
      rampCores,
      loadCores,
    }
  } finally {
    await runCleanups(mark)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

const mb = (b: number) => (b / 1024 / 1024).toFixed(0)
const f1 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(1))
const f2 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(2))
const perNode = (xs: string[]) => xs.join(' / ')

function report(results: Result[], rate: number, duration: number): void {
  const setup = (r: Result) => `${r.nodes} node${r.nodes > 1 ? 's' : ''}`
  const nodeCores = (c: Record<string, number | undefined>, n: number) =>
    perNode(Array.from({ length: n }, (_, i) => f2(c[`node${i + 1}`])))
  console.log()
  printTable(
    [
      'setup',
      'connections',
      'ramp s',
      'RSS MB idle→loaded',
      'loop p99 ms ramp/load',
      'writes/s',
      'delivered/expected',
      'latency p50/p99/max ms',
      'from send p50/p99',
      'CPU cores (load)',
    ],
    results.map((r) => [
      setup(r),
      r.subscribed === r.connections ? String(r.connections) : `${r.subscribed}/${r.connections}`,
      f1(r.rampSeconds),
      perNode(r.idleRss.map((x, i) => `${mb(x)}→${mb(Math.max(r.rampRss[i]!, r.loadRss[i]!))}`)),
      perNode(r.rampLoop.map((p, i) => `${f1(p.p99)}/${f1(r.loadLoop[i]!.p99)}`)),
      r.writesPerSecond.toFixed(0),
      `${r.delivered}/${r.expected}`,
      `${f1(r.latency.p50)}/${f1(r.latency.p99)}/${f1(r.latency.max)}`,
      `${f1(r.latencyFromSend.p50)}/${f1(r.latencyFromSend.p99)}`,
      nodeCores(r.loadCores, r.nodes),
    ]),
  )
  console.log(`\nCPU, cores used while connecting (ramp) and while writing (load), of ${os.cpus().length}:`)
  printTable(
    ['setup', 'phase', 'node(s)', 'PostgreSQL', 'Redis', 'clients', 'writer', 'machine', 'other procs'],
    results.flatMap((r) =>
      (['ramp', 'load'] as const).map((phase) => {
        const c = phase === 'ramp' ? r.rampCores : r.loadCores
        return [
          setup(r),
          phase,
          nodeCores(c, r.nodes),
          f2(c.pg),
          r.nodes > 1 ? f2(c.redis) : '-',
          f2(c.clients),
          phase === 'ramp' ? '-' : f2(c.writer),
          f2(c.machine),
          f2(c.others),
        ]
      }),
    ),
  )
  console.log()
  if (results.some((r) => (r.rampCores.others ?? 0) > 0.15 || (r.loadCores.others ?? 0) > 0.15))
    console.log(
      'WARNING: other processes used a noticeable share of the CPU during some phases; those numbers are disturbed (rerun on a quiet machine).',
    )
  for (const r of results) {
    console.log(
      `${setup(r)}: loop max ms ramp/load ${perNode(r.rampLoop.map((p, i) => `${f1(p.max)}/${f1(r.loadLoop[i]!.max)}`))}; ` +
        `missing ${r.missing}, duplicates ${r.duplicates}, misrouted ${r.misrouted}, disconnected ${r.disconnected}`,
    )
    if (Object.keys(r.connectErrors).length)
      console.log(`  WARNING: connection failures: ${JSON.stringify(r.connectErrors)}`)
    if (Object.keys(r.writeErrors).length)
      console.log(`  WARNING: write failures: ${JSON.stringify(r.writeErrors)}`)
    if (r.writesPerSecond < rate * 0.95)
      console.log(`  WARNING: the writer reached ${r.writesPerSecond.toFixed(0)} of ${rate} writes/s`)
    if (r.missing || r.duplicates || r.misrouted)
      console.log('  WARNING: deliveries were lost, repeated or reached the wrong connection')
  }
  console.log(
    `\nwrites: ${rate}/s for ${duration} s through REST (admin key; ${Math.round(UPDATE_SHARE * 100)}% updates), ` +
      'each owned by a random connected user, so each should reach exactly one connection once. Latency: ' +
      'receipt − the writer reading its response (≈ commit), one monotonic clock. Loop delay: ' +
      'monitorEventLoopDelay inside each server (ramp = while connecting, load = while writing). RSS: max seen.',
  )
}

// ---------------------------------------------------------------------------------------------------------

function positive(name: string, v: string): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number`)
    process.exit(2)
  }
  return n
}

async function main(): Promise<void> {
  if (args.help) {
    console.log(
      'usage: tsx bench/realtime.ts [--connections n] [--rate writes/s] [--duration s] [--only 1,2]',
    )
    return
  }
  const conns = Math.floor(positive('connections', args.connections!))
  const rate = positive('rate', args.rate!)
  const duration = positive('duration', args.duration!)
  const setups = args
    .only!.split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => n === 1 || n === 2)
  if (setups.length === 0) throw new Error('--only: give 1, 2 or 1,2 (nodes)')
  const started = Date.now()
  console.log(machineLine())
  console.log(
    `${conns} connections (${RAMP_CONCURRENCY} connecting at once), ${rate} writes/s for ${duration} s, setups: ${setups.join(', ')} node(s)`,
  )
  await ensurePostgres()
  const results: Result[] = []
  for (const n of setups) results.push(await runSetup(n, conns, rate, duration))
  report(results, rate, duration)
  console.log(`Total time ${((Date.now() - started) / 1000).toFixed(0)} s.`)
}

if (args.role === 'clients') await runClients()
else if (args.role === 'writer') await runWriter()
else {
  let interrupted = false
  installCleanupHandlers(() => {
    interrupted = true
  })
  main()
    .catch((err) => {
      // Interrupted: children die with the terminal's Ctrl-C, and whatever awaited them fails; say nothing.
      if (!interrupted) console.error(err instanceof Error ? (err.stack ?? err.message) : err)
      process.exitCode = 1
    })
    .finally(async () => {
      await cleanup()
      process.exit(process.exitCode ?? 0)
    })
}
