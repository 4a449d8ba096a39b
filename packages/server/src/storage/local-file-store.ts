import { randomUUID } from 'node:crypto'
import { constants, type Dirent } from 'node:fs'
import { copyFile, mkdir, open, opendir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  type BlobInfo,
  BlobNotFoundError,
  type FileStore,
  hashingLimiter,
  validateBlobKey,
  validateBlobPrefix,
} from './file-store.ts'

/** Bytes per read of a blob: see read(). */
const READ_CHUNK = 256 * 1024

export interface LocalFileStore extends FileStore {
  readonly kind: 'local'
  sweepTemp(olderThanMs: number): Promise<number>
}

/**
 * Blobs as files under `root/blobs/<key>`. Writes go to `root/tmp` first (same filesystem, so the final
 * rename is atomic), are fsynced, then renamed into place and the directory fsynced: after a crash a blob is
 * either complete or absent, and stale temp files are left for `sweepTemp`.
 */
export function createLocalFileStore({ root }: { root: string }): LocalFileStore {
  const base = path.resolve(root)
  const blobs = path.join(base, 'blobs')
  const tmp = path.join(base, 'tmp')

  /** Defence in depth: validateBlobKey already refuses `..`, this refuses whatever it might have missed. */
  function blobPath(key: string): string {
    validateBlobKey(key)
    const p = path.resolve(blobs, key)
    if (!p.startsWith(blobs + path.sep)) throw new Error(`Blob key escapes the store: ${JSON.stringify(key)}`)
    return p
  }

  async function tempFile(): Promise<string> {
    await mkdir(tmp, { recursive: true })
    return path.join(tmp, `${randomUUID()}.part`)
  }

  /** fsync, then rename over `dest`, then fsync the directory so the rename itself survives a crash. */
  async function commit(temp: string, dest: string): Promise<void> {
    const fh = await open(temp, 'r+')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
    await mkdir(path.dirname(dest), { recursive: true })
    await rename(temp, dest)
    await syncDir(path.dirname(dest))
  }

  async function* walk(dir: string, prefix: string): AsyncGenerator<BlobInfo> {
    let handle: AsyncIterable<Dirent>
    try {
      handle = await opendir(dir)
    } catch (e) {
      if (isNotFound(e)) return
      throw e
    }
    for await (const entry of handle) {
      const full = path.join(dir, entry.name)
      const key = path.relative(blobs, full).split(path.sep).join('/')
      if (entry.isDirectory()) {
        // Only descend where keys can still start with the prefix (`a/b` matches `a/bc/…`, not `a/x/…`).
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk(full, prefix)
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const s = await stat(full).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)))
        if (s) yield { key, size: s.size, modified: s.mtime }
      }
    }
  }

  return {
    kind: 'local',

    async write(key, body, opts = {}) {
      const dest = blobPath(key)
      opts.signal?.throwIfAborted()
      const temp = await tempFile()
      const meter = hashingLimiter(opts.maxBytes)
      try {
        const fh = await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644)
        // autoClose stays on: the handle is closed however the pipeline ends; commit reopens it to fsync.
        await pipeline(body, meter, fh.createWriteStream(), opts.signal ? { signal: opts.signal } : {})
        await commit(temp, dest)
        return meter.result()
      } catch (e) {
        await rm(temp, { force: true })
        throw e
      }
    },

    async read(key, range) {
      const p = blobPath(key)
      // Open first so that a missing blob is an answer (undefined), not an error on the stream later.
      const fh = await open(p, 'r').catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)))
      if (!fh) return undefined
      // Read in 256 KiB chunks (Node's default is 64 KiB): a quarter of the reads and socket writes per object,
      // at most two chunks held per download in flight (one read ahead, one being written).
      return fh.createReadStream({
        highWaterMark: READ_CHUNK,
        ...(range ? { start: range.start, end: range.end } : {}),
      }) as unknown as Readable
    },

    async stat(key) {
      const s = await stat(blobPath(key)).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)))
      return s?.isFile() ? { size: s.size, modified: s.mtime } : undefined
    },

    async remove(key) {
      await rm(blobPath(key), { force: true })
    },

    async removeMany(keys) {
      const paths = keys.map(blobPath)
      // A few at a time: thousands of parallel unlinks would exhaust file descriptors for no gain.
      for (let i = 0; i < paths.length; i += 32)
        await Promise.all(paths.slice(i, i + 32).map((p) => rm(p, { force: true })))
    },

    async copy(from, to) {
      const src = blobPath(from)
      const dest = blobPath(to)
      const temp = await tempFile()
      try {
        await copyFile(src, temp, constants.COPYFILE_EXCL)
        await commit(temp, dest)
      } catch (e) {
        await rm(temp, { force: true })
        if (isNotFound(e)) throw new BlobNotFoundError(from)
        throw e
      }
    },

    list(prefix) {
      validateBlobPrefix(prefix)
      return walk(blobs, prefix)
    },

    async sweepTemp(olderThanMs) {
      const cutoff = Date.now() - olderThanMs
      let removed = 0
      let dir: AsyncIterable<Dirent>
      try {
        dir = await opendir(tmp)
      } catch (e) {
        if (isNotFound(e)) return 0
        throw e
      }
      for await (const entry of dir) {
        const p = path.join(tmp, entry.name)
        const s = await stat(p).catch(() => undefined)
        if (s && s.mtimeMs < cutoff) {
          await rm(p, { force: true, recursive: true })
          removed++
        }
      }
      return removed
    },
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } catch (e) {
    // Some filesystems (and Windows) refuse fsync on a directory; the rename is still atomic there.
    if (!['EINVAL', 'EPERM', 'EISDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e
  } finally {
    await fh.close()
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}
