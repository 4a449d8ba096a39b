import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'

/** A stream read to its end: its size, its sha256, and its bytes to read again (then disposed of). */
export interface Spooled {
  readonly size: number
  readonly sha256: string
  open(): Buffer | Readable
  dispose(): Promise<void>
}

/**
 * Reads a stream to its end, hashing it: into memory up to `memoryBytes`, into a temporary file (mode 0600)
 * past that, so memory stays bounded whatever the size.
 */
export async function spool(body: Readable, memoryBytes: number): Promise<Spooled> {
  const hash = createHash('sha256')
  let size = 0
  let mem: Buffer[] = []
  let temp: { path: string; out: fs.WriteStream } | undefined
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk)
      size += chunk.length
      if (!temp && size > memoryBytes) {
        const p = path.join(os.tmpdir(), `bastide-backup-${randomBytes(6).toString('hex')}`)
        temp = { path: p, out: fs.createWriteStream(p, { mode: 0o600 }) }
        for (const m of mem) await write(temp.out, m)
        mem = []
      }
      if (temp) await write(temp.out, chunk)
      else mem.push(chunk)
    }
    if (temp)
      await new Promise<void>((res, rej) => temp!.out.end((err?: Error | null) => (err ? rej(err) : res())))
  } catch (err) {
    if (temp) await rm(temp.path, { force: true })
    throw err
  }
  const sha256 = hash.digest('hex')
  const t = temp
  return {
    size,
    sha256,
    open: () => (t ? fs.createReadStream(t.path) : Buffer.concat(mem, size)),
    dispose: async () => {
      if (t) await rm(t.path, { force: true })
    },
  }
}

function write(out: fs.WriteStream, chunk: Buffer): Promise<void> {
  return new Promise((res, rej) => out.write(chunk, (err) => (err ? rej(err) : res())))
}
