import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser URL on the server tests create their databases on. */
    adminDbUrl: string
    dbKind: 'external' | 'embedded'
  }
}

/**
 * One PostgreSQL for the run: DATABASE_URL when set (CI points it at the machine's server), otherwise
 * embedded PostgreSQL in a temporary directory. Each test file creates its own database on it.
 */
export default async function setup(project: TestProject) {
  const external = process.env.DATABASE_URL
  if (external) {
    project.provide('adminDbUrl', external)
    project.provide('dbKind', 'external')
    console.log('[tests] PostgreSQL: DATABASE_URL')
    return
  }
  // /tmp is reachable by the postgres OS user when tests run as root.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-test-pg-'))
  fs.chmodSync(dir, 0o755)
  const pg = await startEmbeddedPostgres({ dataDir: dir, port: 0 })
  project.provide('adminDbUrl', pg.url)
  project.provide('dbKind', 'embedded')
  console.log(`[tests] PostgreSQL: embedded on port ${pg.port}`)
  return async () => {
    await pg.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
