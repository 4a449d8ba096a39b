/// <reference types="node" />
import { type FileHandle, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { applyBatch, emptySnapshot, fromSnapshot, type MutableSnapshot, toSnapshot } from './snapshot.ts'
import type { OfflineBatch, OfflineSnapshot, OfflineStore } from './types.ts'

export interface FileStoreOptions {
  /** Rewrite the snapshot once the log outgrows this many bytes and the snapshot itself (default 4 MiB). */
  readonly compactBytes?: number
}

/**
 * A store in two files for Node: `path` holds a JSON snapshot, `path.log` one line per batch written since.
 * A batch is one appended, fsynced line, so it is there entirely or not at all (a torn last line is ignored);
 * the snapshot is rewritten through a temporary file, fsync and rename, at open and when the log grows, so
 * memory is held only while loading or compacting. One process at a time per path.
 *
 * @example
 * import { fileStore } from '@bastide/sdk/offline-node'
 * const offline = client.offline({ store: fileStore('./data/bastide.json'), collections: ['todos'] })
 */
export function fileStore(path: string, opts: FileStoreOptions = {}): OfflineStore {
  const logPath = `${path}.log`
  const compactBytes = opts.compactBytes ?? 4 * 1024 * 1024
  let log: FileHandle | undefined
  let logSize = 0
  let snapshotSize = 0
  let broken: Error | undefined
  // Writes run one after another: an append must finish (or be undone) before the next one starts.
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn)
    queue = run.catch(() => {})
    return run
  }

  async function read(): Promise<MutableSnapshot> {
    const snap = await readJson(path)
    const s = snap ? fromSnapshot(snap as OfflineSnapshot) : emptySnapshot()
    const text = await readFile(logPath, 'utf8').catch(ignoreMissing(''))
    // Only lines that end in a newline were written whole; a line that does not parse was a failed write.
    const lines = text.split('\n')
    lines.pop()
    for (const line of lines) {
      if (line === '') continue
      let batch: OfflineBatch
      try {
        batch = JSON.parse(line) as OfflineBatch
      } catch {
        continue
      }
      applyBatch(s, batch)
    }
    return s
  }

  /** Writes `s` as the snapshot and empties the log. Replaying the old log over the new snapshot changes nothing. */
  async function compact(s: MutableSnapshot): Promise<void> {
    const text = JSON.stringify({ format: 1, ...toSnapshot(s) })
    const tmp = `${path}.tmp`
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
    await syncDir(dirname(path))
    snapshotSize = Buffer.byteLength(text)
    await log?.close()
    log = await open(logPath, 'w')
    await log.sync()
    logSize = 0
  }

  return {
    load: () =>
      serial(async () => {
        await mkdir(dirname(path), { recursive: true })
        const s = await read()
        // Compacting at open also drops a torn last line, so later appends never follow one.
        await compact(s)
        broken = undefined
        return toSnapshot(s)
      }),
    write: (batch) =>
      serial(async () => {
        if (broken) throw broken
        if (!log) throw new Error('fileStore: write before load')
        const line = `${JSON.stringify(batch)}\n`
        const bytes = Buffer.byteLength(line)
        try {
          await log.write(line, null, 'utf8')
          await log.datasync()
        } catch (e) {
          // Undo a partial append; if even that fails, refuse writes until the store is opened again.
          await log.truncate(logSize).catch((t: Error) => {
            broken = t
          })
          throw e
        }
        logSize += bytes
        if (logSize > Math.max(compactBytes, snapshotSize)) await compact(await read())
      }),
    close: () =>
      serial(async () => {
        await log?.close()
        log = undefined
      }),
  }
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8').catch(ignoreMissing(undefined))
  return text === undefined ? undefined : JSON.parse(text)
}

function ignoreMissing<T>(value: T): (e: NodeJS.ErrnoException) => T {
  return (e) => {
    if (e.code === 'ENOENT') return value
    throw e
  }
}

/** Makes a rename durable (POSIX); some platforms cannot open a directory, and there it is not needed. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined
  try {
    fh = await open(dir, 'r')
    await fh.sync()
  } catch {
  } finally {
    await fh?.close()
  }
}

/** Deletes a file store's files (tests, sign-out). */
export async function removeFileStore(path: string): Promise<void> {
  await Promise.all([path, `${path}.log`, `${path}.tmp`].map((f) => rm(f, { force: true })))
}
