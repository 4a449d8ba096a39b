import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import autocannon, { type Request, type Result } from 'autocannon'
import { freePort } from '../src/db/embedded-postgres.ts'
import {
  adminCall,
  cleanups,
  createDatabase,
  installCleanupHandlers,
  machineLine,
  printTable,
  runMain,
  spawnBastide,
  waitReady,
} from './lib.ts'

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    duration: { type: 'string', default: process.env.BENCH_DURATION ?? '8' },
    warmup: { type: 'string', default: process.env.BENCH_WARMUP ?? '2' },
    connections: { type: 'string', default: process.env.BENCH_CONNECTIONS ?? '20' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (args.help) {
  console.log(
    'usage: tsx bench/functions.ts [--duration s] [--warmup s] [--connections n] [--only plain,hello,echo,client]',
  )
  process.exit(0)
}
const DURATION = Number(args.duration)
const WARMUP = Number(args.warmup)
const CONNECTIONS = Number(args.connections)
for (const [k, v] of Object.entries({ duration: DURATION, connections: CONNECTIONS }))
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${k} must be a positive number`)
    process.exit(2)
  }

const FUNCTIONS: Record<string, string> = {
  'bench-hello': `export default { on: { http: true }, handler: () => new Response('hello') }`,
  'bench-echo': `export default {
  on: { http: true },
  async handler(event) {
    const body = await event.request.json()
    return Response.json(body)
  },
}`,
  'bench-client': `export default {
  on: { http: true },
  privileged: true,
  async handler(event, ctx) {
    const id = new URL(event.request.url).searchParams.get('id')
    const rec = await ctx.client.collection('bench_items').getOne(id)
    return Response.json(rec)
  },
}`,
}

const ECHO_BODY = JSON.stringify({
  items: Array.from({ length: 16 }, (_, i) => ({ i, text: 'x'.repeat(48) })),
})

interface Scenario {
  readonly name: string
  readonly label: string
  request(itemId: string): Request
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'plain',
    label: 'GET /api/health/live',
    request: () => ({ method: 'GET', path: '/api/health/live' }),
  },
  {
    name: 'hello',
    label: 'GET function → Response',
    request: () => ({ method: 'GET', path: '/api/functions/bench-hello' }),
  },
  {
    name: 'echo',
    label: 'POST 1 KiB JSON, echoed',
    request: () => ({
      method: 'POST',
      path: '/api/functions/bench-echo',
      headers: { 'content-type': 'application/json' },
      body: ECHO_BODY,
    }),
  },
  {
    name: 'client',
    label: 'function → ctx.client get',
    request: (id) => ({ method: 'GET', path: `/api/functions/bench-client?id=${id}` }),
  },
]

installCleanupHandlers()

function fire(base: string, request: Request, duration: number): Promise<Result> {
  return autocannon({ url: base, connections: CONNECTIONS, duration, timeout: 10, requests: [request] })
}

runMain(async () => {
  const dbUrl = await createDatabase()
  const port = await freePort()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-bench-data-'))
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }))
  const child = spawnBastide({ databaseUrl: dbUrl, port, dataDir })
  const base = `http://127.0.0.1:${port}`
  await waitReady(`${base}/api/health/live`, child)

  await adminCall(base, 'POST', '/api/collections', {
    name: 'bench_items',
    fields: [{ name: 'title', type: 'text' }],
  })
  const item = await adminCall(base, 'POST', '/api/collections/bench_items/records', { title: 'one' })
  for (const [name, source] of Object.entries(FUNCTIONS))
    await adminCall(base, 'PUT', `/api/admin/functions/${name}`, { source })

  const only = args.only ? new Set(args.only.split(',')) : undefined
  console.log(machineLine())
  console.log(`${CONNECTIONS} connections, ${DURATION} s per scenario (after ${WARMUP} s of warm-up)\n`)
  const rows: string[][] = []
  let plain: number | undefined
  for (const s of SCENARIOS) {
    if (only && !only.has(s.name)) continue
    const req = s.request(item.id)
    if (WARMUP > 0) await fire(base, req, WARMUP)
    const r = await fire(base, req, DURATION)
    const rps = r.requests.average
    if (s.name === 'plain') plain = rps
    const bad = r.non2xx + r.errors + r.timeouts
    rows.push([
      s.name,
      s.label,
      Math.round(rps).toLocaleString('en-US'),
      plain && s.name !== 'plain' ? `${(rps / plain).toFixed(2)}×` : '-',
      `${r.latency.p50} ms`,
      `${r.latency.p99} ms`,
      bad ? `${bad}` : '0',
    ])
  }
  printTable(['scenario', 'request', 'req/s', 'vs plain', 'p50', 'p99', 'errors'], rows, [0, 1])
})
