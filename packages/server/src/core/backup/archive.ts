import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import tar from 'tar-stream'

/** Writes a tar (gzipped or not) entry by entry, with backpressure, under a temporary name until finished. */
export interface ArchiveWriter {
  /** Resolves once the entry is in the archive stream (so memory stays bounded by one entry's buffer). */
  add(name: string, size: number, body: Buffer | Readable): Promise<void>
  /** Ends the archive, flushes it to disk and renames it to its final name. */
  finish(): Promise<void>
  /** Drops the partial file. */
  abort(): Promise<void>
}

/**
 * `file` appears only once complete: the archive is written to `<file>.partial-<random>` in the same folder
 * and renamed after an fsync, so a crash never leaves a half backup under the final name.
 */
export function openArchiveWriter(file: string, opts: { gzip: boolean }): ArchiveWriter {
  const temp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.partial-${randomBytes(4).toString('hex')}`,
  )
  const pack = tar.pack()
  const stages: NodeJS.ReadWriteStream[] = opts.gzip ? [createGzip({ level: 6 })] : []
  const done = pipeline([pack as unknown as Readable, ...stages, fs.createWriteStream(temp, { mode: 0o600 })])
  // A failure is reported by add/finish; until then, keep it from being an unhandled rejection.
  done.catch(() => {})
  const mtime = new Date()
  return {
    add(name, size, body) {
      return new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name, size, mtime }, (err) => (err ? reject(err) : resolve()))
        if (Buffer.isBuffer(body)) {
          sink.write(body)
          sink.end()
        } else {
          body.on('error', (err) => {
            sink.destroy(err)
            reject(err)
          })
          body.pipe(sink as unknown as NodeJS.WritableStream)
        }
      }).then(
        () => undefined,
        async (err) => {
          await done.catch(() => {})
          throw err
        },
      )
    },
    async finish() {
      pack.finalize()
      await done
      const fh = await open(temp, 'r')
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(temp, file)
    },
    async abort() {
      pack.destroy()
      await done.catch(() => {})
      await rm(temp, { force: true })
    },
  }
}

export interface ArchiveEntry {
  readonly name: string
  readonly size: number
  /** Must be consumed (or resumed) before the next entry arrives. */
  readonly body: Readable
}

/** The entries of a backup archive, in order; gzip is recognized by its magic bytes, whatever the name. */
export async function* readArchive(
  file: string,
  onBytes?: (read: number, total: number) => void,
): AsyncGenerator<ArchiveEntry> {
  const head = Buffer.alloc(2)
  const fh = await open(file, 'r')
  try {
    await fh.read(head, 0, 2, 0)
  } finally {
    await fh.close()
  }
  const gzipped = head[0] === 0x1f && head[1] === 0x8b
  const extract = tar.extract()
  const source: Readable = fs.createReadStream(file)
  if (onBytes) {
    const { size } = fs.statSync(file)
    let read = 0
    source.on('data', (chunk) => onBytes((read += chunk.length), size))
  }
  const stages: NodeJS.ReadWriteStream[] = gzipped ? [createGunzip()] : []
  const fed = pipeline([source, ...stages, extract as unknown as NodeJS.WritableStream])
  fed.catch(() => {})
  try {
    for await (const entry of extract as unknown as AsyncIterable<Readable & { header: tar.Headers }>) {
      yield { name: entry.header.name, size: entry.header.size ?? 0, body: entry }
      // Whatever the caller left unread is skipped.
      entry.resume()
    }
    await fed
  } finally {
    source.destroy()
  }
}

/** A Readable of one buffer (for entries written from memory). */
export const bufferStream = (b: Buffer) => Readable.from([b])
