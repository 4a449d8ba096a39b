import { createHash } from 'node:crypto'
import http from 'node:http'
import pg from 'pg'
import { BACKUP_RUN_LOCK_CLASS } from '../../src/core/backup/backup-lock.ts'

/** tus 1.0 spoken with plain fetch against any node (or the proxy): what a client library does, in the open. */
export const TUS = { 'tus-resumable': '1.0.0' } as const
const OCTETS = 'application/offset+octet-stream'

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Creates an upload of `length` bytes into `bucket`/`key` through `base`; returns its path (/api/storage/uploads/…). */
export async function createUpload(
  base: string,
  who: Record<string, string>,
  length: number,
  meta: { bucket: string; key: string },
): Promise<string> {
  const r = await fetch(`${base}/api/storage/uploads`, {
    method: 'POST',
    headers: {
      ...TUS,
      ...who,
      'upload-length': String(length),
      'upload-metadata': Object.entries(meta)
        .map(([k, v]) => `${k} ${Buffer.from(v, 'utf8').toString('base64')}`)
        .join(','),
    },
  })
  if (r.status !== 201) throw new Error(`tus create: ${r.status} ${await r.text()}`)
  return new URL(r.headers.get('location')!).pathname
}

export const headUpload = (url: string, who: Record<string, string>, extra: Record<string, string> = {}) =>
  fetch(url, { method: 'HEAD', headers: { ...TUS, ...who, ...extra } })

export const patchUpload = (
  url: string,
  who: Record<string, string>,
  offset: number,
  body: Uint8Array,
  extra: Record<string, string> = {},
) =>
  fetch(url, {
    method: 'PATCH',
    headers: { ...TUS, ...who, ...extra, 'content-type': OCTETS, 'upload-offset': String(offset) },
    body,
  })

/** The object a final PATCH committed (its `Bastide-Object` header). */
export const objectOf = (r: Response) => JSON.parse(decodeURIComponent(r.headers.get('bastide-object')!))

/** A PATCH that sent part of its body and then stalls, its connection still open: a client gone quiet. */
export interface StalledPatch {
  /** Whether the server has ended it (answered, or closed the connection). */
  readonly ended: () => boolean
  /** The status the server answered with, if it did. */
  readonly status: () => number | undefined
  /** Resolves once the server ended it. */
  readonly done: Promise<void>
  /** Drops the connection from the client's side. */
  destroy(): void
}

/**
 * Starts a PATCH of `bytes` at offset 0 declaring their full length, writes the first `sent` of them and
 * stops there without ending the request.
 */
export async function stalledPatch(
  url: string,
  who: Record<string, string>,
  bytes: Uint8Array,
  sent: number,
  extra: Record<string, string> = {},
): Promise<StalledPatch> {
  let ended = false
  let status: number | undefined
  let resolveDone: () => void = () => {}
  const done = new Promise<void>((r) => {
    resolveDone = r
  })
  const finish = () => {
    ended = true
    resolveDone()
  }
  const req = http.request(url, {
    method: 'PATCH',
    agent: false,
    headers: {
      ...TUS,
      ...who,
      ...extra,
      'content-type': OCTETS,
      'upload-offset': '0',
      'content-length': String(bytes.length),
    },
  })
  req.on('response', (res) => {
    status = res.statusCode
    res.resume()
    res.on('end', finish)
    res.on('error', finish)
  })
  req.on('error', finish)
  req.on('close', finish)
  await new Promise<void>((resolve) => req.write(bytes.subarray(0, sent), () => resolve()))
  return { ended: () => ended, status: () => status, done, destroy: () => req.destroy() }
}

/** How many upload locks are held in the database at `dbUrl` right now, by any node. */
export async function heldUploadLocks(dbUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  try {
    // Upload locks are the two-int4 advisory locks (objsubid 2) that are not backup runs' (whose first key is
    // their class; an upload's is half of a hash).
    const r = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid <> $1::int::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [BACKUP_RUN_LOCK_CLASS],
    )
    return r.rows[0]?.n ?? 0
  } finally {
    await c.end()
  }
}
