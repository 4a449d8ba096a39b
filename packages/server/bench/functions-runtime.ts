/**
 * The function sandbox on its own (no HTTP, no database): what one invocation costs in a Deno child process.
 *
 *   npx tsx bench/functions-runtime.ts                 # 2000 warm invocations, 20 cold starts, 20 warm sandboxes
 *   npx tsx bench/functions-runtime.ts --warm 5000 --cold 40 --workers 50
 *
 * Warm: one version invoked again and again, one at a time (event trigger, then HTTP with a small body).
 * Cold: a version never seen: a new Deno process loads it (with and without the SDK for ctx.client), or a spare
 * process started ahead does (FunctionRuntimeOptions.spares).
 * RSS: resident memory of each warm sandbox (from /proc), with a trivial function loaded.
 * Concurrency: 100 invocations at once, on one version (one process) and spread over 10 versions; each
 * handler awaits 10 ms, as one awaiting a fetch or a query would.
 * Figures and the comparison with isolated-vm are in docs/functions-runtime.md.
 */
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import pino from 'pino'
import {
  createFunctionRuntime,
  type FunctionRuntime,
  type HostBridge,
  type SandboxLimits,
} from '../src/core/functions/runtime/index.ts'
import { MB, machineLine, printTable, runMain } from './lib.ts'

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    warm: { type: 'string', default: '2000' },
    cold: { type: 'string', default: '20' },
    workers: { type: 'string', default: '20' },
  },
})

const limits: SandboxLimits = { timeoutMs: 30_000, memoryMb: 128 }
const host: HostBridge = {
  request: async () => ({ status: 200, headers: [], body: new Uint8Array() }),
  mail: async () => {},
  push: async () => ({ id: '00000000-0000-0000-0000-000000000000' }),
  secrets: { TOKEN: 'bench-secret' },
  allowHosts: [],
}

const trivial = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { cron: '* * * * *' }, handler(event: { n: number }) { return { n: event.n + 1 } } })`
const withClient = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { cron: '* * * * *' }, handler(event, ctx) { void ctx.client; return 1 } })`
const httpFn = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, async handler(event) {
  return new Response('hello ' + (await event.request.text()), { headers: { 'content-type': 'text/plain' } })
} })`
const awaiting = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { cron: '* * * * *' }, async handler(event: { n: number }) {
  await new Promise((r) => setTimeout(r, 10)); return event.n
} })`

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

function summary(label: string, times: number[]): string[] {
  const s = [...times].sort((a, b) => a - b)
  return [label, String(s.length), ms(quantile(s, 0.5)), ms(quantile(s, 0.99)), ms(s.at(-1)!)]
}

function ms(x: number): string {
  return x < 10 ? x.toFixed(2) : x.toFixed(0)
}

/** Resident memory of this process's Deno children, MiB each. */
function denoChildrenRss(): number[] {
  const out: number[] = []
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) !== process.pid) continue
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'deno') continue
      const statm = fs.readFileSync(`/proc/${pid}/statm`, 'utf8')
      out.push((Number(statm.split(' ')[1]) * 4096) / MB)
    } catch {
      // gone meanwhile
    }
  }
  return out
}

async function main() {
  const warmN = Number(args.warm)
  const coldN = Number(args.cold)
  const workersN = Number(args.workers)
  const options = { log: pino({ level: 'silent' }), maxWorkers: 200, idleMs: 600_000, spareMemoryMb: 128 }
  const noSpare = createFunctionRuntime({ ...options, spares: 0 })
  const runtime = createFunctionRuntime({ ...options, spares: 1 })
  const rows: string[][] = []
  try {
    const coldStarts = async (rt: FunctionRuntime, label: string, source: string, gapMs: number) => {
      const times: number[] = []
      for (let i = 0; i < coldN; i++) {
        // The gap lets the spare that replaced the one just taken finish starting.
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs))
        const t = performance.now()
        const r = await rt.invoke(
          `${label}@${i}`,
          source,
          limits,
          { kind: 'event', event: { n: 1 }, job: null },
          host,
        )
        times.push(performance.now() - t)
        if (r.status !== 'ok') throw new Error(`cold: ${r.error}`)
      }
      rt.retain(new Set())
      return times
    }
    // The SDK bundle is made once per server process; not part of a cold start.
    await noSpare.invoke('prime@1', withClient, limits, { kind: 'event', event: { n: 1 }, job: null }, host)
    await runtime.invoke('prime@1', withClient, limits, { kind: 'event', event: { n: 1 }, job: null }, host)
    rows.push(
      summary(
        'cold start, no spare (new process, trivial function)',
        await coldStarts(noSpare, 'cold', trivial, 0),
      ),
    )
    rows.push(
      summary(
        'cold start, no spare, function using ctx.client',
        await coldStarts(noSpare, 'sdk', withClient, 0),
      ),
    )
    await noSpare.close()
    rows.push(
      summary(
        'cold start, spare process ready (trivial function)',
        await coldStarts(runtime, 'spare', trivial, 400),
      ),
    )
    rows.push(
      summary(
        'cold start, spare process ready, using ctx.client',
        await coldStarts(runtime, 'sparesdk', withClient, 400),
      ),
    )
    const event = (key: string, source: string, n = 1) =>
      runtime.invoke(key, source, limits, { kind: 'event', event: { n }, job: null }, host)

    await event('warm@1', trivial)
    const warm: number[] = []
    for (let i = 0; i < warmN; i++) {
      const t = performance.now()
      await event('warm@1', trivial, i)
      warm.push(performance.now() - t)
    }
    rows.push(summary('warm invocation, event (round trip)', warm))

    const warmHttp: number[] = []
    for (let i = 0; i < warmN; i++) {
      const t = performance.now()
      const r = await runtime.invoke(
        'http@1',
        httpFn,
        limits,
        {
          kind: 'http',
          request: {
            method: 'POST',
            url: 'http://bench/api/functions/http',
            headers: [['content-type', 'text/plain']],
            body: new Response('world').body,
          },
        },
        host,
      )
      await new Response(r.response!.body).text()
      warmHttp.push(performance.now() - t)
    }
    rows.push(summary('warm invocation, HTTP (body in and out)', warmHttp.slice(1)))

    for (const [label, keys] of [
      ['100 concurrent, 1 version (1 process), 10 ms await each', 1],
      ['100 concurrent, 10 versions (10 processes), 10 ms await each', 10],
    ] as const) {
      for (let k = 0; k < keys; k++) await event(`conc${keys}@${k}`, awaiting)
      const lat: number[] = []
      const t0 = performance.now()
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const t = performance.now()
          const r = await event(`conc${keys}@${i % keys}`, awaiting, i)
          lat.push(performance.now() - t)
          if (r.status !== 'ok') throw new Error(`concurrent: ${r.error}`)
        }),
      )
      const wall = performance.now() - t0
      rows.push(summary(`${label} (all done in ${ms(wall)} ms)`, lat))
    }
    runtime.retain(new Set())
    // Only the sandboxes started below are counted: wait for the others to be gone.
    // (The spare process is one of them, and is counted: it is a sandbox without a module.)
    for (let i = 0; i < 100 && denoChildrenRss().length > 1; i++) await new Promise((r) => setTimeout(r, 100))

    for (let i = 0; i < workersN; i++) await event(`rss@${i}`, trivial)
    const rss = denoChildrenRss()
    const mean = rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length)
    console.log(machineLine())
    console.log(
      `deno sandboxes: ${runtime.stats().workers} warm; RSS per warm sandbox ${mean.toFixed(1)} MiB (mean of ${rss.length}), min ${Math.min(...rss).toFixed(1)}, max ${Math.max(...rss).toFixed(1)}`,
    )
    console.log(`host RSS ${(process.memoryUsage().rss / MB).toFixed(0)} MiB`)
    console.log()
    printTable(['', 'n', 'p50 ms', 'p99 ms', 'max ms'], rows)
  } finally {
    await runtime.close()
  }
}

runMain(main)
