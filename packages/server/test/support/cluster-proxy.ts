import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../../src/db/embedded-postgres.ts'

/** The haproxy binary tests start (Debian's package), HAPROXY_PATH to override. */
export const HAPROXY = process.env.HAPROXY_PATH ?? '/usr/sbin/haproxy'

/** A header the test's proxy routes on, to send one request to a chosen node (while that node is up). */
export const PIN_HEADER = 'x-bastide-test-node'
/** The header the proxy adds to every response: the name of the node that answered. */
export const SERVED_BY = 'x-served-by'

/** Throws, saying how to install it, when the haproxy binary is missing: the cluster test needs it. */
export function requireHaproxy(): void {
  if (!fs.existsSync(HAPROXY))
    throw new Error(`${HAPROXY} not found: apt-get install haproxy (or set HAPROXY_PATH)`)
}

export interface ProxyNode {
  readonly name: string
  readonly port: number
}

/** What the proxy counted for one node (its stats page, `;csv`). */
export interface NodeStats {
  /** 'UP', 'DOWN', or a transition ('UP 1/2'…), as the health checks see it. */
  readonly status: string
  /** Requests answered 1xx: with WebSocket, each upgrade (101) the node accepted. */
  readonly responses1xx: number
  /** Streams open on the node now: an upgraded WebSocket stays one for as long as it lives. */
  readonly current: number
}

export interface TestProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** Each node's state as the proxy's health checks see it: 'UP', 'DOWN', or a transition ('UP 1/2'…). */
  states(): Promise<Record<string, string>>
  /** Each node's counters as the proxy keeps them. */
  stats(): Promise<Record<string, NodeStats>>
  stop(): Promise<void>
}

/**
 * The config: round-robin over the nodes, health-checked on /api/health, WebSocket passed through (the
 * upgraded connection becomes a tunnel). A request that cannot connect to its node is sent to another
 * (`retry-on conn-failure`: nothing reached the node, so even a POST is safe to send again); a request cut
 * off once it reached a node is answered 502, never replayed.
 */
function config(o: { port: number; statsPort: number; nodes: readonly ProxyNode[] }): string {
  const servers = o.nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.port} check`).join('\n')
  const pins = o.nodes
    .map((n) => `  use-server ${n.name} if { req.hdr(${PIN_HEADER}) -m str ${n.name} }`)
    .join('\n')
  return `global
  maxconn 2000

defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  timeout http-request 30s
  retries 3
  option redispatch 1
  retry-on conn-failure
  default-server inter 300ms fall 2 rise 2

frontend stats
  bind 127.0.0.1:${o.statsPort}
  stats enable
  stats uri /stats

frontend web
  bind 127.0.0.1:${o.port}
  default_backend nodes

backend nodes
  balance roundrobin
  option httpchk GET /api/health
  http-check expect status 200
  http-response set-header ${SERVED_BY} %s
${pins}
${servers}
`
}

/**
 * haproxy on loopback in front of `nodes`, on `port` (chosen by the caller, so that the nodes can be told
 * their public URL first), with its config and nothing else in a temporary directory. Resolves once every
 * node is UP in the proxy's eyes.
 */
export async function startHaproxy(opts: { port: number; nodes: readonly ProxyNode[] }): Promise<TestProxy> {
  requireHaproxy()
  const statsPort = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-test-haproxy-'))
  const file = path.join(dir, 'haproxy.cfg')
  fs.writeFileSync(file, config({ port: opts.port, statsPort, nodes: opts.nodes }))
  let proc: ChildProcess | undefined
  let stderr = ''
  const stop = async () => {
    const p = proc
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
      p.kill('SIGTERM')
      await exited
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const stats = async (): Promise<Record<string, NodeStats>> => {
    const r = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)
    const [head, ...rows] = (await r.text()).trim().split('\n')
    const cols = head!.replace(/^# /, '').split(',')
    const col = (name: string) => cols.indexOf(name)
    const [px, sv, st, r1, cur] = ['pxname', 'svname', 'status', 'hrsp_1xx', 'scur'].map(col)
    const out: Record<string, NodeStats> = {}
    for (const row of rows) {
      const f = row.split(',')
      if (f[px!] !== 'nodes' || f[sv!] === 'BACKEND' || f[sv!] === 'FRONTEND') continue
      out[f[sv!]!] = { status: f[st!]!, responses1xx: Number(f[r1!]), current: Number(f[cur!]) }
    }
    return out
  }
  const states = async () =>
    Object.fromEntries(Object.entries(await stats()).map(([name, s]) => [name, s.status]))
  try {
    // -db: stay in the foreground, logs to stderr; -W off (no master process): one pid to stop.
    proc = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    const deadline = Date.now() + 20_000
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`haproxy exited with ${proc.exitCode}:\n${stderr}`)
      const s = await states().catch(() => undefined)
      if (s && opts.nodes.every((n) => s[n.name] === 'UP')) break
      if (Date.now() > deadline)
        throw new Error(`haproxy: nodes not all UP within 20 s (${JSON.stringify(s)})`)
      await new Promise((r) => setTimeout(r, 100))
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `http://127.0.0.1:${opts.port}`, states, stats, stop }
}
