import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FunctionManifest } from '@bastide/protocol'
import type { Logger } from 'pino'
import { AppError } from '../../../errors/index.ts'
import { denoBinary } from './deno-binary.ts'
import { DenoProcess } from './deno-process.ts'
import { functionError } from './function-error.ts'
import { loadErrorMessage, prepareSource } from './prepare-source.ts'
import { secretRedactor } from './redact-secrets.ts'
import { sdkBundle } from './sdk-bundle.ts'
import type { FunctionRuntime, HostBridge, SandboxInput, SandboxLimits, SandboxResult } from './types.ts'

export interface FunctionRuntimeOptions {
  readonly log: Logger
  /** Warm sandboxes at most (one per function version); the least recently used idle one makes room. */
  readonly maxWorkers: number
  /** A sandbox unused this long is stopped, ms. */
  readonly idleMs: number
  /** The Deno executable (default: the one of the `deno` npm package). */
  readonly deno?: string
  /** Resident memory a sandbox may use beyond its heap cap before the watchdog kills it, MiB (default 128). */
  readonly rssAllowanceMb?: number
  /** How long a module may take to load (its top-level code), ms (default 15 s). */
  readonly loadTimeoutMs?: number
  /**
   * Deno processes started ahead, with no function in them yet, for versions whose memory cap is
   * `spareMemoryMb`: a cold start then only loads the module (default 1; 0 for none). One is started at the
   * first invocation, and again each time one is taken.
   */
  readonly spares?: number
  /** The heap cap of spare processes, MiB: the server's default memoryMb (default 128). */
  readonly spareMemoryMb?: number
  /**
   * Invocations this node runs at once, waiting for a sandbox included (default 256): past it `invoke` throws
   * AppError UNAVAILABLE (an HTTP trigger answers 503 with Retry-After, a queued one is retried).
   */
  readonly maxConcurrent?: number
}

/** A module must load (and `inspect` answer) within this by default, ms: top-level code runs then. */
const LOAD_TIMEOUT_MS = 15_000
/** How often memory and idleness are checked, ms. */
const WATCH_MS = 250
const MAX_CONCURRENT = 256
/** Deno cache folders are named after the server process that made them: `bastide-deno-<pid>-<random>`. */
const DIR_PREFIX = 'bastide-deno-'

interface Worker {
  readonly key: string
  readonly proc: DenoProcess
  /** Resolves once the module has loaded; rejects with the reason it did not. */
  readonly ready: Promise<void>
  retired: boolean
  /** Invocations that have this sandbox and wait for it to load: it is not idle. */
  claims: number
}

/** Removes the Deno folders of server processes that are gone (crashed before their close()). */
function removeStaleDirs(): void {
  let names: string[]
  try {
    names = fs.readdirSync(os.tmpdir())
  } catch {
    return
  }
  for (const name of names) {
    const pid = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name)?.[1]
    if (pid === undefined || alive(Number(pid))) continue
    fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function idle(w: Worker): boolean {
  return w.claims === 0 && w.proc.busy === 0
}

/**
 * Runs functions in Deno child processes (see deno-process.ts and runner.js): one process per function version
 * (`key`), warm between invocations and shared by the invocations of that version only, never another's.
 * A process is killed when an invocation on it runs out of time or it goes over its memory; the server is
 * another process and carries on.
 */
export function createFunctionRuntime(o: FunctionRuntimeOptions): FunctionRuntime {
  const deno = o.deno ?? denoBinary()
  removeStaleDirs()
  // This runtime's folder, removed by close(); each Deno process has a DENO_DIR of its own in it (see start).
  const denoDir = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`))
  const maxConcurrent = o.maxConcurrent ?? MAX_CONCURRENT
  /** Invocations under way (waiting for a sandbox, running, or an HTTP body still streaming). */
  let running = 0
  const allowance = (o.rssAllowanceMb ?? 128) * 1024 * 1024
  const loadTimeout = o.loadTimeoutMs ?? LOAD_TIMEOUT_MS
  const workers = new Map<string, Worker>()
  /** Sandboxes of versions no longer wanted (retain), stopped once their invocations are through. */
  const retiring = new Set<Worker>()
  /** Invocations waiting for a sandbox slot (every one busy). */
  const waiting: (() => void)[] = []
  let invocations = 0
  let closed = false
  /** Started, nothing loaded: see FunctionRuntimeOptions.spares. */
  const spares = new Set<DenoProcess>()
  const spareMemoryMb = o.spareMemoryMb ?? 128

  /**
   * A Deno process with a throwaway DENO_DIR, removed when it exits: Deno writes each module it compiles
   * there (gen/), so a shared one would grow with every cold start.
   */
  function start(memoryMb: number): DenoProcess {
    const dir = fs.mkdtempSync(path.join(denoDir, 'p-'))
    // Where Deno would keep localStorage and the Cache API: a file, so that it can never be created
    // (runner.js removes both globals too).
    fs.writeFileSync(path.join(dir, 'location_data'), '')
    const p = new DenoProcess(deno, memoryMb, dir)
    void p.exited.then(() => fs.rmSync(dir, { recursive: true, force: true }))
    return p
  }

  function refillSpares(): void {
    while (!closed && spares.size < (o.spares ?? 1)) {
      const p = start(spareMemoryMb)
      spares.add(p)
      void p.exited.then(() => spares.delete(p))
    }
  }

  /** A new process for a version: a spare when one has the right heap cap. */
  function newProcess(memoryMb: number): DenoProcess {
    let proc: DenoProcess | undefined
    if (memoryMb === spareMemoryMb)
      for (const p of spares) {
        spares.delete(p)
        if (p.alive) {
          proc = p
          break
        }
      }
    refillSpares()
    return proc ?? start(memoryMb)
  }

  const watch = setInterval(() => {
    const now = Date.now()
    for (const w of [...workers.values(), ...retiring]) {
      if (!w.proc.alive) {
        retiring.delete(w)
        continue
      }
      if (idle(w) && (w.retired || now - w.proc.lastUsed > o.idleMs)) {
        drop(w)
        continue
      }
      const rss = w.proc.rss()
      if (rss > w.proc.memoryMb * 1024 * 1024 + allowance) {
        o.log.warn(
          { key: w.key, rssMb: Math.round(rss / 2 ** 20) },
          'function sandbox over its memory: killed',
        )
        w.proc.kill('The function went over its memory limit.')
      }
    }
  }, WATCH_MS)
  watch.unref()

  function drop(w: Worker): void {
    if (workers.get(w.key) === w) workers.delete(w.key)
    retiring.delete(w)
    w.proc.stop()
    wake()
  }

  function wake(): void {
    waiting.shift()?.()
  }

  function spawn(key: string, source: string, limits: SandboxLimits): Worker {
    const proc = newProcess(limits.memoryMb)
    const w: Worker = { key, proc, ready: load(proc, source), retired: false, claims: 0 }
    void proc.exited.then(() => {
      if (workers.get(key) === w) workers.delete(key)
      wake()
    })
    w.ready.catch(() => {})
    return w
  }

  async function load(proc: DenoProcess, source: string): Promise<void> {
    const prepared = prepareSource(source)
    // The SDK (~120 KB) only for functions that use ctx.client: the others start faster without it.
    const sdk = /\bclient\b/.test(source) ? await sdkBundle() : null
    const timer = setTimeout(() => proc.kill('The module did not load in time.'), loadTimeout)
    try {
      await proc.load(prepared, sdk)
    } finally {
      clearTimeout(timer)
    }
  }

  /** The warm sandbox of `key`, or a new one once there is room. */
  async function acquire(key: string, source: string, limits: SandboxLimits): Promise<Worker> {
    for (;;) {
      if (closed) throw new Error('functions: the runtime is closed')
      const w = workers.get(key)
      if (w?.proc.alive) {
        // Most recently used last: eviction takes from the front.
        workers.delete(key)
        workers.set(key, w)
        w.claims++
        return w
      }
      if (workers.size < o.maxWorkers || evictIdle()) {
        const fresh = spawn(key, source, limits)
        workers.set(key, fresh)
        fresh.claims++
        return fresh
      }
      await new Promise<void>((resolve) => waiting.push(resolve))
    }
  }

  function evictIdle(): boolean {
    for (const w of workers.values()) {
      if (idle(w)) {
        drop(w)
        return true
      }
    }
    return false
  }

  async function invoke(
    key: string,
    source: string,
    limits: SandboxLimits,
    input: SandboxInput,
    host: HostBridge,
  ): Promise<SandboxResult> {
    if (running >= maxConcurrent)
      throw new AppError('UNAVAILABLE', 'Too many functions are running on this server; retry shortly.')
    running++
    let result: SandboxResult
    try {
      result = await invokeOnce(key, source, limits, input, host)
    } catch (err) {
      running--
      throw err
    }
    // An HTTP invocation runs on until its body is through.
    if (result.done) void result.done.finally(() => running--)
    else running--
    return result
  }

  async function invokeOnce(
    key: string,
    source: string,
    limits: SandboxLimits,
    input: SandboxInput,
    host: HostBridge,
  ): Promise<SandboxResult> {
    const started = performance.now()
    const w = await acquire(key, source, limits)
    try {
      await w.ready
    } catch (err) {
      w.claims--
      if (workers.get(key) === w) {
        workers.delete(key)
        w.proc.kill('The module did not load.')
      }
      const message = secretRedactor(host.secrets)(loadErrorMessage((err as Error).message))
      return { status: 'error', error: message, logs: [], durationMs: performance.now() - started }
    }
    invocations++
    w.claims--
    return w.proc.invoke(input, host, limits.timeoutMs, wake)
  }

  async function inspect(source: string): Promise<FunctionManifest> {
    const proc = newProcess(spareMemoryMb)
    try {
      // No SDK: only the module's declaration is read.
      const prepared = prepareSource(source)
      const timer = setTimeout(() => proc.kill('The module did not load in time.'), loadTimeout)
      try {
        const manifest = await proc.load(prepared, null)
        return manifest as FunctionManifest
      } finally {
        clearTimeout(timer)
      }
    } catch (err) {
      throw functionError('FUNCTION_INVALID', loadErrorMessage((err as Error).message))
    } finally {
      proc.kill('inspected')
    }
  }

  return {
    inspect,
    invoke,
    retain(keys) {
      for (const w of workers.values()) {
        if (keys.has(w.key)) continue
        w.retired = true
        workers.delete(w.key)
        if (idle(w)) drop(w)
        else retiring.add(w)
      }
    },
    /** Warm sandboxes (spares not counted) and invocations so far. */
    stats: () => ({ workers: workers.size, invocations }),
    async close() {
      closed = true
      clearInterval(watch)
      const all = [...workers.values(), ...retiring]
      workers.clear()
      retiring.clear()
      const procs = [...all.map((w) => w.proc), ...spares]
      spares.clear()
      for (const p of procs) p.kill('The server is stopping.')
      await Promise.all(procs.map((p) => p.exited))
      for (const resolve of waiting.splice(0)) resolve()
      fs.rmSync(denoDir, { recursive: true, force: true })
    },
  }
}
