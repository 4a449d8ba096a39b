import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { BIN } from './run-cli.ts'

/** A long-running `bastide` process (serve), with what it printed so far. */
export interface CliProcess {
  readonly child: ChildProcess
  output(): string
  /** Resolves to the exit status (or the signal's name) once the process is gone. */
  readonly exited: Promise<number | string | null>
}

/**
 * Starts the real binary without waiting for it to end (runCli waits), with a fresh HOME like runCli. `detached`
 * makes it a process-group leader, as a shell makes a foreground command: `process.kill(-pid, sig)` then signals
 * it and everything it started in its group, as Ctrl-C in a terminal does.
 */
export function spawnCli(
  args: readonly string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; detached?: boolean },
): CliProcess {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-cli-home-'))
  const merged: Record<string, string | undefined> = {
    ...process.env,
    BASTIDE_URL: undefined,
    BASTIDE_KEY: undefined,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    NO_COLOR: '1',
    ...opts.env,
  }
  const env = Object.fromEntries(
    Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined),
  )
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d))
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  )
  return { child, output: () => out, exited }
}

/** A port nothing listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
