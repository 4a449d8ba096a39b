import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JobContext, Jobs } from '../src/core/jobs/types.ts'
import { defineModule } from '../src/modules/define-module.ts'
import { MODULES } from '../src/modules/index.ts'
import {
  ADMIN_KEY,
  createCollection,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from './support/harness.ts'

const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Runs test/fixtures/jobs-crash-writer.ts on `dbUrl`; resolves with the note's id once its write answered, then SIGKILLs it. */
function writeThenCrash(dbUrl: string, dataDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/jobs-crash-writer.ts'], {
      cwd: SERVER_DIR,
      env: {
        ...process.env,
        DATABASE_URL: dbUrl,
        BASTIDE_DATA_DIR: dataDir,
        BASTIDE_ADMIN_KEY: ADMIN_KEY,
        BASTIDE_SECRET: TEST_SECRET,
        BASTIDE_LOG_LEVEL: 'warn',
        BASTIDE_CONSOLE_DIR: 'off',
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      const m = /committed (\d+) (\S+)\n/.exec(out)
      if (!m) return
      // Killed at once: no goodbye, no after-commit hook, no worker (they were off in that process anyway).
      child.kill('SIGKILL')
      child.once('exit', () =>
        m[1] === '201' ? resolve(m[2]!) : reject(new Error(`the write answered ${m[1]}: ${out}`)),
      )
    })
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`the writer exited (${code}) before writing: ${out}`))
    })
  })
}

describe('durable record events across a crash', () => {
  let s: TestServer
  const svc: { jobs?: Jobs } = {}

  beforeAll(async () => {
    s = await startTestServer({
      modules: [
        ...MODULES,
        defineModule({
          id: 'jobs-crash-probe',
          start({ use }) {
            svc.jobs = use('jobs')
            return {}
          },
        }),
      ],
    })
    await createCollection(s, { name: 'notes', fields: [{ name: 'body', type: 'text' }] })
  })
  afterAll(async () => {
    await s?.close()
  })

  it('delivers a change committed by a node killed before any worker ran, from another node', async () => {
    const id = await writeThenCrash(s.dbUrl, s.config.dataDir)
    // The writer is gone; its job is in the queue, committed with the record.
    const waiting = await sql<{
      state: string
    }>`SELECT state::text FROM pgboss.job WHERE name = 'crash-feed'`.execute(s.bastide.database.db)
    expect(waiting.rows).toEqual([{ state: 'created' }])
    const got: JobContext<any>[] = []
    await svc.jobs!.work<any>('crash-feed', {}, async (job) => {
      got.push(job)
    })
    await expect.poll(() => got.length).toBe(1)
    expect(got[0]!.data).toMatchObject({
      action: 'create',
      collection: 'notes',
      record: { id, body: 'written just before the crash' },
    })
    expect(got[0]!.attempt).toBe(1)
  })
})
