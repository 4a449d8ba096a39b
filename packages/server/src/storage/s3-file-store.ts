import { pipeline } from 'node:stream/promises'
import { Client, CopyDestinationOptions, CopySourceOptions } from 'minio'
import {
  type BlobInfo,
  BlobNotFoundError,
  type FileStore,
  hashingLimiter,
  validateBlobKey,
  validateBlobPrefix,
  type WriteResult,
} from './file-store.ts'

export interface S3FileStoreOptions {
  /** `http://127.0.0.1:9000`, `https://s3.fr-par.scw.cloud`… */
  readonly endpoint: string
  readonly region: string
  readonly bucket: string
  readonly accessKey: string
  readonly secretKey: string
  /** `host/bucket/key` rather than `bucket.host/key`; MinIO and most self-hosted servers want it. */
  readonly pathStyle: boolean
  /** Prepended to every blob key, so that Bastide can share a bucket; `list` strips it again. */
  readonly prefix?: string
  /** Bytes buffered per multipart part (S3 allows 5 MiB to 5 GiB, at most 10,000 parts). */
  readonly partSize?: number
}

const MiB = 1024 * 1024
const MAX_PARTS = 10_000
const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject'])

/**
 * Blobs as objects of one S3 bucket, through the minio client. Creates the bucket when missing.
 *
 * `write` drives the multipart upload itself instead of handing minio a stream: minio's `putObject` with an
 * unknown size buffers parts of ~528 MiB, and hangs when its source stream errors (it pipes without
 * forwarding errors), so a size limit or an abort could not stop it. Here at most one part is in memory, a
 * body smaller than one part becomes a single PUT, and a failed upload is aborted rather than completed,
 * so S3 never makes partial bytes visible.
 */
export async function createS3FileStore(options: S3FileStoreOptions): Promise<FileStore> {
  const url = new URL(options.endpoint)
  const useSSL = url.protocol === 'https:'
  const client = new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    region: options.region,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    pathStyle: options.pathStyle,
  })
  const { bucket } = options
  const prefix = options.prefix ? options.prefix.replace(/\/*$/, '/') : ''
  if (prefix) validateBlobPrefix(prefix)
  const basePartSize = options.partSize ?? 8 * MiB

  function objectName(key: string): string {
    validateBlobKey(key)
    return prefix + key
  }

  await ensureBucket(client, bucket, options.region)

  async function upload(
    name: string,
    body: Parameters<FileStore['write']>[1],
    opts: Parameters<FileStore['write']>[2] = {},
  ): Promise<WriteResult> {
    const meter = hashingLimiter(opts.maxBytes)
    // Large enough for maxBytes to fit in S3's 10,000 parts.
    const partSize = Math.max(basePartSize, opts.maxBytes ? Math.ceil(opts.maxBytes / MAX_PARTS) : 0)
    const headers = opts.contentType ? { 'Content-Type': opts.contentType } : {}
    let uploadId: string | undefined
    const parts: { part: number; etag: string }[] = []
    let pending: Buffer[] = []
    let pendingBytes = 0
    let sink: Promise<void> | undefined

    async function flushPart(): Promise<void> {
      const payload = Buffer.concat(pending, pendingBytes)
      pending = []
      pendingBytes = 0
      uploadId ??= await client.initiateNewMultipartUpload(bucket, name, headers)
      const part = parts.length + 1
      if (part > MAX_PARTS) throw new Error(`Upload exceeds ${MAX_PARTS} parts of ${partSize} bytes`)
      const { etag } = await client.uploadPart(
        { bucketName: bucket, objectName: name, uploadID: uploadId, partNumber: part, headers: {} },
        payload,
      )
      parts.push({ part, etag })
    }

    try {
      opts.signal?.throwIfAborted()
      await pipeline(
        body,
        meter,
        (source: AsyncIterable<Buffer>) => {
          sink = (async () => {
            for await (const chunk of source) {
              pending.push(chunk)
              pendingBytes += chunk.length
              if (pendingBytes >= partSize) await flushPart()
            }
          })()
          return sink
        },
        opts.signal ? { signal: opts.signal } : {},
      )
      // Completing only after the pipeline resolved: an error or abort can never publish a truncated blob.
      if (uploadId === undefined) {
        await client.putObject(bucket, name, Buffer.concat(pending, pendingBytes), pendingBytes, headers)
      } else {
        if (pendingBytes > 0) await flushPart()
        await client.completeMultipartUpload(bucket, name, uploadId, parts)
      }
      return meter.result()
    } catch (e) {
      // Best effort: servers without abort support (s3rver) and lifecycle rules clean up the parts later.
      // A part may still be in flight (an abort rejects the pipeline at once): let it settle first, so the
      // upload it may have started is known and aborted too.
      await sink?.catch(() => {})
      if (uploadId !== undefined) await client.abortMultipartUpload(bucket, name, uploadId).catch(() => {})
      throw e
    }
  }

  async function* listAll(listPrefix: string): AsyncGenerator<BlobInfo> {
    let token = ''
    do {
      // One page (≤ 1,000 keys) in memory at a time, fetched only when the consumer asks for more.
      const page = await client.listObjectsV2Query(bucket, prefix + listPrefix, token, '', 1000, '')
      for (const o of page.objects) {
        if (o.name === undefined) continue
        yield { key: o.name.slice(prefix.length), size: o.size, modified: o.lastModified }
      }
      token = page.isTruncated ? page.nextContinuationToken : ''
    } while (token)
  }

  return {
    kind: 's3',

    async write(key, body, opts) {
      return upload(objectName(key), body, opts)
    },

    async read(key, range) {
      const name = objectName(key)
      try {
        if (!range) return await client.getObject(bucket, name)
        return await client.getPartialObject(bucket, name, range.start, range.end - range.start + 1)
      } catch (e) {
        if (isNotFound(e)) return undefined
        throw e
      }
    },

    async stat(key) {
      try {
        const s = await client.statObject(bucket, objectName(key))
        return { size: s.size, modified: s.lastModified }
      } catch (e) {
        if (isNotFound(e)) return undefined
        throw e
      }
    },

    async remove(key) {
      // S3 answers 204 for a missing key too.
      await client.removeObject(bucket, objectName(key))
    },

    async removeMany(keys) {
      if (keys.length === 0) return
      const results = await client.removeObjects(bucket, keys.map(objectName))
      const failed = results.filter((r) => r?.Error && !NOT_FOUND.has(r.Error.Code ?? ''))
      if (failed.length > 0)
        throw new Error(
          `Could not remove ${failed.length} blob(s): ${failed
            .slice(0, 5)
            .map((r) => `${r?.Error?.Key}: ${r?.Error?.Code}`)
            .join(', ')}`,
        )
    },

    async copy(from, to) {
      try {
        await client.copyObject(
          new CopySourceOptions({ Bucket: bucket, Object: objectName(from) }),
          new CopyDestinationOptions({ Bucket: bucket, Object: objectName(to) }),
        )
      } catch (e) {
        if (isNotFound(e)) throw new BlobNotFoundError(from)
        throw e
      }
    },

    list(listPrefix) {
      validateBlobPrefix(listPrefix)
      return listAll(listPrefix)
    },
  }
}

/**
 * Several nodes may start at once: losing the race to create the bucket is fine. A bucket Bastide creates
 * gets a lifecycle rule that drops the parts of multipart uploads abandoned for a day (a crash mid-upload);
 * an operator's existing bucket is left as it is (docs/storage.md says to add the rule).
 */
async function ensureBucket(client: Client, bucket: string, region: string): Promise<void> {
  if (await client.bucketExists(bucket)) return
  try {
    await client.makeBucket(bucket, region)
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw e
    return
  }
  await client
    .setBucketLifecycle(bucket, {
      Rule: [
        {
          ID: 'bastide-abort-incomplete-uploads',
          Status: 'Enabled',
          Filter: { Prefix: '' },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
      ],
    })
    // Not every S3-compatible server implements lifecycles (s3rver does not): the reconciler still works.
    .catch(() => {})
}

function isNotFound(e: unknown): boolean {
  return NOT_FOUND.has((e as { code?: string } | undefined)?.code ?? '')
}
