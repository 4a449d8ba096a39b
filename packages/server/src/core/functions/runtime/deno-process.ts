import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FunctionLogLine } from '@bastide/protocol'
import { safeFetch } from '../../net/safe-fetch.ts'
import { lineSplitter, MAX_FRAME_BYTES, parseFrame, type SandboxFrame } from './frames.ts'
import { BridgeRefusal, InvalidBridgeArgument } from './function-error.ts'
import { parseMailMessage } from './mail-message.ts'
import { BRIDGE_BYTES_REFUSAL, bridgeBytes } from './read-capped.ts'
import { secretRedactor } from './redact-secrets.ts'
import type { HostBridge, SandboxInput, SandboxResult } from './types.ts'

const RUNNER = fileURLToPath(new URL('./runner.js', import.meta.url))

export const MAX_LOG_LINES = 200
export const MAX_LOG_LINE_BYTES = 2048
/** runner.js's MAX_LOG_CHARS: lines arrive cut to this, long enough to hold whole the secrets redacted here. */
const MAX_LOG_LINE_IN = 64 * 1024
/** The largest body a sandbox's fetch may receive, bytes (it is handed over whole). */
const MAX_FETCH_RESPONSE = 10 * 1024 * 1024
/** Request body chunks streamed into the sandbox, bytes. */
const BODY_CHUNK = 48 * 1024
/** fetch, ctx.client, ctx.mail and ctx.push calls one invocation may have in flight at once. */
const MAX_OUTBOUND = 32
/** HTTP response bytes queued here for the reader before the sandbox is asked to wait. */
const RESPONSE_QUEUE = 256 * 1024
/** runner.js's WINDOW: response bytes it may send before the host acknowledges them. */
const RUNNER_WINDOW = 1024 * 1024
/**
 * Response bytes received and not acknowledged past which a sandbox is killed: an honest runner stays under its
 * window (plus one chunk); only forged `chunk` frames, which ignore the acks, get here.
 */
const MAX_UNACKED = RUNNER_WINDOW + RESPONSE_QUEUE
/** What Deno keeps of a sandbox's stderr (for the message when it dies: "out of memory"...). */
const STDERR_TAIL = 4096

type Status = SandboxResult['status']

interface Inflight {
  readonly id: number
  readonly kind: SandboxInput['kind']
  readonly host: HostBridge
  readonly startedAt: number
  readonly deadline: number
  readonly logs: FunctionLogLine[]
  readonly redact: (s: string) => string
  dropped: number
  /** fetch, ctx.client, ctx.mail and ctx.push calls in flight. */
  outbound: number
  /** fetch response bytes being read for this invocation (at most MAX_FETCH_RESPONSE in all). */
  fetchBytes: number
  timer: NodeJS.Timeout | undefined
  /** Settles the invocation's first answer (an event's result, an HTTP response's head). */
  answer: (r: SandboxResult) => void
  /** HTTP: settles `done`, and the response body stream. */
  finish: (r: SandboxResult) => void
  body: ReadableStreamDefaultController<Uint8Array> | undefined
  received: (bytes: number) => void
  /** The reader of the response body went away. */
  cancelled: boolean
  responded: boolean
  settled: boolean
}

/** The flags that make a Deno process a sandbox: no permission, nothing fetched, no file of its own read. */
export function denoArgs(memoryMb: number): string[] {
  return [
    'run',
    '--no-prompt',
    '--no-remote',
    '--no-npm',
    '--no-config',
    '--no-lock',
    '--quiet',
    `--v8-flags=--max-old-space-size=${memoryMb}`,
    RUNNER,
  ]
}

/**
 * One Deno process running one function version (runner.js), with several invocations in flight. Every line
 * it writes is checked (frames.ts); one that is not a frame, a frame too large, or an exit ends the process and
 * every invocation on it.
 */
export class DenoProcess {
  readonly #proc: ChildProcess
  readonly #inflight = new Map<number, Inflight>()
  #nextId = 1
  #stderr = ''
  #dead = false
  #deathReason = 'The sandbox exited.'
  #loaded: { resolve: (m: unknown) => void; reject: (e: Error) => void } | undefined
  /** Invocations finished on this process. */
  invocations = 0
  lastUsed = Date.now()
  readonly exited: Promise<void>

  constructor(
    deno: string,
    readonly memoryMb: number,
    denoDir: string,
  ) {
    this.#proc = spawn(deno, denoArgs(memoryMb), {
      cwd: denoDir,
      // Env cleared but for what Deno itself reads; none of the server's.
      env: {
        DENO_DIR: denoDir,
        NO_COLOR: '1',
        DENO_NO_UPDATE_CHECK: '1',
        DENO_NO_PACKAGE_JSON: '1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const split = lineSplitter(
      MAX_FRAME_BYTES,
      (line) => this.#onLine(line),
      () => this.kill('The function wrote a line over the size limit to stdout.'),
    )
    this.#proc.stdout!.on('data', split)
    this.#proc.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-STDERR_TAIL)
    })
    this.#proc.stdin!.on('error', () => {})
    this.exited = new Promise((resolve) => {
      this.#proc.on('close', (code, signal) => {
        this.#die(this.#dead ? this.#deathReason : exitReason(code, signal, this.#stderr))
        resolve()
      })
      this.#proc.on('error', (err) => {
        this.#die(`The sandbox could not start: ${err.message}`)
        resolve()
      })
    })
  }

  get pid(): number | undefined {
    return this.#proc.pid
  }

  get alive(): boolean {
    return !this.#dead
  }

  get busy(): number {
    return this.#inflight.size
  }

  /** Loads the module: resolves with its manifest (as the module declares it, unchecked), or rejects with why. */
  load(source: string, sdk: string | null): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#loaded = { resolve, reject }
      this.#send({ t: 'init', source, sdk })
    })
  }

  /** Runs one invocation; never rejects. */
  invoke(
    input: SandboxInput,
    host: HostBridge,
    timeoutMs: number,
    onSettled: () => void,
  ): Promise<SandboxResult> {
    this.lastUsed = Date.now()
    if (this.#dead) return Promise.resolve(failed('killed', this.#deathReason, 0))
    const id = this.#nextId++
    const startedAt = performance.now()
    let answer!: (r: SandboxResult) => void
    let finish!: (r: SandboxResult) => void
    const answered = new Promise<SandboxResult>((r) => (answer = r))
    const done = new Promise<SandboxResult>((r) => (finish = r))
    const inv: Inflight = {
      id,
      kind: input.kind,
      host,
      startedAt,
      deadline: Date.now() + timeoutMs,
      logs: [],
      redact: secretRedactor(host.secrets),
      dropped: 0,
      outbound: 0,
      fetchBytes: 0,
      timer: undefined,
      answer,
      finish,
      body: undefined,
      received: () => {},
      cancelled: false,
      responded: false,
      settled: false,
    }
    this.#inflight.set(id, inv)
    void done.then(() => {
      this.invocations++
      this.lastUsed = Date.now()
      onSettled()
    })
    inv.timer = setTimeout(() => {
      this.#settle(inv, 'timeout', `The function ran out of time (${timeoutMs} ms).`)
      this.kill('Another invocation on the same sandbox ran out of time.')
    }, timeoutMs)
    if (input.kind === 'event') {
      this.#send({
        t: 'invoke',
        id,
        secrets: host.secrets,
        input: { kind: 'event', event: input.event, job: input.job },
      })
    } else {
      const r = input.request
      this.#send({
        t: 'invoke',
        id,
        secrets: host.secrets,
        input: { kind: 'http', method: r.method, url: r.url, headers: r.headers, hasBody: r.body !== null },
      })
      if (r.body !== null) void this.#streamBody(id, r.body)
    }
    return answered
  }

  /** Ends the process; invocations still on it end as 'killed' with `reason`. */
  kill(reason: string): void {
    if (!this.#dead) {
      this.#dead = true
      this.#deathReason = reason
    }
    this.#proc.kill('SIGKILL')
    this.#die(reason)
  }

  /** Lets the process end once idle (stdin closed: the runner exits). */
  stop(): void {
    if (this.#dead) return
    this.#dead = true
    this.#deathReason = 'The sandbox was stopped.'
    this.#proc.stdin!.end()
    // A runner that does not exit on its own (user code keeps it busy) is killed.
    setTimeout(() => this.#proc.kill('SIGKILL'), 2000).unref()
  }

  /** Resident memory, bytes (Linux; 0 elsewhere). */
  rss(): number {
    try {
      const statm = fs.readFileSync(`/proc/${this.#proc.pid}/statm`, 'utf8')
      return Number(statm.split(' ')[1]) * 4096
    } catch {
      return 0
    }
  }

  /** `written`: called once the frame has left (or will never leave). */
  #send(frame: unknown, written?: () => void): void {
    if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) return void written?.()
    this.#proc.stdin!.write(`${JSON.stringify(frame)}\n`, written && (() => written()))
  }

  /** The request body into the sandbox, chunk by chunk, at the pace the pipe takes it. */
  async #streamBody(id: number, body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader()
    try {
      for (;;) {
        if (!this.#inflight.has(id)) return void reader.cancel().catch(() => {})
        const { done, value } = await reader.read()
        if (done) break
        for (let i = 0; i < value.length; i += BODY_CHUNK) {
          const data = Buffer.from(value.subarray(i, i + BODY_CHUNK)).toString('base64')
          const line = `${JSON.stringify({ t: 'body', id, data })}\n`
          if (this.#dead) return
          if (!this.#proc.stdin!.write(line)) await waitDrain(this.#proc)
        }
      }
      this.#send({ t: 'body-end', id })
    } catch (err) {
      this.#send({ t: 'body-end', id, error: `request body: ${(err as Error).message}` })
    }
  }

  #onLine(line: string): void {
    if (this.#dead) return
    const frame = parseFrame(line)
    if (frame === undefined) {
      this.kill('The function wrote to stdout outside the sandbox protocol.')
      return
    }
    this.#onFrame(frame)
  }

  #onFrame(f: SandboxFrame): void {
    if (f.t === 'ready' || f.t === 'invalid') {
      const l = this.#loaded
      this.#loaded = undefined
      if (f.t === 'ready') l?.resolve(f.manifest)
      else l?.reject(new Error(f.error))
      return
    }
    const inv = this.#inflight.get(f.id)
    if (inv === undefined || inv.settled) return
    switch (f.t) {
      case 'log':
        this.#log(inv, f.level, f.message)
        return
      case 'fetch':
      case 'request':
      case 'mail':
      case 'push': {
        if (inv.outbound >= MAX_OUTBOUND) {
          this.#reply(inv, f.rid, { ok: false, error: `over ${MAX_OUTBOUND} requests in flight at once` })
          return
        }
        inv.outbound++
        const call =
          f.t === 'fetch'
            ? this.#fetch(inv, f)
            : f.t === 'request'
              ? this.#request(inv, f)
              : f.t === 'mail'
                ? this.#mail(inv, f)
                : this.#push(inv, f)
        void call.finally(() => inv.outbound--)
        return
      }
      case 'head': {
        if (inv.kind !== 'http' || inv.responded) return
        inv.responded = true
        // Bytes handed to the reader are acknowledged, so the runner sends more (runner.js keeps at most its
        // window unacknowledged): a slow HTTP client slows the function, nothing piles up here.
        let received = 0
        let acked = 0
        const body = new ReadableStream<Uint8Array>(
          {
            start: (c) => {
              inv.body = c
            },
            pull: (c) => {
              const taken = received - (RESPONSE_QUEUE - (c.desiredSize ?? 0))
              if (taken > acked && !inv.settled) {
                this.#send({ t: 'ack', id: inv.id, bytes: taken - acked })
                acked = taken
              }
            },
            cancel: () => {
              inv.cancelled = true
              if (!inv.settled) this.#send({ t: 'ack', id: inv.id, bytes: 0, cancel: true })
            },
          },
          new ByteLengthQueuingStrategy({ highWaterMark: RESPONSE_QUEUE }),
        )
        inv.received = (n) => {
          received += n
          if (received - acked > MAX_UNACKED) this.kill('The sandbox broke the response flow control.')
        }
        inv.answer({
          status: 'ok',
          error: null,
          logs: inv.logs,
          durationMs: performance.now() - inv.startedAt,
          response: { status: f.status, headers: f.headers, body },
          done: new Promise((resolve) => {
            const prev = inv.finish
            inv.finish = (r) => {
              prev(r)
              resolve(r)
            }
          }),
        })
        return
      }
      case 'chunk':
        if (inv.responded && inv.body !== undefined && !inv.cancelled) {
          const bytes = Buffer.from(f.data, 'base64')
          inv.received(bytes.length)
          if (!inv.settled) inv.body.enqueue(bytes)
        }
        return
      case 'done':
        inv.dropped += Math.min(f.dropped ?? 0, 1e9)
        if (f.ok) {
          if (inv.kind === 'http' && !inv.responded) {
            this.#settle(inv, 'error', 'An HTTP function must return a Response.')
            return
          }
          this.#settle(inv, 'ok', null, f.value ?? null)
        } else this.#settle(inv, 'error', inv.redact(f.error ?? 'The function failed.'))
        return
    }
  }

  #log(inv: Inflight, level: FunctionLogLine['level'], message: string): void {
    if (inv.logs.length >= MAX_LOG_LINES) {
      inv.dropped++
      return
    }
    // Redacted whole, then cut: a cut first could leave part of a value that no longer matches. (The runner
    // sends lines cut long enough for that, see runner.js; the frame size caps what it may send.)
    const text = inv.redact(message.length > MAX_LOG_LINE_IN ? message.slice(0, MAX_LOG_LINE_IN) : message)
    const bytes = Buffer.byteLength(text)
    inv.logs.push({
      at: new Date().toISOString(),
      level,
      message:
        bytes > MAX_LOG_LINE_BYTES
          ? `${Buffer.from(text)
              .subarray(0, MAX_LOG_LINE_BYTES - 3)
              .toString('utf8')}...`
          : text,
    })
  }

  async #fetch(inv: Inflight, f: Extract<SandboxFrame, { t: 'fetch' }>): Promise<void> {
    try {
      const res = await safeFetch(
        f.url,
        {
          method: f.method,
          headers: f.headers,
          body: f.body === null ? null : Buffer.from(f.body, 'base64'),
        },
        {
          allowHosts: inv.host.allowHosts,
          timeoutMs: Math.max(1, inv.deadline - Date.now()),
          maxResponseBytes: MAX_FETCH_RESPONSE,
        },
      )
      const { body, release } = await this.#readFetchBody(inv, res)
      // The bytes count until the reply has left for the sandbox (one that stops reading piles them up here).
      this.#reply(
        inv,
        f.rid,
        {
          ok: true,
          status: res.status,
          headers: [...res.headers],
          body: body.length === 0 ? null : body.toString('base64'),
        },
        release,
      )
    } catch (err) {
      this.#reply(inv, f.rid, { ok: false, error: inv.redact((err as Error).message) })
    }
  }

  /**
   * A fetch response's body, counted while it is read against the invocation's and the server's budgets of
   * response bytes in flight (so that 32 parallel fetches do not hold 32 x 10 MiB each): past one, it fails.
   * `release` gives the bytes back.
   */
  async #readFetchBody(inv: Inflight, res: Response): Promise<{ body: Buffer; release: () => void }> {
    const parts: Uint8Array[] = []
    let size = 0
    const reader = res.body?.getReader()
    let released = false
    const release = () => {
      if (released) return
      released = true
      inv.fetchBytes -= size
      bridgeBytes.give(size)
    }
    try {
      for (;;) {
        if (reader === undefined) break
        const { done, value } = await reader.read()
        if (done) break
        if (inv.settled) throw new Error('the invocation has ended')
        if (inv.fetchBytes + value.length > MAX_FETCH_RESPONSE)
          throw new Error(`over ${MAX_FETCH_RESPONSE} bytes of fetch responses in flight at once`)
        if (!bridgeBytes.take(value.length)) throw new Error(BRIDGE_BYTES_REFUSAL)
        size += value.length
        inv.fetchBytes += value.length
        parts.push(value)
      }
      return { body: Buffer.concat(parts), release }
    } catch (err) {
      release()
      await reader?.cancel().catch(() => {})
      throw err
    }
  }

  async #request(inv: Inflight, f: Extract<SandboxFrame, { t: 'request' }>): Promise<void> {
    try {
      const res = await inv.host.request({
        method: f.method,
        path: f.path,
        headers: Object.fromEntries(f.headers),
        body: f.body === null ? null : Buffer.from(f.body, 'base64'),
      })
      // Held until written to the sandbox, as fetch's (a sandbox that stops reading piles them up here).
      const size = res.body.length
      if (!bridgeBytes.take(size)) throw new BridgeRefusal(`ctx.client: ${BRIDGE_BYTES_REFUSAL}`)
      this.#reply(
        inv,
        f.rid,
        {
          ok: true,
          status: res.status,
          headers: res.headers,
          body: size === 0 ? null : Buffer.from(res.body).toString('base64'),
        },
        () => bridgeBytes.give(size),
      )
    } catch (err) {
      // The host's own failure: its details stay here (but for a refusal meant for the function).
      const error = err instanceof BridgeRefusal ? err.message : 'the server could not answer this request'
      this.#reply(inv, f.rid, { ok: false, error })
    }
  }

  async #mail(inv: Inflight, f: Extract<SandboxFrame, { t: 'mail' }>): Promise<void> {
    const parsed = parseMailMessage(f.mail)
    if (!parsed.ok) return this.#reply(inv, f.rid, { ok: false, error: parsed.error, invalid: true })
    try {
      await inv.host.mail(parsed.mail)
      this.#reply(inv, f.rid, { ok: true })
    } catch (err) {
      this.#reply(inv, f.rid, { ok: false, error: inv.redact((err as Error).message) })
    }
  }

  async #push(inv: Inflight, f: Extract<SandboxFrame, { t: 'push' }>): Promise<void> {
    try {
      const { id } = await inv.host.push(f.push)
      this.#reply(inv, f.rid, { ok: true, messageId: id })
    } catch (err) {
      // A refusal is worded for the function's author; anything else is the host's own failure, kept here.
      const error = err instanceof BridgeRefusal ? inv.redact(err.message) : 'the server could not queue it'
      this.#reply(inv, f.rid, { ok: false, error, invalid: err instanceof InvalidBridgeArgument })
    }
  }

  #reply(inv: Inflight, rid: number, r: Record<string, unknown>, written?: () => void): void {
    if (inv.settled) return void written?.()
    this.#send({ t: 'reply', rid, ...r }, written)
  }

  #settle(inv: Inflight, status: Status, error: string | null, value?: unknown): void {
    if (inv.settled) return
    inv.settled = true
    clearTimeout(inv.timer)
    this.#inflight.delete(inv.id)
    if (inv.dropped > 0)
      inv.logs.push({
        at: new Date().toISOString(),
        level: 'warn',
        message: `${inv.dropped} more log lines were dropped (limit ${MAX_LOG_LINES}).`,
      })
    const result: SandboxResult = {
      status,
      error,
      logs: inv.logs,
      durationMs: performance.now() - inv.startedAt,
      ...(value !== undefined && inv.kind === 'event' ? { value } : {}),
    }
    if (inv.body !== undefined && !inv.cancelled) {
      if (status === 'ok') inv.body.close()
      else inv.body.error(new Error(error ?? status))
    }
    inv.answer(result)
    inv.finish(result)
  }

  #die(reason: string): void {
    this.#dead = true
    this.#loaded?.reject(new Error(reason))
    this.#loaded = undefined
    for (const inv of [...this.#inflight.values()]) this.#settle(inv, 'killed', reason)
  }
}

function failed(status: Status, error: string, durationMs: number): SandboxResult {
  return { status, error, logs: [], durationMs }
}

function exitReason(code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  if (/out of memory|heap limit/i.test(stderr)) return 'The function ran out of memory.'
  return signal !== null ? `The sandbox was ended (${signal}).` : `The sandbox exited (code ${code}).`
}

function waitDrain(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      proc.stdin!.off('drain', done)
      proc.off('exit', done)
      resolve()
    }
    proc.stdin!.once('drain', done)
    proc.once('exit', done)
  })
}
