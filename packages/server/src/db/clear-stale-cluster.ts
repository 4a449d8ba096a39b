import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

/** How long an orphaned cluster may take to stop before a start gives up on it. */
const ORPHAN_STOP_MS = 60_000

/**
 * Clears the way for a start. A postmaster.pid whose process is gone (the machine or PostgreSQL crashed) would
 * stop PostgreSQL from starting: it is removed. A cluster still running on this directory whose server is gone
 * (killed with SIGKILL, its terminal closed) is an orphan: it is stopped cleanly. One whose server still runs
 * is an error — two servers never share a cluster.
 */
export async function clearStaleCluster(
  databaseDir: string,
  ownerFile: string,
  log: (m: string) => void,
): Promise<void> {
  const pidFile = path.join(databaseDir, 'postmaster.pid')
  const pid = readPid(pidFile)
  if (pid === undefined) return
  const running = () =>
    new Error(
      `PostgreSQL (pid ${pid}) is already running on ${databaseDir}; stop the other Bastide server first.`,
    )
  if (!isAlive(pid)) {
    fs.rmSync(pidFile, { force: true })
    return
  }
  const command = commandLine(pid)
  // Unknown (no /proc, no ps): leave it to the user rather than signal a process we cannot identify.
  if (command === undefined) throw running()
  if (!isPostmasterOf(command, databaseDir)) {
    // The pid was reused by an unrelated process after PostgreSQL died (a container restarted, pids restart).
    fs.rmSync(pidFile, { force: true })
    return
  }
  const owner = readPid(ownerFile)
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) throw running()
  log(`stopping PostgreSQL (pid ${pid}) left running on ${databaseDir} by a server that is gone`)
  process.kill(pid, 'SIGINT')
  const deadline = Date.now() + ORPHAN_STOP_MS
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`PostgreSQL (pid ${pid}) on ${databaseDir} did not stop.`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function readPid(file: string): number | undefined {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const pid = Number(text.split('\n')[0])
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/** EPERM: the process exists but belongs to another user (the `postgres` user, seen by a non-root server). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/** A process's arguments: /proc on Linux (present in slim images without ps), else ps (macOS). */
function commandLine(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {}
  try {
    const out = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).trim()
    return out ? out.split(/\s+/) : undefined
  } catch {
    return undefined
  }
}

function isPostmasterOf(command: string[], databaseDir: string): boolean {
  const at = command.indexOf('-D')
  return (
    path.basename(command[0] ?? '') === 'postgres' &&
    at >= 0 &&
    path.resolve(command[at + 1] ?? '') === path.resolve(databaseDir)
  )
}
