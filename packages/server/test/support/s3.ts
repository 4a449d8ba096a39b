import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'

interface S3rverInstance {
  run(): Promise<AddressInfo>
  close(): Promise<void>
  httpServer?: Server
}

// s3rver is CommonJS without type declarations.
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: {
  address: string
  port: number
  directory: string
  silent: boolean
}) => S3rverInstance

export interface TestS3 {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string
  readonly region: string
  readonly accessKey: string
  readonly secretKey: string
  close(): Promise<void>
}

/** An in-process S3 (s3rver) on a free port with its own temporary directory; buckets are the caller's. */
export async function startS3rver(): Promise<TestS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-test-s3-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true })
  const { port } = await server.run()
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    // s3rver's built-in account.
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    async close() {
      // The client keeps connections alive; without this, close waits for them to time out.
      server.httpServer?.closeAllConnections()
      await server.close()
      fs.rmSync(directory, { recursive: true, force: true })
    },
  }
}

/** The environment that points a Bastide server at `s3`, in a bucket of its own. */
export function bastideS3Env(s3: TestS3): Record<string, string> {
  return {
    BASTIDE_S3_ENDPOINT: s3.endpoint,
    BASTIDE_S3_REGION: s3.region,
    BASTIDE_S3_BUCKET: `bst-${randomBytes(4).toString('hex')}`,
    BASTIDE_S3_ACCESS_KEY: s3.accessKey,
    BASTIDE_S3_SECRET_KEY: s3.secretKey,
  }
}
