/**
 * Storage throughput: Bastide's object uploads and downloads vs the store underneath, on loopback.
 *
 *   pnpm bench:storage                              # local disk and S3 (s3rver), about 2 minutes
 *   pnpm bench:storage -- --duration 10 --concurrency 16 --large 5
 *   pnpm bench:storage -- --only local
 *
 * Per store: 1 MB objects, `--concurrency` at a time for `--duration` seconds (upload, then download of random
 * ones among those uploaded), then `--large` 100 MB objects one after another (upload, then download). The
 * same bytes go through a baseline in the same run: on local disk a plain stream write (+ fsync, as Bastide
 * does) and read of files in a temp directory on the same disk, plus an `fs.copyFile` of a 100 MB file for
 * reference; on S3 the minio client's `putObject`/`getObject` against the same s3rver.
 *
 * Bastide (`src/main.ts`) and s3rver each run as a child process (this process is the client, and would
 * otherwise share an event loop with them). PostgreSQL: DATABASE_URL or embedded, a fresh database per store,
 * dropped at the end. Everything (children, databases, temp dirs) is cleaned up, also on Ctrl-C.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { Client } from 'minio'
import { freePort } from '../src/db/embedded-postgres.ts'
import {
  ADMIN_KEY,
  createDatabase,
  installCleanupHandlers,
  MB,
  machineLine,
  printTable,
  runMain,
  SECRET,
  SERVER_DIR,
  stopChild,
  tempDir,
  trackChild,
} from './lib.ts'

const SMALL = 1 * MB
const LARGE = 100 * MB
/** The S3 part size, Bastide's default. */
const PART = 8 * MB

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string', default: process.env.BENCH_DURATION ?? '5' },
    concurrency: { type: 'string', default: '8' },
    large: { type: 'string', default: '3' },
    only: { type: 'string' },
    'serve-s3': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (args.help) {
  console.log('usage: tsx bench/storage.ts [--duration s] [--concurrency n] [--large n] [--only local,s3]')
  process.exit(0)
}
const DURATION = Number(args.duration)
const CONCURRENCY = Number(args.concurrency)
const LARGE_COUNT = Number(args.large)
for (const [k, v] of Object.entries({ DURATION, CONCURRENCY, LARGE_COUNT }))
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`${k.toLowerCase()} must be a positive number`)
    process.exit(2)
  }

// ---------------------------------------------------------------------------------------------------------
// s3rver child mode: `tsx bench/storage.ts --serve-s3 <dir>` serves S3 on a free loopback port and prints it.

if (args['serve-s3']) {
  const S3rver = createRequire(import.meta.url)('s3rver') as new (o: {
    address: string
    port: number
    directory: string
    silent: boolean
  }) => { run(): Promise<{ port: number }> }
  const { port } = await new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: args['serve-s3'],
    silent: true,
  }).run()
  console.log(`S3RVER_PORT=${port}`)
  await new Promise(() => {})
}

// ---------------------------------------------------------------------------------------------------------
// Cleanup, children (as in bench/run.ts)

installCleanupHandlers()

function spawnNode(
  script: string,
  scriptArgs: string[],
  env: Record<string, string>,
  stdout: 'inherit' | 'pipe',
) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...scriptArgs], {
    cwd: SERVER_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit'],
  })
  return trackChild(child)
}

// ---------------------------------------------------------------------------------------------------------
// Database, s3rver, Bastide

async function startS3rverChild(): Promise<{ endpoint: string; port: number }> {
  const child = spawnNode('bench/storage.ts', ['--serve-s3', tempDir('s3')], {}, 'pipe')
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const m = /S3RVER_PORT=(\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    child.once('exit', () => reject(new Error('s3rver exited before it was ready')))
  })
  return { endpoint: `http://127.0.0.1:${port}`, port }
}

interface Bastide {
  readonly base: string
  readonly pid: number
  stop(): Promise<void>
}

async function startBastide(env: Record<string, string>): Promise<Bastide> {
  const port = await freePort()
  const child = spawnNode(
    'src/main.ts',
    [],
    {
      DATABASE_URL: await createDatabase(),
      PORT: String(port),
      HOST: '127.0.0.1',
      BASTIDE_ADMIN_KEY: ADMIN_KEY,
      BASTIDE_SECRET: SECRET,
      BASTIDE_LOG_LEVEL: 'warn',
      BASTIDE_DATA_DIR: tempDir('data'),
      ...env,
    },
    'inherit',
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
    await new Promise((r) => setTimeout(r, 150))
  }
  const r = await fetch(`${base}/api/storage/buckets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench' }),
  })
  if (r.status !== 201) throw new Error(`creating the bucket: ${r.status} ${await r.text()}`)
  return { base, pid: child.pid!, stop: () => stopChild(child) }
}

// ---------------------------------------------------------------------------------------------------------
// Bytes: a random pool sliced into bodies, so that the client spends no time making them.

const POOL = randomBytes(8 * MB)
let poolAt = 0
/** `size` bytes as chunks of the pool (a different offset each time). */
function* body(size: number, chunk = MB): Generator<Buffer> {
  let left = size
  while (left > 0) {
    const n = Math.min(chunk, left)
    if (poolAt + n > POOL.length) poolAt = 0
    yield POOL.subarray(poolAt, poolAt + n)
    poolAt += 4099
    left -= n
  }
}

async function drain(stream: AsyncIterable<Buffer>): Promise<number> {
  let n = 0
  for await (const c of stream) n += c.length
  return n
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
const AUTH = { authorization: `Bearer ${ADMIN_KEY}` }

function bastidePut(b: Bastide, key: string, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${b.base}/api/storage/buckets/bench/objects/${key}`, {
      method: 'PUT',
      agent,
      headers: { ...AUTH, 'content-type': 'application/octet-stream', 'content-length': String(size) },
    })
    req.on('error', reject)
    req.on('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString('utf8')))
      res.on('end', () =>
        res.statusCode === 201 || res.statusCode === 200
          ? resolve()
          : reject(new Error(`PUT ${key}: ${res.statusCode} ${text}`)),
      )
    })
    pipeline(Readable.from(body(size)), req).catch(reject)
  })
}

function bastideGet(b: Bastide, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${b.base}/api/storage/buckets/bench/objects/${key}`, { agent, headers: AUTH }, (res) => {
        if (res.statusCode !== 200) {
          res.resume()
          reject(new Error(`GET ${key}: ${res.statusCode}`))
          return
        }
        drain(res).then(resolve, reject)
      })
      .on('error', reject)
  })
}

// ---------------------------------------------------------------------------------------------------------
// Measuring

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

interface Run {
  readonly mbps: number
  readonly objects: number
  /** Per-object latencies, ms, sorted. */
  readonly latencies: number[]
  /** CPU seconds of the Bastide process per GB moved (Bastide runs only). */
  readonly cpuPerGb?: number | undefined
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : Number.NaN

/** `op` over and over, `concurrency` at a time, for `seconds` (or exactly `count` times, one at a time). */
async function measure(
  op: (i: number) => Promise<number>,
  opts: { seconds?: number; count?: number; concurrency: number; pid?: number },
): Promise<Run> {
  const latencies: number[] = []
  let bytes = 0
  let next = 0
  const cpu0 = opts.pid ? procCpu(opts.pid) : undefined
  const start = performance.now()
  const end = opts.seconds ? start + opts.seconds * 1000 : Number.POSITIVE_INFINITY
  const worker = async () => {
    while (performance.now() < end && (opts.count === undefined || next < opts.count)) {
      const i = next++
      const t = performance.now()
      // Not `bytes += await op(i)`: that reads `bytes` before the await, losing the other workers' bytes.
      const n = await op(i)
      bytes += n
      latencies.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, worker))
  const seconds = (performance.now() - start) / 1000
  const cpu1 = opts.pid ? procCpu(opts.pid) : undefined
  return {
    mbps: bytes / MB / seconds,
    objects: latencies.length,
    latencies: latencies.sort((a, b) => a - b),
    cpuPerGb: cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / (bytes / 1024 ** 3) : undefined,
  }
}

interface Row {
  readonly scenario: string
  readonly bastide: Run
  readonly baseline: Run
  readonly baselineName: string
  readonly latency: boolean
}

/** The operations a target offers: put `size` bytes under `key`, get `key` back (bytes read). */
interface Ops {
  put(key: string, size: number): Promise<void>
  get(key: string): Promise<number>
}

/** 1 MB objects for DURATION s at CONCURRENCY, then LARGE_COUNT × 100 MB one at a time; upload, download. */
async function scenarios(store: string, b: Ops, base: Ops, baseName: [string, string], pid: number) {
  const rows: Row[] = []
  const keys = { b: [] as string[], base: [] as string[] }
  const run = async (
    label: string,
    size: number,
    kind: 'upload' | 'download',
    who: 'b' | 'base',
    ops: Ops,
    timed: boolean,
  ): Promise<Run> => {
    const prefix = size === SMALL ? 's' : 'l'
    const own = keys[who].filter((k) => k.startsWith(prefix))
    const op =
      kind === 'upload'
        ? async (i: number) => {
            const key = `${prefix}${i}-${randomBytes(4).toString('hex')}`
            await ops.put(key, size)
            keys[who].push(key)
            return size
          }
        : async (i: number) => {
            const n = await ops.get(
              timed ? own[Math.floor(Math.random() * own.length)]! : own[i % own.length]!,
            )
            if (n !== size) throw new Error(`${label}: read ${n} bytes, expected ${size}`)
            return n
          }
    return timed
      ? measure(op, { seconds: DURATION, concurrency: CONCURRENCY, ...(who === 'b' ? { pid } : {}) })
      : measure(op, { count: LARGE_COUNT, concurrency: 1, ...(who === 'b' ? { pid } : {}) })
  }
  // Warm-up (modules, pools, JIT, connections) on both sides; not measured.
  for (const [who, ops] of [
    ['b', b],
    ['base', base],
  ] as const) {
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => ops.put(`w${i}-${who}`, SMALL)))
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => ops.get(`w${i}-${who}`)))
  }
  for (const [size, timed] of [
    [SMALL, true],
    [LARGE, false],
  ] as const) {
    for (const kind of ['upload', 'download'] as const) {
      const label =
        size === SMALL
          ? `${store} ${kind} 1 MB ×${CONCURRENCY}`
          : `${store} ${kind} 100 MB ×${LARGE_COUNT} seq`
      process.stdout.write(`  ${label.padEnd(30)} … `)
      const rb = await run(label, size, kind, 'b', b, timed)
      const rbase = await run(label, size, kind, 'base', base, timed)
      console.log(
        `Bastide ${rb.mbps.toFixed(1)} MB/s (${rb.objects} objects), baseline ${rbase.mbps.toFixed(1)} MB/s (${rbase.objects})`,
      )
      rows.push({
        scenario: label,
        bastide: rb,
        baseline: rbase,
        baselineName: kind === 'upload' ? baseName[0] : baseName[1],
        latency: size === SMALL,
      })
    }
  }
  return rows
}

// ---------------------------------------------------------------------------------------------------------
// The two stores and their baselines

async function benchLocal(): Promise<{ rows: Row[]; notes: string[] }> {
  console.log('\nlocal disk')
  const b = await startBastide({})
  const dir = tempDir('local-baseline')
  const file = (key: string) => path.join(dir, key)
  const base: Ops = {
    // What a careful store does at least: stream the bytes into a file and fsync it.
    async put(key, size) {
      const fh = await fs.promises.open(file(key), 'w')
      try {
        for (const chunk of body(size)) await fh.write(chunk)
        await fh.sync()
      } finally {
        await fh.close()
      }
    },
    get: (key) => drain(fs.createReadStream(file(key))),
  }
  const rows = await scenarios(
    'local',
    { put: (k, s) => bastidePut(b, k, s), get: (k) => bastideGet(b, k) },
    base,
    ['stream write + fsync', 'stream read'],
    b.pid,
  )
  await b.stop()
  // Reference: the disk copying the same 100 MB by itself.
  const src = fs.readdirSync(dir).find((f) => f.startsWith('l'))!
  const copies: number[] = []
  for (let i = 0; i < LARGE_COUNT; i++) {
    const t = performance.now()
    await fs.promises.copyFile(file(src), file(`copy${i}`))
    const fh = await fs.promises.open(file(`copy${i}`), 'r+')
    await fh.sync()
    await fh.close()
    copies.push(LARGE / MB / ((performance.now() - t) / 1000))
    fs.rmSync(file(`copy${i}`))
  }
  const copy = copies.reduce((a, c) => a + c, 0) / copies.length
  return {
    rows,
    notes: [`local: fs.copyFile of a 100 MB file + fsync on the same disk: ${copy.toFixed(1)} MB/s`],
  }
}

async function benchS3(): Promise<{ rows: Row[]; notes: string[] }> {
  console.log('\nS3 (s3rver child on loopback)')
  const s3 = await startS3rverChild()
  const b = await startBastide({
    BASTIDE_S3_ENDPOINT: s3.endpoint,
    BASTIDE_S3_REGION: 'us-east-1',
    BASTIDE_S3_BUCKET: 'bastide-bench',
    BASTIDE_S3_ACCESS_KEY: 'S3RVER',
    BASTIDE_S3_SECRET_KEY: 'S3RVER',
  })
  const client = new Client({
    endPoint: '127.0.0.1',
    port: s3.port,
    useSSL: false,
    region: 'us-east-1',
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    pathStyle: true,
  })
  await client.makeBucket('baseline', 'us-east-1')
  const base: Ops = {
    async put(key, size) {
      if (size <= PART) {
        await client.putObject('baseline', key, Buffer.concat([...body(size)]), size)
        return
      }
      // minio's putObject would look for an upload to resume first (ListMultipartUploads), which s3rver does
      // not implement: the same multipart calls Bastide makes, 8 MiB parts one after another.
      const uploadID = await client.initiateNewMultipartUpload('baseline', key, {})
      const parts: { part: number; etag: string }[] = []
      let pending: Buffer[] = []
      let pendingBytes = 0
      const flush = async () => {
        const partNumber = parts.length + 1
        const payload = Buffer.concat(pending, pendingBytes)
        pending = []
        pendingBytes = 0
        const { etag } = await client.uploadPart(
          { bucketName: 'baseline', objectName: key, uploadID, partNumber, headers: {} },
          payload,
        )
        parts.push({ part: partNumber, etag })
      }
      for (const chunk of body(size)) {
        pending.push(chunk)
        pendingBytes += chunk.length
        if (pendingBytes >= PART) await flush()
      }
      if (pendingBytes > 0) await flush()
      await client.completeMultipartUpload('baseline', key, uploadID, parts)
    },
    get: async (key) => drain(await client.getObject('baseline', key)),
  }
  const rows = await scenarios(
    's3',
    { put: (k, s) => bastidePut(b, k, s), get: (k) => bastideGet(b, k) },
    base,
    ['minio put (multipart > 8 MiB)', 'minio getObject'],
    b.pid,
  )
  await b.stop()
  return {
    rows,
    notes: [
      's3: 1 MB objects are one PUT on both sides; 100 MB objects are multipart uploads of 8 MiB parts, one ' +
        'at a time, on both sides (Bastide through its store, the baseline through minio directly)',
    ],
  }
}

function printRows(rows: Row[]): void {
  const head = [
    'scenario',
    'Bastide MB/s',
    'baseline MB/s',
    'ratio',
    'baseline',
    'p50 ms (B/base)',
    'p99 ms (B/base)',
    'Bastide CPU s/GB',
  ]
  const lines = rows.map((r) => [
    r.scenario,
    r.bastide.mbps.toFixed(1),
    r.baseline.mbps.toFixed(1),
    (r.bastide.mbps / r.baseline.mbps).toFixed(2),
    r.baselineName,
    r.latency
      ? `${pct(r.bastide.latencies, 50).toFixed(1)} / ${pct(r.baseline.latencies, 50).toFixed(1)}`
      : '',
    r.latency
      ? `${pct(r.bastide.latencies, 99).toFixed(1)} / ${pct(r.baseline.latencies, 99).toFixed(1)}`
      : '',
    r.bastide.cpuPerGb === undefined ? 'n/a' : r.bastide.cpuPerGb.toFixed(2),
  ])
  console.log('')
  printTable(head, lines, [0, 4])
}

async function main(): Promise<void> {
  const started = Date.now()
  console.log(
    `${machineLine()}; 1 MB: ${CONCURRENCY} at a time for ${DURATION} s; 100 MB: ${LARGE_COUNT} one at a time`,
  )
  const only = args.only?.split(',').map((s) => s.trim()) ?? ['local', 's3']
  const rows: Row[] = []
  const notes: string[] = []
  for (const [name, fn] of [
    ['local', benchLocal],
    ['s3', benchS3],
  ] as const) {
    if (!only.includes(name)) continue
    const r = await fn()
    rows.push(...r.rows)
    notes.push(...r.notes)
  }
  if (rows.length === 0) throw new Error(`--only: no store among ${args.only}`)
  printRows(rows)
  for (const n of notes) console.log(n)
  console.log(
    `ratio = Bastide MB/s ÷ baseline MB/s; p50/p99 are per-object latencies (1 MB rows). Total time ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  )
}

runMain(main, () => agent.destroy())
