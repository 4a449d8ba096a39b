import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInvocationLog, type InvocationRow } from '../src/core/functions/invocation-log.ts'
import {
  createFunctionRuntime,
  type HostBridge,
  type SandboxLimits,
  type SandboxResult,
} from '../src/core/functions/runtime/index.ts'
import { startTestServer, type TestServer } from './support/harness.ts'

// What one function (or many) may hold of the host's memory, disk and slots: every bound is hit on purpose
// here, and must end the one invocation (or fail one call) with a clear message while the host carries on.

const silent = pino({ level: 'silent' })
const runtime = createFunctionRuntime({ log: silent, maxWorkers: 8, idleMs: 60_000, spares: 0 })
const limits: SandboxLimits = { timeoutMs: 20_000, memoryMb: 64 }
let versions = 0

function fn(body: string, o: { head?: string; on?: string } = {}): string {
  return `import { defineFunction } from '@bastide/sdk/functions'
${o.head ?? ''}
export default defineFunction({ on: ${o.on ?? "{ cron: '* * * * *' }"}, async handler(event: any, ctx: any) {
${body}
} })`
}

function host(o: Partial<HostBridge> = {}): HostBridge {
  return {
    request: async () => ({ status: 404, headers: [], body: new Uint8Array() }),
    mail: async () => {},
    push: async () => ({ id: '00000000-0000-0000-0000-000000000000' }),
    secrets: {},
    allowHosts: ['127.0.0.1'],
    ...o,
  }
}

function run(source: string, o: { host?: HostBridge; rt?: typeof runtime } = {}): Promise<SandboxResult> {
  return (o.rt ?? runtime).invoke(
    `limits@${++versions}`,
    source,
    limits,
    { kind: 'event', event: {}, job: null },
    o.host ?? host(),
  )
}

async function stillWorks() {
  expect(await run(fn('return 42'))).toMatchObject({ status: 'ok', value: 42 })
}

async function until<T>(what: string, f: () => T | undefined | false, tries = 400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = f()
    if (v) return v
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** /gate answers once `openGate()` is called; /hold/<MiB> sends that much and never ends. */
let target: http.Server
let base = ''
const gates: http.ServerResponse[] = []
let gateOpen = false
function openGate() {
  gateOpen = true
  for (const res of gates.splice(0)) res.end('go')
}
beforeAll(async () => {
  target = http.createServer((req, res) => {
    const hold = /^\/hold\/(\d+)$/.exec(req.url ?? '')
    if (hold) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.write(Buffer.alloc(Number(hold[1]) * 1024 * 1024, 97))
      return
    }
    if (gateOpen) res.end('go')
    else gates.push(res)
  })
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(target.address() as AddressInfo).port}`
})
afterAll(async () => {
  target.closeAllConnections()
  await new Promise((r) => target.close(r))
  await runtime.close()
})

describe('function limits', () => {
  it('kills a sandbox whose forged chunk frames ignore the response flow control', async () => {
    // The gate opens once the host has the response head; then the module writes `chunk` frames for its
    // invocation (id 1 on a fresh process) straight to fd 1, with no regard for the acks. Nobody reads the body.
    const source = fn(
      `const data = btoa('A'.repeat(48 * 1024))
  const gate = fetch('${base}/gate')
  return new Response(new ReadableStream({ async pull() {
    await gate
    for (let i = 0; i < 100; i++) process.stdout.write(JSON.stringify({ t: 'chunk', id: 1, data }) + '\\n')
    await new Promise(() => {})
  } }))`,
      { head: "import process from 'node:process'", on: '{ http: true }' },
    )
    const r = await runtime.invoke(
      `flood@${++versions}`,
      source,
      limits,
      { kind: 'http', request: { method: 'GET', url: 'http://x/', headers: [], body: null } },
      host(),
    )
    expect(r.status).toBe('ok')
    openGate()
    const done = await r.done!
    expect(done).toMatchObject({ status: 'killed', error: 'The sandbox broke the response flow control.' })
    await stillWorks()
  })

  it('caps the fetch response bytes one invocation holds at once', async () => {
    // Two responses of 6 MiB that never end: each under the 10 MiB of one response, together over the budget.
    const r = await run(
      fn(`const a = fetch('${base}/hold/6').then(() => 'done', (e) => String(e))
  const b = fetch('${base}/hold/6').then(() => 'done', (e) => String(e))
  return await Promise.race([a, b])`),
    )
    expect(r).toMatchObject({ status: 'ok' })
    expect(r.value).toMatch(/over 10485760 bytes of fetch responses in flight at once/)
    target.closeAllConnections()
    await stillWorks()
  })

  it("caps the fetch response bytes in flight across the server's invocations", async () => {
    const source = fn(`return await fetch('${base}/hold/9').then(() => 'done', (e) => String(e))`)
    const runs = [1, 2, 3, 4].map(() => run(source))
    const first = await Promise.race(runs)
    expect(first.value).toMatch(/too many response bytes in flight for functions/)
    target.closeAllConnections()
    await Promise.all(runs)
    await stillWorks()
  })

  it('refuses invocations past maxConcurrent with UNAVAILABLE, and frees the slot after', async () => {
    const rt = createFunctionRuntime({
      log: silent,
      maxWorkers: 2,
      idleMs: 60_000,
      spares: 0,
      maxConcurrent: 1,
    })
    try {
      const source = fn('return 1')
      const first = run(source, { rt })
      await expect(run(source, { rt })).rejects.toMatchObject({ code: 'UNAVAILABLE', status: 503 })
      expect(await first).toMatchObject({ status: 'ok', value: 1 })
      expect(await run(source, { rt })).toMatchObject({ status: 'ok', value: 1 })
    } finally {
      await rt.close()
    }
  })

  it('redacts secrets as written, JSON-escaped and URI-encoded, before cutting lines', async () => {
    const secrets = { A: 'sk_live_"quoted"secret', B: 'pass word/with space', C: 'ab' }
    const r = await run(
      fn(`console.log(JSON.stringify(ctx.secrets))
  console.log('x'.repeat(2040) + ctx.secrets.A)
  console.log(ctx.secrets)
  console.log('ab', 'cab', 'abc', '(ab)')
  await fetch('http://10.0.0.1/?k=' + ctx.secrets.B + '&f=' + new URLSearchParams({ q: ctx.secrets.B })).catch((e) => console.log(String(e)))
  throw new Error('boom ' + encodeURIComponent(ctx.secrets.B))`),
      { host: host({ secrets }) },
    )
    expect(r.status).toBe('error')
    const text = [...r.logs.map((l) => l.message), r.error].join('\n')
    expect(r.logs[4]!.message).toContain('?k=[redacted]&f=q=[redacted]:')
    for (const leak of ['quoted', 'sk_live', 'with', 'pass']) expect(text).not.toContain(leak)
    expect(r.logs[1]!.message).toMatch(/^x{2040}\[red/)
    // A value under 4 characters goes only where it stands alone.
    expect(r.logs[3]!.message).toBe('[redacted] cab abc ([redacted])')
    expect(r.error).toContain('boom [redacted]')
  })

  it('gives each Deno process a DENO_DIR of its own, removed when it exits', async () => {
    const mine = () =>
      new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`bastide-deno-${process.pid}-`)))
    const before = mine()
    const rt = createFunctionRuntime({ log: silent, maxWorkers: 2, idleMs: 60_000, spares: 0 })
    const dir = path.join(os.tmpdir(), [...mine()].find((n) => !before.has(n))!)
    try {
      expect(await run(fn('return 1'), { rt })).toMatchObject({ status: 'ok' })
      expect(fs.readdirSync(dir)).toHaveLength(1)
      rt.retain(new Set())
      await until('the process folder to go', () => fs.readdirSync(dir).length === 0)
    } finally {
      await rt.close()
    }
    expect(fs.existsSync(dir)).toBe(false)
  })

  it('removes the Deno folders of server processes that are gone, and only those', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    const stale = path.join(os.tmpdir(), `bastide-deno-${dead}-stale`)
    const live = path.join(os.tmpdir(), `bastide-deno-${process.pid}-live`)
    for (const d of [stale, live]) {
      fs.mkdirSync(path.join(d, 'gen'), { recursive: true })
      fs.writeFileSync(path.join(d, 'gen', 'blob'), 'x')
    }
    const rt = createFunctionRuntime({ log: silent, maxWorkers: 1, idleMs: 60_000, spares: 0 })
    await rt.close()
    expect(fs.existsSync(stale)).toBe(false)
    expect(fs.existsSync(live)).toBe(true)
    fs.rmSync(live, { recursive: true, force: true })
  })
})

describe('what the server holds for functions', () => {
  let s: TestServer
  beforeAll(async () => {
    s = await startTestServer()
  }, 60_000)
  afterAll(async () => {
    await s?.close()
  })

  it('refuses a ctx.client answer over 10 MiB inside the function, with why', async () => {
    const fnSource = (body: string) => `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, async handler(event, ctx) {
${body}
} })`
    const big = fnSource(`const chunk = new Uint8Array(1024 * 1024).fill(97)
  let n = 0
  return new Response(new ReadableStream({ pull(c) { if (n++ < 11) c.enqueue(chunk); else c.close() } }))`)
    const asks = fnSource(`try {
    const r = await ctx.client.http.send('/api/functions/big')
    return new Response('got ' + r.status)
  } catch (e) { return new Response('refused: ' + e.message + ' ' + (e.cause?.message ?? '')) }`)
    expect((await s.api('PUT', '/api/admin/functions/big', { source: big })).status).toBe(201)
    expect((await s.api('PUT', '/api/admin/functions/asks', { source: asks })).status).toBe(201)
    const res = await s.bastide.app.request('/api/functions/asks')
    expect(res.status).toBe(200)
    expect(await res.text()).toMatch(/^refused: .*ctx\.client: the response is over 10485760 bytes/)
  })

  it('bounds the invocation log buffer by bytes, not only rows', async () => {
    const log = createInvocationLog({
      db: s.bastide.database.db,
      log: silent,
      flushRows: 1000,
      maxBytes: 1024 * 1024,
    })
    const row = (i: number): InvocationRow => ({
      id: `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
      function: 'big-logs',
      version: 1,
      trigger: 'cron',
      status: 'ok',
      httpStatus: null,
      startedAt: new Date(),
      durationMs: 1,
      jobId: null,
      attempt: null,
      error: null,
      logs: Array.from({ length: 200 }, () => ({
        at: new Date().toISOString(),
        level: 'info',
        message: 'x'.repeat(2048),
      })),
    })
    // ~800 KiB a row: the second one is over the 1 MiB.
    for (let i = 0; i < 10; i++) log.push(row(i))
    expect(log.dropped()).toBe(9)
    await log.close()
    expect(log.dropped()).toBe(9)
  })
})
