// The runner: the program Deno executes in a function's sandbox, with no permission at all (see
// deno-process.ts for the flags). It speaks NDJSON with the host over stdin/stdout: the host sends the
// function's source once (`init`), then invocations; the runner answers with logs, outbound requests (fetch,
// `ctx.client`, `ctx.mail` and `ctx.push`, all carried out by the host), HTTP response parts and results.
//
// Nothing here is trusted by the host: user code runs in this same isolate and can forge any frame. The host
// checks every frame's size and shape and only ever acts for the invocation a frame names, within that
// function's own rights. What this file does is make the honest path easy and the user's own mistakes
// contained: it takes stdin/stdout away from `Deno` before user code loads, captures console output as logs,
// removes `Worker`, and replaces `fetch`.
import { AsyncLocalStorage } from 'node:async_hooks'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const stdin = Deno.stdin
const stdout = Deno.stdout
const inspect = Deno.inspect
const exit = Deno.exit
/** The largest body a sandboxed fetch or ctx.client request may send, bytes. */
const MAX_OUT_BODY = 10 * 1024 * 1024
const CHUNK = 48 * 1024

// Out of user code's reach before it loads. (Node's `process.stdout` can still reach fd 1: the host treats
// anything there that is not a well-formed frame as a broken sandbox, and kills it.)
for (const name of ['stdin', 'stdout', 'stderr']) delete Deno[name]
delete globalThis.Worker
// localStorage and the Cache API persist under DENO_DIR, keyed by the main module (this file), with no
// permission needed: every function would share them. (The host also makes that folder impossible to create.)
for (const name of ['localStorage', 'sessionStorage', 'caches']) delete globalThis[name]

let writing = Promise.resolve()
/** Writes one frame; frames never interleave. */
function send(frame) {
  const bytes = encoder.encode(`${JSON.stringify(frame)}\n`)
  writing = writing.then(async () => {
    let off = 0
    while (off < bytes.length) off += await stdout.write(bytes.subarray(off))
  })
  return writing
}

function toBase64(bytes) {
  let s = ''
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

function fromBase64(b64) {
  const s = atob(b64)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

// ---- invocations ---------------------------------------------------------------------------------------------

const current = new AsyncLocalStorage()
/** Outbound calls waiting for the host's reply, by request id. */
const pending = new Map()
/** HTTP request bodies being streamed in, by invocation id. */
const bodies = new Map()
/** HTTP response bytes sent and not yet taken by the host's reader, by invocation id: at most WINDOW. */
const WINDOW = 1024 * 1024
const credit = new Map()
let nextRid = 1

function format(args) {
  return args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 4, colors: false }))).join(' ')
}

/**
 * Log lines per invocation: the host keeps MAX_LOG_LINES at most; the rest is only counted. Lines are cut here
 * well past the host's 2 KiB, so that the host sees secrets' values whole, redacts them, then cuts.
 */
const MAX_LOG_LINES = 200
const MAX_LOG_CHARS = 64 * 1024
const logCounts = new Map()

function log(id, level, args) {
  const n = logCounts.get(id)
  if (n === undefined) return
  logCounts.set(id, n + 1)
  if (n >= MAX_LOG_LINES) return
  const message = format(args)
  send({
    t: 'log',
    id,
    level,
    message: message.length > MAX_LOG_CHARS ? message.slice(0, MAX_LOG_CHARS) : message,
  })
}

function logger(id) {
  const line =
    (level) =>
    (...args) =>
      log(id, level, args)
  return Object.freeze({ debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') })
}

const levels = { log: 'info', info: 'info', debug: 'debug', trace: 'debug', warn: 'warn', error: 'error' }
for (const [method, level] of Object.entries(levels)) {
  // Output outside an invocation (module top level, a stray timer) belongs to none: dropped.
  console[method] = (...args) => {
    const id = current.getStore()
    if (id !== undefined) log(id, level, args)
  }
}

function call(id, frame) {
  const rid = nextRid++
  return new Promise((resolve) => {
    pending.set(rid, resolve)
    send({ ...frame, id, rid })
  })
}

async function bodyOf(req) {
  if (req.body === null) return null
  const bytes = new Uint8Array(await req.arrayBuffer())
  if (bytes.length > MAX_OUT_BODY) throw new TypeError(`request body over ${MAX_OUT_BODY} bytes`)
  return toBase64(bytes)
}

const NULL_BODY = new Set([101, 103, 204, 205, 304])

function responseOf(reply, url) {
  if (!reply.ok) throw new TypeError(`fetch ${url}: ${reply.error}`)
  const body = reply.body === null || NULL_BODY.has(reply.status) ? null : fromBase64(reply.body)
  return new Response(body, { status: reply.status, headers: reply.headers })
}

/** `fetch`, carried out by the host (SSRF guard, the function's allowHosts). */
globalThis.fetch = async (input, init) => {
  const id = current.getStore()
  if (id === undefined) throw new TypeError('fetch is only available while the function runs')
  const req = new Request(input, init)
  const reply = await call(id, {
    t: 'fetch',
    url: req.url,
    method: req.method,
    headers: [...req.headers],
    body: await bodyOf(req),
  })
  return responseOf(reply, req.url)
}

const CLIENT_ORIGIN = 'http://bastide.internal'

/** The `fetch` of `ctx.client`: the host answers it with its own app, as the invocation's identity. */
function clientFetch(id) {
  return async (input, init) => {
    const req = new Request(input, init)
    const url = new URL(req.url)
    if (url.origin !== CLIENT_ORIGIN) throw new TypeError('ctx.client only reaches this Bastide server')
    const reply = await call(id, {
      t: 'request',
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers: [...req.headers],
      body: await bodyOf(req),
    })
    return responseOf(reply, req.url)
  }
}

/** `ctx.mail.send`: the host checks the message and sends it with the server's mailer. */
async function sendMail(id, message) {
  let mail
  try {
    mail = JSON.parse(JSON.stringify(message ?? null))
  } catch (err) {
    throw new TypeError(`ctx.mail.send: the message must be plain JSON (${err.message})`)
  }
  const reply = await call(id, { t: 'mail', mail })
  // A bad argument is the caller's TypeError; a mail that could not go, an Error (a queued trigger is retried).
  if (!reply.ok) throw new (reply.invalid ? TypeError : Error)(`ctx.mail.send: ${reply.error}`)
}

/** `ctx.push.send`: the host hands the message to the push module, which checks it, stores it and queues it. */
async function sendPush(id, message) {
  let push
  try {
    push = JSON.parse(JSON.stringify(message ?? null))
  } catch (err) {
    throw new TypeError(`ctx.push.send: the message must be plain JSON (${err.message})`)
  }
  const reply = await call(id, { t: 'push', push })
  // As ctx.mail: a bad message is the caller's TypeError; one that could not be queued, an Error.
  if (!reply.ok) throw new (reply.invalid ? TypeError : Error)(`ctx.push.send: ${reply.error}`)
  return { id: reply.messageId }
}

let sdk = null

function contextOf(id, frame) {
  let client
  return Object.freeze({
    log: logger(id),
    secrets: Object.freeze({ ...frame.secrets }),
    mail: Object.freeze({ send: (message) => sendMail(id, message) }),
    push: Object.freeze({ send: (message) => sendPush(id, message) }),
    job: frame.input.kind === 'event' && frame.input.job ? Object.freeze({ ...frame.input.job }) : null,
    get client() {
      if (sdk === null) throw new TypeError('ctx.client is not available: the function does not mention it')
      client ??= new sdk.BastideClient({
        url: CLIENT_ORIGIN,
        fetch: clientFetch(id),
        retry: false,
        autoRefresh: false,
      })
      return client
    },
  })
}

/** An error as the function's author should see it: its message and the stack frames of their module only. */
function describe(err, moduleUrl) {
  if (!(err instanceof Error)) return `Uncaught ${format([err])}`
  // Before the module has a URL (the SDK failed to load), no frame is the author's.
  const frames = moduleUrl
    ? (err.stack ?? '')
        .split('\n')
        .slice(1)
        .filter((l) => l.includes(moduleUrl))
        .map((l) => l.replaceAll(moduleUrl, 'function'))
    : []
  const head = `${err.name}: ${err.message}`
  return [moduleUrl ? head.replaceAll(moduleUrl, 'function') : head, ...frames].join('\n')
}

let fn = null
let moduleUrl = ''

function requestBody(id) {
  return new ReadableStream({
    start(controller) {
      bodies.set(id, controller)
    },
    cancel() {
      bodies.delete(id)
    },
  })
}

async function runHttp(id, frame, ctx) {
  const r = frame.input
  const req = new Request(r.url, {
    method: r.method,
    headers: r.headers,
    body: r.hasBody ? requestBody(id) : null,
  })
  const res = await fn.handler({ trigger: 'http', request: req }, ctx)
  if (!(res instanceof Response)) throw new TypeError('An HTTP function must return a Response')
  send({ t: 'head', id, status: res.status, headers: [...res.headers] })
  if (res.body !== null) {
    const flow = { unacked: 0, wake: null, cancelled: false }
    credit.set(id, flow)
    const reader = res.body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (flow.cancelled) {
        // The HTTP client went away: the function's stream is told, and the invocation ends.
        await reader.cancel().catch(() => {})
        break
      }
      const bytes = typeof value === 'string' ? encoder.encode(value) : value
      for (let i = 0; i < bytes.length; i += CHUNK) {
        const part = bytes.subarray(i, i + CHUNK)
        // The host's reader (the HTTP client) sets the pace: wait for it past the window.
        while (flow.unacked >= WINDOW && !flow.cancelled) await new Promise((r) => (flow.wake = r))
        if (flow.cancelled) break
        flow.unacked += part.length
        await send({ t: 'chunk', id, data: toBase64(part) })
      }
    }
  }
  return null
}

function jsonValue(v) {
  if (v === undefined) return null
  try {
    return JSON.parse(JSON.stringify(v)) ?? null
  } catch {
    return null
  }
}

function dropped(id) {
  return Math.max(0, (logCounts.get(id) ?? 0) - MAX_LOG_LINES)
}

async function invoke(frame) {
  const id = frame.id
  logCounts.set(id, 0)
  await current.run(id, async () => {
    const ctx = contextOf(id, frame)
    try {
      const value =
        frame.input.kind === 'http'
          ? await runHttp(id, frame, ctx)
          : jsonValue(await fn.handler(frame.input.event, ctx))
      await send({ t: 'done', id, ok: true, value, dropped: dropped(id) })
    } catch (err) {
      await send({ t: 'done', id, ok: false, error: describe(err, moduleUrl), dropped: dropped(id) })
    } finally {
      bodies.delete(id)
      logCounts.delete(id)
      credit.delete(id)
    }
  })
}

// ---- loading the module ----------------------------------------------------------------------------------------

async function load(frame) {
  try {
    // The SDK is an IIFE bundle (sdk-bundle.ts), defined in a function scope so as to leave no global.
    if (frame.sdk) sdk = new Function(`${frame.sdk}\nreturn __bastideSdk`)()
    moduleUrl = URL.createObjectURL(new Blob([frame.source], { type: 'application/typescript' }))
    const mod = await import(moduleUrl)
    const def = mod.default
    if (def === null || typeof def !== 'object' || typeof def.handler !== 'function')
      throw new TypeError('The module must `export default defineFunction({ on, handler })`.')
    fn = def
    const { handler: _, ...manifest } = def
    await send({ t: 'ready', manifest: jsonValue(manifest) })
  } catch (err) {
    await send({ t: 'invalid', error: describe(err, moduleUrl) })
  }
}

// ---- reading frames ------------------------------------------------------------------------------------------

function onFrame(frame) {
  switch (frame.t) {
    case 'init':
      load(frame)
      break
    case 'invoke':
      invoke(frame)
      break
    case 'reply': {
      const resolve = pending.get(frame.rid)
      pending.delete(frame.rid)
      resolve?.(frame)
      break
    }
    case 'body':
      bodies.get(frame.id)?.enqueue(fromBase64(frame.data))
      break
    case 'ack': {
      const flow = credit.get(frame.id)
      if (flow) {
        if (frame.cancel) flow.cancelled = true
        flow.unacked -= frame.bytes
        flow.wake?.()
        flow.wake = null
      }
      break
    }
    case 'body-end': {
      const c = bodies.get(frame.id)
      bodies.delete(frame.id)
      if (frame.error) c?.error(new TypeError(frame.error))
      else c?.close()
      break
    }
  }
}

let buffered = ''
for await (const chunk of stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true })
  let nl = buffered.indexOf('\n')
  while (nl !== -1) {
    const line = buffered.slice(0, nl)
    buffered = buffered.slice(nl + 1)
    if (line) onFrame(JSON.parse(line))
    nl = buffered.indexOf('\n')
  }
}
// The host closed stdin: it is done with this sandbox.
exit(0)
