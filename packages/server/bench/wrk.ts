/**
 * wrk (C, one thread) as the load generator, when it is installed (`apt-get install wrk`): it costs the shared
 * cores a fraction of what autocannon (JavaScript, in the bench's own process) does per request, and that cost
 * grows with the size of the answer's headers, so autocannon understates every server a little and the one
 * with more headers more. Requests are made by a generated Lua script: a random path from a list, an optional
 * JSON body with random values, fixed headers.
 */
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface WrkRequest {
  readonly method: string
  /** One is drawn at random for each request. */
  readonly paths: readonly string[]
  readonly headers?: Readonly<Record<string, string>>
  /** A Lua expression giving the body of each request (random values drawn with math.random). */
  readonly luaBody?: string
}

export interface WrkResult {
  readonly requests: number
  readonly seconds: number
  readonly p50: number
  readonly p99: number
  /** Answers outside 2xx/3xx, and socket errors (connect, read, write) and timeouts. */
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  /** CPU seconds wrk used (user + system). */
  readonly cpu: number
}

/** Whether wrk is on the PATH. */
export function hasWrk(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined
}

const lua = (s: string) => JSON.stringify(s) // a JSON string literal is a valid Lua string literal here (ASCII)

function script(r: WrkRequest): string {
  const headers = Object.entries(r.headers ?? {})
    .map(([k, v]) => `[${lua(k)}] = ${lua(v)}`)
    .join(', ')
  return `local paths = { ${r.paths.map(lua).join(',\n')} }
local n = #paths
local headers = { ${headers} }
math.randomseed(${Math.floor(Math.random() * 1e9)})
request = function()
  return wrk.format(${lua(r.method)}, paths[math.random(n)], headers${r.luaBody ? `, ${r.luaBody}` : ''})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write, e.timeout))
end
`
}

/** Runs wrk against `base` for `seconds` with `connections` connections, one thread. */
export async function runWrk(
  base: string,
  r: WrkRequest,
  o: { connections: number; seconds: number },
): Promise<WrkResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-bench-wrk-'))
  const file = path.join(dir, 'load.lua')
  fs.writeFileSync(file, script(r))
  try {
    // bash's `times` prints the CPU its children used: wrk's own, complete (it has exited).
    const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '10s', '-s', file, base]
    const child = spawn('bash', ['-c', 'wrk "$@" || exit $?; times', 'wrk', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    const m = /^WRK (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m.exec(out)
    if (code !== 0 || !m) throw new Error(`wrk failed (exit ${code}):\n${out}`)
    const times = out.trim().split('\n').slice(-1)[0]!.trim().split(/\s+/)
    const sec = (t: string | undefined) => {
      const x = /^(\d+)m([\d.]+)s$/.exec(t ?? '')
      return x ? Number(x[1]) * 60 + Number(x[2]) : 0
    }
    const [requests, micros, p50, p99, non2xx, errors, timeouts] = m.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ]
    return {
      requests,
      seconds: micros / 1e6,
      p50: p50 / 1000,
      p99: p99 / 1000,
      non2xx,
      errors,
      timeouts,
      cpu: sec(times[0]) + sec(times[1]),
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
