import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createFunctionRuntime,
  type HostBridge,
  MAX_LOG_LINE_BYTES,
  MAX_LOG_LINES,
  type SandboxLimits,
  type SandboxResult,
} from '../src/core/functions/runtime/index.ts'
import { AppError } from '../src/errors/index.ts'

// The function sandbox (Deno child processes) against what a hostile or broken function tries. Every attempt
// must be contained (a failed invocation, never a harmed host), and a normal invocation must work after it.

// One spare process of the same heap cap as the tests' limits: most versions below start in a spare.
const runtime = createFunctionRuntime({
  log: pino({ level: 'silent' }),
  maxWorkers: 8,
  idleMs: 60_000,
  spares: 1,
  spareMemoryMb: 64,
})
const limits: SandboxLimits = { timeoutMs: 10_000, memoryMb: 64 }
let versions = 0

/** A function whose handler body is `body` (event trigger), as a module. */
function fn(body: string, head = ''): string {
  return `import { defineFunction } from '@bastide/sdk/functions'
${head}
export default defineFunction({ on: { cron: '* * * * *' }, async handler(event: any, ctx: any) {
${body}
} })`
}

function host(o: Partial<HostBridge> = {}): HostBridge {
  return {
    request: async () => ({ status: 404, headers: [], body: new Uint8Array() }),
    mail: async () => {},
    push: async () => ({ id: '00000000-0000-0000-0000-000000000000' }),
    secrets: {},
    allowHosts: [],
    ...o,
  }
}

/** Runs `source` once on a version of its own (a fresh sandbox). */
function run(source: string, o: { host?: HostBridge; limits?: SandboxLimits; event?: unknown } = {}) {
  return runtime.invoke(
    `probe@${++versions}`,
    source,
    o.limits ?? limits,
    { kind: 'event', event: o.event ?? { n: 1 }, job: null },
    o.host ?? host(),
  )
}

const healthy = fn('return { sum: event.n + 1 }')

/** A normal invocation still works: the host and the pool came through. */
async function stillWorks() {
  const r = await runtime.invoke(
    'healthy@1',
    healthy,
    limits,
    { kind: 'event', event: { n: 41 }, job: null },
    host(),
  )
  expect(r).toMatchObject({ status: 'ok', value: { sum: 42 } })
}

let target: http.Server
let targetHits = 0
let targetPort = 0
beforeAll(async () => {
  target = http.createServer((_req, res) => {
    targetHits++
    res.end('pong')
  })
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r))
  targetPort = (target.address() as AddressInfo).port
})
afterAll(async () => {
  await runtime.close()
  await new Promise((r) => target.close(r))
})

describe('running functions', () => {
  it('runs an event handler, returns its JSON value, captures console and ctx.log', async () => {
    const r = await run(
      fn("console.log('hi', { a: 1 }); ctx.log.warn('careful'); return { n: event.n * 2 }"),
      {
        event: { n: 21 },
      },
    )
    expect(r.status).toBe('ok')
    expect(r.value).toEqual({ n: 42 })
    expect(r.logs.map((l) => [l.level, l.message])).toEqual([
      ['info', 'hi { a: 1 }'],
      ['warn', 'careful'],
    ])
  })

  it('strips TypeScript types, and reuses one warm process per version', async () => {
    const src = fn(
      'const x: number = event.n; globalThis.count = (globalThis.count ?? 0) + 1; return globalThis.count + x',
      'type N = number',
    )
    const a = await runtime.invoke(
      'warm@1',
      src,
      limits,
      { kind: 'event', event: { n: 0 }, job: null },
      host(),
    )
    const b = await runtime.invoke(
      'warm@1',
      src,
      limits,
      { kind: 'event', event: { n: 0 }, job: null },
      host(),
    )
    expect([a.value, b.value]).toEqual([1, 2])
    // Another version never shares the process (nor its state).
    const c = await runtime.invoke(
      'warm@2',
      src,
      limits,
      { kind: 'event', event: { n: 0 }, job: null },
      host(),
    )
    expect(c.value).toBe(1)
  })

  it('runs concurrent invocations on one process', async () => {
    const src = fn('await new Promise((r) => setTimeout(r, 20)); return event.n')
    const all = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        runtime.invoke('concurrent@1', src, limits, { kind: 'event', event: { n }, job: null }, host()),
      ),
    )
    expect(all.map((r) => r.value)).toEqual(Array.from({ length: 20 }, (_, n) => n))
  })

  it('reports a thrown error with the function frames only', async () => {
    const r = await run(fn("throw new Error('boom')"))
    expect(r.status).toBe('error')
    expect(r.error).toMatch(/^Error: boom/)
    expect(r.error).not.toMatch(/runner\.js|blob:|deno-process/)
  })

  it('gives ctx.secrets frozen and redacts their values from logs and errors', async () => {
    const r = await run(fn("console.log('key is', ctx.secrets.KEY); ctx.secrets.KEY = 'x'; return 1"), {
      host: host({ secrets: { KEY: 'hunter2-value' } }),
    })
    expect(r.status).toBe('error') // assigning to a frozen object throws in a module (strict mode)
    expect(r.logs[0]?.message).toBe('key is [redacted]')
    const e = await run(fn('throw new Error(ctx.secrets.KEY)'), {
      host: host({ secrets: { KEY: 'hunter2-value' } }),
    })
    expect(e.error).toContain('[redacted]')
    expect(e.error).not.toContain('hunter2')
  })

  it('gives ctx.job for queued triggers', async () => {
    const job = { id: 'j1', attempt: 2, retryLimit: 3 }
    const r = await runtime.invoke(
      'job@1',
      fn('return ctx.job'),
      limits,
      { kind: 'event', event: {}, job },
      host(),
    )
    expect(r.value).toEqual(job)
  })

  it('answers ctx.client through the host bridge, as the invocation', async () => {
    const seen: { method: string; path: string }[] = []
    const r = await run(fn("const page = await ctx.client.collection('posts').list(); return page.items"), {
      host: host({
        request: async (req) => {
          seen.push({ method: req.method, path: req.path })
          const body = JSON.stringify({ items: [{ id: 'p1' }], nextCursor: null })
          return {
            status: 200,
            headers: [['content-type', 'application/json']],
            body: new TextEncoder().encode(body),
          }
        },
      }),
    })
    expect(r.error).toBeNull()
    expect(r.value).toEqual([{ id: 'p1' }])
    expect(seen).toEqual([
      { method: 'GET', path: expect.stringMatching(/^\/api\/collections\/posts\/records/) },
    ])
  })

  it('streams an HTTP request body in and the response body out', async () => {
    const src = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, handler(event) {
  const upper = new TransformStream({ transform(c, out) { out.enqueue(new TextEncoder().encode(new TextDecoder().decode(c).toUpperCase())) } })
  return new Response(event.request.body.pipeThrough(upper), { status: 202, headers: { 'x-fn': 'yes' } })
} })`
    let push!: ReadableStreamDefaultController<Uint8Array>
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) })
    const r = await runtime.invoke(
      'stream@1',
      src,
      limits,
      { kind: 'http', request: { method: 'POST', url: 'http://x/api/functions/stream', headers: [], body } },
      host(),
    )
    expect(r.response?.status).toBe(202)
    expect(r.response?.headers).toContainEqual(['x-fn', 'yes'])
    const reader = r.response!.body.getReader()
    const dec = new TextDecoder()
    // Each part comes back before the next is sent: both directions stream.
    push.enqueue(new TextEncoder().encode('first'))
    expect(dec.decode((await reader.read()).value)).toBe('FIRST')
    push.enqueue(new TextEncoder().encode('second'))
    expect(dec.decode((await reader.read()).value)).toBe('SECOND')
    push.close()
    expect((await reader.read()).done).toBe(true)
    expect((await r.done)?.status).toBe('ok')
  })

  it('paces a response body by its reader, and stops the function when the reader cancels', async () => {
    // An endless body: without flow control it would pile up in the host until something gave.
    const src = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, handler() {
  let n = 0
  const chunk = new Uint8Array(64 * 1024).fill(120)
  return new Response(new ReadableStream({ pull(c) { n++; c.enqueue(chunk) }, cancel() { console.log('cancelled after', n) } }))
} })`
    const r = await runtime.invoke(
      'endless@1',
      src,
      limits,
      {
        kind: 'http',
        request: { method: 'GET', url: 'http://x/api/functions/endless', headers: [], body: null },
      },
      host(),
    )
    const reader = r.response!.body.getReader()
    let got = 0
    while (got < 4 * 1024 * 1024) got += (await reader.read()).value!.length
    await reader.cancel()
    const done = await r.done
    expect(done?.error).toBeNull()
    expect(done?.status).toBe('ok')
    // The function produced about what was read plus the window, never the endless rest.
    const produced = Number(done?.logs[0]?.message.match(/cancelled after (\d+)/)?.[1]) * 64 * 1024
    expect(produced).toBeGreaterThanOrEqual(got)
    expect(produced).toBeLessThan(got + 4 * 1024 * 1024)
    await stillWorks()
  })

  it('streams a large response body through intact', async () => {
    const src = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, handler() {
  const bytes = new Uint8Array(8 * 1024 * 1024)
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251
  return new Response(bytes)
} })`
    const r = await runtime.invoke(
      'large@1',
      src,
      limits,
      {
        kind: 'http',
        request: { method: 'GET', url: 'http://x/api/functions/large', headers: [], body: null },
      },
      host(),
    )
    const body = new Uint8Array(await new Response(r.response!.body).arrayBuffer())
    expect(body.length).toBe(8 * 1024 * 1024)
    expect(body.every((b, i) => b === i % 251)).toBe(true)
  })

  it('fails an HTTP function that answers no Response', async () => {
    const src = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, handler() { return 'nope' } })`
    const r = await runtime.invoke(
      'noresponse@1',
      src,
      limits,
      { kind: 'http', request: { method: 'GET', url: 'http://x/api/functions/n', headers: [], body: null } },
      host(),
    )
    expect(r.status).toBe('error')
    expect(r.error).toMatch(/must return a Response/)
  })

  it('inspects a module: its manifest, or FUNCTION_INVALID saying why', async () => {
    const m = await runtime.inspect(`import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: [{ http: true }], retries: 2, allowHosts: ['a.example'], handler() {} })`)
    expect(m).toEqual({ on: [{ http: true }], retries: 2, allowHosts: ['a.example'] })
    const invalid = async (src: string) => {
      const err = await runtime.inspect(src).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AppError)
      expect(err).toMatchObject({ code: 'FUNCTION_INVALID', status: 400 })
      return (err as AppError).message
    }
    for (const spec of ['lodash', './util.ts', 'npm:lodash', 'https://esm.sh/lodash', 'file:///etc/passwd'])
      expect(
        await invalid(`import _ from '${spec}'\nexport default { on: { http: true }, handler() {} }`),
      ).toMatch(/bundle it in with `bastide functions deploy`/)
    expect(await invalid('export default {')).toMatch(/does not load/)
    expect(await invalid('export default { on: { http: true } }')).toMatch(/defineFunction/)
    expect(await invalid("throw new Error('at load')")).toMatch(/at load/)
  })
})

describe('the sandbox contains', () => {
  const refused = async (body: string, pattern: RegExp, head = '') => {
    const r = await run(fn(body, head))
    expect(r.status).toBe('error')
    expect(r.error).toMatch(pattern)
    await stillWorks()
    return r
  }

  it('reading files', () => refused("return await Deno.readTextFile('/etc/passwd')", /Requires read access/))

  it('the environment', async () => {
    await refused("return Deno.env.get('DATABASE_URL')", /Requires env access/)
    await refused('return process.env.DATABASE_URL', /Requires env access/)
    await refused('return Deno.env.toObject()', /Requires env access/)
  })

  it('running programs', async () => {
    await refused(
      "return (await new Deno.Command('/bin/sh', { args: ['-c', 'id'] }).output()).code",
      /Requires run access/,
    )
    await refused(
      "const cp = await import('node:child_process'); return cp.execFileSync('/bin/id').toString()",
      /Requires (run|env) access/,
    )
  })

  it('network access outside fetch', async () => {
    await refused("await Deno.connect({ hostname: '127.0.0.1', port: 5432 })", /Requires net access/)
    await refused("await Deno.connect({ hostname: '169.254.169.254', port: 80 })", /Requires net access/)
    await refused("new WebSocket('ws://127.0.0.1:5432')", /Requires net access/)
  })

  it('fetch to loopback and link-local addresses, unless allow-listed', async () => {
    await refused("await fetch('http://127.0.0.1:5432/')", /DESTINATION_REFUSED|not a public address/)
    await refused("await fetch('http://169.254.169.254/latest/meta-data/')", /not a public address/)
    await refused("await fetch('http://[::ffff:127.0.0.1]:5432/')", /not a public address/)
    expect(targetHits).toBe(0)
    const ok = await run(fn(`return await (await fetch('http://127.0.0.1:${targetPort}/')).text()`), {
      host: host({ allowHosts: ['127.0.0.1'] }),
    })
    expect(ok).toMatchObject({ status: 'ok', value: 'pong' })
    expect(targetHits).toBe(1)
  })

  it('imports from disk, the network and npm', async () => {
    await refused("return await import('file:///etc/passwd')", /Requires read access/)
    await refused("return await import('file:///etc/' + 'passwd')", /Requires read access/)
    await refused(
      `return await import('http://127.0.0.1:' + ${targetPort} + '/x.js')`,
      /Requires import access|--no-remote/,
    )
    await refused("return await import('npm:' + 'lodash')", /--no-npm/)
    await refused("return await import('' + 'lodash')", /not a dependency/)
    expect(targetHits).toBe(1)
  })

  it('Worker', async () => {
    await refused("new Worker('data:text/javascript,for(;;){}', { type: 'module' })", /Worker is not defined/)
    expect((await run(fn('return [typeof Worker, typeof globalThis.Worker]'))).value).toEqual([
      'undefined',
      'undefined',
    ])
  })

  it('an infinite loop: the invocation times out, its neighbours on the process are killed', async () => {
    const src = fn('if (event.spin) for (;;) {} ; await new Promise((r) => setTimeout(r, 60_000))')
    const short = { timeoutMs: 500, memoryMb: 64 }
    const waiting = runtime.invoke(
      'loop@1',
      src,
      { timeoutMs: 30_000, memoryMb: 64 },
      { kind: 'event', event: {}, job: null },
      host(),
    )
    const spinning = runtime.invoke(
      'loop@1',
      src,
      short,
      { kind: 'event', event: { spin: true }, job: null },
      host(),
    )
    const [w, s] = await Promise.all([waiting, spinning])
    expect(s.status).toBe('timeout')
    expect(w.status).toBe('killed')
    await stillWorks()
    // The version gets a fresh process on its next invocation.
    const again = await runtime.invoke(
      'loop@1',
      fn('return 7'),
      limits,
      { kind: 'event', event: {}, job: null },
      host(),
    )
    expect(again.value).toBe(7)
  })

  it('a heap memory bomb (V8 heap cap)', async () => {
    const r = await run(fn('const a = []; for (;;) a.push(new Array(1e5).fill(Math.random()))'))
    expect(r.status).toBe('killed')
    expect(r.error).toMatch(/memory/)
    await stillWorks()
  })

  it('an off-heap memory bomb (the RSS watchdog)', async () => {
    const r = await run(
      fn(
        'const keep = []; for (;;) { keep.push(new Uint8Array(32 * 1024 * 1024).fill(1)); await new Promise((r) => setTimeout(r, 5)) }',
      ),
    )
    expect(r.status).toBe('killed')
    expect(r.error).toMatch(/memory/)
    await stillWorks()
  })

  it('prototype pollution stays in the sandbox', async () => {
    const r = await run(
      fn("Object.prototype.polluted = 'yes'; Array.prototype.push = null; return ({}).polluted"),
    )
    expect(r.value).toBe('yes')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(typeof [].push).toBe('function')
    await stillWorks()
  })

  it('garbage written to stdout: the invocation fails, the host carries on', async () => {
    expect((await run(fn('return typeof Deno.stdout'))).value).toBe('undefined')
    const r = await run(
      fn(
        'process.stdout.write(\'not a frame\\n{"t":"done"}\\n\'); await new Promise((r) => setTimeout(r, 5000))',
      ),
    )
    expect(r.status).toBe('killed')
    expect(r.error).toMatch(/outside the sandbox protocol/)
    await stillWorks()
  })

  it('a forged frame is checked like any other', async () => {
    const r = await run(
      fn(
        "process.stdout.write(JSON.stringify({ t: 'head', id: 1, status: 99999, headers: 'x' }) + '\\n'); return 1",
      ),
    )
    expect(r.status).toBe('killed')
    await stillWorks()
  })

  it('huge log output: bounded lines and line size', async () => {
    const r = await run(
      fn("const big = 'x'.repeat(100_000); for (let i = 0; i < 5000; i++) console.log(big); return 'done'"),
    )
    expect(r.status).toBe('ok')
    expect(r.logs.length).toBe(MAX_LOG_LINES + 1)
    for (const l of r.logs) expect(Buffer.byteLength(l.message)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES)
    expect(r.logs.at(-1)?.message).toMatch(/4800 more log lines were dropped/)
    await stillWorks()
  })

  it('storage shared between sandboxes (localStorage, the Cache API) is not there', async () => {
    const r = await run(fn('return [typeof localStorage, typeof sessionStorage, typeof caches]'))
    expect(r.value).toEqual(['undefined', 'undefined', 'undefined'])
    await stillWorks()
  })

  it('a module that never finishes loading is not deployed', async () => {
    const quick = createFunctionRuntime({
      log: pino({ level: 'silent' }),
      maxWorkers: 1,
      idleMs: 60_000,
      loadTimeoutMs: 500,
    })
    try {
      await expect(quick.inspect('for (;;) {}\nexport default {}')).rejects.toMatchObject({
        code: 'FUNCTION_INVALID',
        message: expect.stringMatching(/did not load in time/),
      })
    } finally {
      await quick.close()
    }
  })

  it("another function's secrets: each version has a process of its own", async () => {
    const a = fn('globalThis.stash = ctx.secrets; return Object.keys(ctx.secrets)')
    const b = fn('return { stash: globalThis.stash ?? null, mine: Object.keys(ctx.secrets) }')
    const ra = await runtime.invoke(
      'alpha@1',
      a,
      limits,
      { kind: 'event', event: {}, job: null },
      host({ secrets: { A_KEY: 'alpha-secret' } }),
    )
    expect(ra.value).toEqual(['A_KEY'])
    const rb = await runtime.invoke(
      'beta@1',
      b,
      limits,
      { kind: 'event', event: {}, job: null },
      host({ secrets: { B_KEY: 'beta' } }),
    )
    expect(rb.value).toEqual({ stash: null, mine: ['B_KEY'] })
  })
})

describe('the pool', () => {
  it('caps warm processes, evicting the least recently used idle one, and retain() stops the others', async () => {
    const small = createFunctionRuntime({ log: pino({ level: 'silent' }), maxWorkers: 2, idleMs: 60_000 })
    try {
      const src = fn('return event.n')
      const call = (key: string) =>
        small.invoke(key, src, limits, { kind: 'event', event: { n: 1 }, job: null }, host())
      const results: SandboxResult[] = []
      for (const key of ['a@1', 'b@1', 'c@1', 'a@1']) results.push(await call(key))
      expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'ok'])
      expect(small.stats().workers).toBe(2)
      expect(small.stats().invocations).toBe(4)
      small.retain(new Set(['a@1']))
      expect(small.stats().workers).toBe(1)
    } finally {
      await small.close()
    }
  })

  it('stops idle processes', async () => {
    const idle = createFunctionRuntime({ log: pino({ level: 'silent' }), maxWorkers: 2, idleMs: 50 })
    try {
      const once = () =>
        idle.invoke('i@1', fn('return 1'), limits, { kind: 'event', event: {}, job: null }, host())
      expect((await once()).value).toBe(1)
      await expect.poll(() => idle.stats().workers).toBe(0)
      // A stopped version starts again on demand.
      expect(await once()).toMatchObject({ status: 'ok', value: 1 })
    } finally {
      await idle.close()
    }
  })
})
