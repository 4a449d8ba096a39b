/**
 * What every benchmark needs around its measurements: children that never outlive it, and clean-up (children,
 * databases, temp dirs) on success, failure and Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Clean-up steps, run newest first. */
export const cleanups: (() => Promise<void> | void)[] = []
const children = new Set<ChildProcess>()
let queue: Promise<void> = Promise.resolve()
let cleaning: Promise<void> | undefined

/**
 * Runs the clean-ups registered after `mark` (newest first), or all of them; one run at a time, so that Ctrl-C
 * during a setup's own clean-up does not remove a directory a child still writes to.
 */
export function runCleanups(mark = 0): Promise<void> {
  queue = queue.then(async () => {
    while (cleanups.length > mark) {
      const fn = cleanups.pop()!
      try {
        await fn()
      } catch (err) {
        console.error(`cleanup: ${err instanceof Error ? err.message : err}`)
      }
    }
  })
  return queue
}

/** Every clean-up, once. */
export function cleanup(): Promise<void> {
  cleaning ??= runCleanups()
  return cleaning
}

/** Ctrl-C and SIGTERM clean up first; at exit, children still running are killed. */
export function installCleanupHandlers(onInterrupt?: () => void): void {
  process.on('SIGINT', () => {
    onInterrupt?.()
    console.error('\ninterrupted: cleaning up')
    void cleanup().finally(() => process.exit(130))
  })
  process.on('SIGTERM', () => void cleanup().finally(() => process.exit(143)))
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  })
}

/** Keeps `child` from outliving this process; `stopOnCleanup` also stops it (SIGTERM) in the clean-up. */
export function trackChild(child: ChildProcess, stopOnCleanup = true): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  if (stopOnCleanup) cleanups.push(() => stopChild(child))
  return child
}

/** SIGTERM, then SIGKILL after 15 s; resolves once it has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

/** A temp directory removed in the clean-up. */
export function tempDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bastide-bench-${name}-`))
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}
