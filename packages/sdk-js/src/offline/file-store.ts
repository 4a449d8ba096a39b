/// <reference types="node" />
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
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
 * memory is held only while loading or compacting. Files attached offline wait in the folder `path.files`, one
 * file each (written whole through a temporary file, fsync and rename). One process at a time per path.
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
    files: folderFiles(`${path}.files`),
  }
}

/** Queued files' bytes, a file each in `dir`, named by id (ids are the SDK's uuids: nothing to escape). */
function folderFiles(dir: string): NonNullable<OfflineStore['files']> {
  const at = (id: string) => {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new TypeError(`fileStore: bad file id ${JSON.stringify(id)}`)
    return join(dir, id)
  }
  return {
    async put(id, data) {
      const file = at(id)
      await mkdir(dir, { recursive: true })
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(await data.arrayBuffer())
      const tmp = `${file}.tmp`
      const fh = await open(tmp, 'w')
      try {
        await fh.writeFile(bytes)
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, file)
      await syncDir(dir)
    },
    async get(id) {
      const buf = await readFile(at(id)).catch(ignoreMissing(undefined))
      return buf && new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    },
    async delete(ids) {
      await Promise.all(ids.map((id) => rm(at(id), { force: true })))
    },
    async list() {
      const names = await readdir(dir).catch(ignoreMissing([] as string[]))
      // A temporary file is a put that did not finish: it is no file yet, and goes with the stray ones.
      await Promise.all(names.filter((n) => n.endsWith('.tmp')).map((n) => rm(join(dir, n), { force: true })))
      return names.filter((n) => !n.endsWith('.tmp'))
    },
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
  await rm(`${path}.files`, { recursive: true, force: true })
}
