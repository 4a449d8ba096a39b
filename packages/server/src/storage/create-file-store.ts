import path from 'node:path'
import type { Config } from '../config/load-config.ts'
import type { FileStore } from './file-store.ts'
import { createLocalFileStore } from './local-file-store.ts'
import { createS3FileStore } from './s3-file-store.ts'

/** S3 when `BASTIDE_S3_*` is configured, otherwise the local disk under `dataDir/storage`. */
export async function createFileStore(config: Pick<Config, 'dataDir' | 's3'>): Promise<FileStore> {
  if (config.s3) return createS3FileStore(config.s3)
  return createLocalFileStore({ root: path.join(config.dataDir, 'storage') })
}
