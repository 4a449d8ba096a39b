/**
 * Backups: how long `bastide backup create`, `verify` and `restore` take on an instance of a given size.
 *
 *   pnpm bench:backup                               # 100,000 rows, 500 files of 64 KiB
 *   pnpm bench:backup -- --rows 20000 --files 100 --file-kib 256
 *
 * Seeds a fresh instance (a Bastide child creates the collections `bench_authors` and `bench_posts`, posts
 * relating to authors, and a bucket, and takes the files through its API; the rows are inserted with SQL, a
 * benchmark shortcut), stops it, then runs in this process what the CLI runs (src/cli/backup.ts): a backup
 * (gzipped, as scheduled ones are), its verification, and a restore into an empty database and storage folder,
 * which is then counted. This process does nothing else meanwhile, so its peak RSS is the engine's.
 * PostgreSQL: DATABASE_URL or embedded; fresh databases, dropped at the end, as are the temp directories.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { backupCreate, backupRestore, backupVerify } from '../src/cli/backup.ts'
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

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    rows: { type: 'string', default: '100000' },
    files: { type: 'string', default: '500' },
    'file-kib': { type: 'string', default: '64' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (args.help) {
  console.log('usage: tsx bench/backup.ts [--rows n] [--files n] [--file-kib n]')
  process.exit(0)
}
const ROWS = Number(args.rows)
const FILES = Number(args.files)
const FILE_BYTES = Number(args['file-kib']) * 1024
for (const [k, v] of Object.entries({ rows: ROWS, files: FILES, 'file-kib': FILE_BYTES }))
  if (!Number.isInteger(v) || v < 0 || (k === 'rows' && v < 10)) {
    console.error(`--${k} must be a whole number${k === 'rows' ? ' of at least 10' : ''}`)
    process.exit(2)
  }

installCleanupHandlers()

/** The instance a CLI command would open: its database, data directory (local storage) and secret. */
interface Instance {
  readonly env: Record<string, string>
}

async function newInstance(name: string): Promise<Instance> {
  return {
    env: { DATABASE_URL: await createDatabase(), BASTIDE_DATA_DIR: tempDir(name), BASTIDE_SECRET: SECRET },
  }
}

/** Starts Bastide on `source`, creates the collections and the bucket, uploads the files, then stops it. */
async function seed(source: Instance): Promise<void> {
  const port = await freePort()
  const child = trackChild(
    spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: SERVER_DIR,
      env: {
        ...process.env,
        ...source.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        BASTIDE_ADMIN_KEY: ADMIN_KEY,
        BASTIDE_LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  )
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 90_000
  while (
    !(await fetch(`${base}/api/health`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null)
      throw new Error(`Bastide exited before it was ready (code ${child.exitCode})`)
    if (Date.now() > deadline) throw new Error('Bastide was not ready within 90 s')
    await new Promise((r) => setTimeout(r, 150))
  }
  const api = async (method: string, p: string, body?: unknown, raw?: Buffer) => {
    const r = await fetch(`${base}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(raw ? { 'content-type': 'application/octet-stream' } : { 'content-type': 'application/json' }),
      },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    })
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`)
  }
  await api('POST', '/api/collections', {
    name: 'bench_authors',
    fields: [
      { name: 'name', type: 'text', required: true },
      { name: 'bio', type: 'text' },
    ],
  })
  await api('POST', '/api/collections', {
    name: 'bench_posts',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'body', type: 'text' },
      { name: 'score', type: 'number', options: { integer: true } },
      { name: 'author', type: 'relation', options: { collection: 'bench_authors' } },
    ],
  })
  // Benchmark shortcut: rows by SQL (through the API, 100,000 rows would take minutes of seeding); one author
  // for ten posts, every post relating to one.
  const authors = Math.max(1, Math.floor(ROWS / 10))
  const c = new pg.Client({ connectionString: source.env.DATABASE_URL })
  await c.connect()
  await c.query(
    `INSERT INTO data.bench_authors (id, name, bio)
     SELECT gen_random_uuid(), 'author ' || i, repeat('A short biography. ', 5) FROM generate_series(1, $1) i`,
    [authors],
  )
  await c.query(
    `INSERT INTO data.bench_posts (id, title, body, score, author)
     SELECT gen_random_uuid(), 'post ' || i, repeat('Some body text of a post. ', 10), i % 1000, a.id
     FROM generate_series(1, $1) i
     JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM data.bench_authors) a ON a.n = i % $2`,
    [ROWS - authors, authors],
  )
  await c.query('ANALYZE')
  await c.end()
  await api('POST', '/api/storage/buckets', { name: 'bench' })
  const pool = randomBytes(FILE_BYTES + 4096)
  for (let i = 0; i < FILES; i += 8)
    await Promise.all(
      Array.from({ length: Math.min(8, FILES - i) }, (_, j) =>
        api(
          'PUT',
          `/api/storage/buckets/bench/objects/f${i + j}.bin`,
          undefined,
          pool.subarray(i + j, i + j + FILE_BYTES),
        ),
      ),
    )
  await stopChild(child)
}

interface Phase {
  readonly name: string
  readonly seconds: number
  readonly bytes: number
  readonly rows: number
  readonly peakRss: number
  readonly rssBefore: number
}

/** Runs `fn` while sampling this process's RSS every 20 ms: the time taken, the RSS before and the peak. */
async function measured<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; seconds: number; peakRss: number; rssBefore: number }> {
  const rssBefore = process.memoryUsage.rss()
  let peakRss = rssBefore
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss())
  }, 20)
  const t0 = performance.now()
  try {
    const result = await fn()
    return {
      result,
      seconds: (performance.now() - t0) / 1000,
      peakRss: Math.max(peakRss, process.memoryUsage.rss()),
      rssBefore,
    }
  } finally {
    clearInterval(timer)
  }
}

function printPhases(phases: readonly Phase[], archiveBytes: number): void {
  const head = ['phase', 'seconds', 'archive MB/s', 'rows/s', 'archive MB', 'RSS MB (before → peak)']
  const lines = phases.map((p) => [
    p.name,
    p.seconds.toFixed(2),
    (p.bytes / MB / p.seconds).toFixed(1),
    p.rows ? Math.round(p.rows / p.seconds).toLocaleString('en') : '',
    (archiveBytes / MB).toFixed(1),
    `${(p.rssBefore / MB).toFixed(0)} → ${(p.peakRss / MB).toFixed(0)}`,
  ])
  console.log('')
  printTable(head, lines)
}

async function main(): Promise<void> {
  const started = Date.now()
  console.log(
    `${machineLine()}; ${ROWS.toLocaleString('en')} rows, ${FILES} files of ${FILE_BYTES / 1024} KiB`,
  )
  const source = await newInstance('source')
  process.stdout.write('seeding… ')
  const t0 = performance.now()
  await seed(source)
  console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const file = path.join(tempDir('archive'), 'bench.tar.gz')
  const phases: Phase[] = []

  process.stdout.write('backup create… ')
  const made = await measured(() => backupCreate({ env: source.env, file, gzip: true }))
  const size = fs.statSync(file).size
  const t = made.result.totals
  console.log(`${made.seconds.toFixed(2)} s: ${t.tables} tables, ${t.rows} rows, ${t.files} files`)
  phases.push({
    name: 'create',
    seconds: made.seconds,
    bytes: size,
    rows: t.rows,
    peakRss: made.peakRss,
    rssBefore: made.rssBefore,
  })

  process.stdout.write('backup verify… ')
  const checked = await measured(() => backupVerify(file))
  if (!checked.result.ok) throw new Error(`verify: ${checked.result.problems.join('; ')}`)
  console.log(`${checked.seconds.toFixed(2)} s`)
  phases.push({
    name: 'verify',
    seconds: checked.seconds,
    bytes: size,
    rows: t.rows,
    peakRss: checked.peakRss,
    rssBefore: checked.rssBefore,
  })

  const target = await newInstance('target')
  process.stdout.write('backup restore (into an empty instance)… ')
  const restored = await measured(() => backupRestore({ env: target.env, file }))
  console.log(`${restored.seconds.toFixed(2)} s`)
  phases.push({
    name: 'restore',
    seconds: restored.seconds,
    bytes: size,
    rows: restored.result.rows,
    peakRss: restored.peakRss,
    rssBefore: restored.rssBefore,
  })

  // The restore is checked, not only timed: the benchmark's rows and files are all there.
  const c = new pg.Client({ connectionString: target.env.DATABASE_URL })
  await c.connect()
  const n = (
    await c.query(
      `SELECT (SELECT count(*) FROM data.bench_authors)::int + (SELECT count(*) FROM data.bench_posts)::int AS rows,
              (SELECT count(*) FROM bastide.objects)::int AS files`,
    )
  ).rows[0]
  await c.end()
  if (n.rows !== ROWS || n.files !== FILES)
    throw new Error(`restored ${n.rows} rows and ${n.files} files, expected ${ROWS} and ${FILES}`)

  printPhases(phases, size)
  console.log(
    `rows/s counts every row of the archive (${t.rows.toLocaleString('en')}, system tables included); files: ${FILES} × ${FILE_BYTES / 1024} KiB = ${((FILES * FILE_BYTES) / MB).toFixed(1)} MB (random bytes, which gzip cannot shrink). Total time ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  )
}

runMain(main)
