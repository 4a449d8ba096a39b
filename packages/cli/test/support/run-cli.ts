import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../bin/bastide.mjs', import.meta.url))

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** stdout parsed as JSON (for runs with --json); throws when it is not. */
  json<T = any>(): T
}

/**
 * Runs the real `bastide` binary as a child process. Its HOME and XDG_CONFIG_HOME are a fresh temporary directory
 * unless `env` sets them, so that no test reads or writes the profiles of the machine (or of another test).
 */
export async function runCli(
  args: readonly string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const home = opts.env?.HOME ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-cli-home-'))
  // The machine's BASTIDE_URL/BASTIDE_KEY never leak into a test; `env` may set them, or unset anything (undefined).
  const merged: Record<string, string | undefined> = {
    ...process.env,
    BASTIDE_URL: undefined,
    BASTIDE_KEY: undefined,
  }
  Object.assign(merged, { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NO_COLOR: '1' }, opts.env)
  const env = Object.fromEntries(
    Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined),
  )
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.stdin.end(opts.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  return {
    code,
    stdout,
    stderr,
    json() {
      try {
        return JSON.parse(stdout)
      } catch {
        throw new Error(`stdout is not JSON (exit ${code}):\n${stdout}\nstderr:\n${stderr}`)
      }
    },
  }
}

/** A fresh temporary directory (a project folder, a backup destination). */
export function tempDir(prefix = 'bastide-cli-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}
