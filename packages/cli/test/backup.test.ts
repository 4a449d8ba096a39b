import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import {
  ADMIN_KEY,
  createTestDatabase,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import { startS3rver, type TestS3 } from '@bastide/server/test/support/s3.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './support/run-cli.ts'

/** `bastide backup create|verify|restore` against real instances (the engine is tested in the server). */
describe('bastide backup', () => {
  let s: TestServer
  const dir = tempDir('bastide-cli-backup-')
  const archive = path.join(dir, 'nightly.tar.gz')
  const drops: (() => Promise<void>)[] = []

  beforeAll(async () => {
    s = await startTestServer()
    expect(
      (await s.api('POST', '/api/collections', { name: 'notes', fields: [{ name: 'body', type: 'text' }] }))
        .status,
    ).toBe(201)
    for (const body of ['one', 'two', 'three'])
      expect((await s.api('POST', '/api/collections/notes/records', { body })).status).toBe(201)
    expect((await s.api('POST', '/api/storage/buckets', { name: 'docs' })).status).toBe(201)
    expect((await s.api('PUT', '/api/storage/buckets/docs/objects/a.txt', 'hello backup')).status).toBe(201)
  })
  afterAll(async () => {
    for (const d of drops) await d()
    await s?.close()
  })

  const envOf = (dbUrl: string, dataDir: string) => ({
    DATABASE_URL: dbUrl,
    BASTIDE_DATA_DIR: dataDir,
    BASTIDE_SECRET: TEST_SECRET,
    BASTIDE_LOG_LEVEL: 'silent',
  })

  it('creates a gzipped archive and verifies it', async () => {
    const run = await runCli(['backup', 'create', '--out', archive, '--json'], {
      env: envOf(s.dbUrl, s.config.dataDir),
    })
    expect(run.code, run.stderr).toBe(0)
    const out = run.json()
    expect(out.file).toBe(archive)
    expect(out.totals.files).toBe(1)
    expect((await readFile(archive)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
    const ok = await runCli(['backup', 'verify', archive])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain('every checksum matches')
    // Without the secret the manifest itself could be anyone's: said, not hidden.
    expect(ok.stderr).toContain('The manifest is unauthenticated')
  })

  it('verify authenticates the manifest with the source’s secret (--secret-file or BASTIDE_SECRET)', async () => {
    const secretFile = path.join(dir, 'secret')
    await writeFile(secretFile, `${TEST_SECRET}\n`, { mode: 0o600 })
    const ok = await runCli(['backup', 'verify', archive, '--secret-file', secretFile, '--json'])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.json()).toMatchObject({ ok: true, authenticated: true })
    const byEnv = await runCli(['backup', 'verify', archive], { env: { BASTIDE_SECRET: TEST_SECRET } })
    expect(byEnv.code, byEnv.stderr).toBe(0)
    expect(byEnv.stdout).toContain('manifest authenticated')
    const other = await runCli(['backup', 'verify', archive, '--json'], {
      env: { BASTIDE_SECRET: 'y'.repeat(40) },
    })
    expect(other.code).toBe(1)
    expect(other.json().error.details.problems).toEqual([
      expect.stringMatching(/HMAC does not match this BASTIDE_SECRET/),
    ])
  })

  it('verify exits 1 naming what does not match', async () => {
    const plain = path.join(dir, 'plain.tar')
    const made = await runCli(['backup', 'create', '-o', plain], { env: envOf(s.dbUrl, s.config.dataDir) })
    expect(made.code, made.stderr).toBe(0)
    const bytes = await readFile(plain)
    const at = bytes.indexOf(Buffer.from('hello backup'))
    bytes[at]! ^= 0x20
    await writeFile(plain, bytes)
    const bad = await runCli(['backup', 'verify', plain, '--json'])
    expect(bad.code).toBe(1)
    expect(bad.json().error.code).toBe('BACKUP_DAMAGED')
    expect(bad.json().error.details.problems).toEqual([expect.stringMatching(/^files\/.+: sha256 mismatch$/)])
  })

  it('restores into an empty instance, and refuses one that is not', async () => {
    const db = await createTestDatabase()
    drops.push(db.drop)
    const dataDir = tempDir('bastide-cli-restore-')
    const env = envOf(db.url, dataDir)
    const run = await runCli(['backup', 'restore', archive], { env })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/Restored .*: \d+ tables, \d+ rows, 1 files/)
    const again = await runCli(['backup', 'restore', archive], { env })
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('The target is not empty (it holds collections notes')
    const other = await runCli(['backup', 'restore', archive], {
      env: { ...env, DATABASE_URL: s.dbUrl, BASTIDE_SECRET: 'x'.repeat(40) },
    })
    expect(other.code).toBe(1)
    expect(other.stderr).toContain('another BASTIDE_SECRET')
  })

  it('says which file is missing, exit 1', async () => {
    const run = await runCli(['backup', 'verify', path.join(dir, 'nope.tar')])
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('nope.tar')
  })
})

describe('bastide backup through the API', () => {
  let s: TestServer
  const dir = tempDir('bastide-cli-backup-remote-')

  beforeAll(async () => {
    s = await startTestServer({ listen: true, env: { BASTIDE_BACKUP_TARGET: path.join(dir, 'kept') } })
    expect(
      (await s.api('POST', '/api/collections', { name: 'notes', fields: [{ name: 'body', type: 'text' }] }))
        .status,
    ).toBe(201)
  })
  afterAll(async () => {
    await s?.close()
  })

  it('create --remote saves the archive the server streams, verified', async () => {
    const file = path.join(dir, 'remote.tar.gz')
    const run = await runCli([
      'backup',
      'create',
      '--remote',
      '--out',
      file,
      '--json',
      '--url',
      s.bastide.url,
      '--key',
      ADMIN_KEY,
    ])
    expect(run.code, run.stderr).toBe(0)
    expect(run.json()).toMatchObject({ file, totals: { files: 0 } })
    const ok = await runCli(['backup', 'verify', file])
    expect(ok.code, ok.stderr).toBe(0)
  })

  it('list shows the runs; a key without admin rights gets exit 3', async () => {
    expect((await s.api('POST', '/api/admin/backups')).status).toBe(201)
    const run = await runCli(['backup', 'list', '--url', s.bastide.url, '--key', ADMIN_KEY])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('No scheduled backups')
    expect(run.stdout).toMatch(/request\s+done\s+bastide-backup-/)
    const key = (await s.api('POST', '/api/admin/keys', { name: 'ro', scopes: ['records:read'] })).body.key
    const refused = await runCli([
      'backup',
      'create',
      '--remote',
      '--out',
      path.join(dir, 'x.tar.gz'),
      '--url',
      s.bastide.url,
      '--key',
      key,
    ])
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain('403')
  })
})

describe('bastide backup to and from S3', () => {
  let s3: TestS3
  let s: TestServer
  beforeAll(async () => {
    s3 = await startS3rver()
    s = await startTestServer()
    expect((await s.api('POST', '/api/storage/buckets', { name: 'docs' })).status).toBe(201)
    expect((await s.api('PUT', '/api/storage/buckets/docs/objects/a.txt', 'to s3 and back')).status).toBe(201)
  })
  afterAll(async () => {
    await s?.close()
    await s3?.close()
  })

  it('create --out s3://… uploads with BASTIDE_BACKUP_S3_*, restore s3://… brings it back', async () => {
    const account = {
      BASTIDE_BACKUP_S3_ENDPOINT: s3.endpoint,
      BASTIDE_BACKUP_S3_REGION: s3.region,
      BASTIDE_BACKUP_S3_ACCESS_KEY: s3.accessKey,
      BASTIDE_BACKUP_S3_SECRET_KEY: s3.secretKey,
      BASTIDE_SECRET: TEST_SECRET,
      BASTIDE_LOG_LEVEL: 'silent',
    }
    const url = 's3://bst-cli-backups/prod/one.tar.gz'
    const made = await runCli(['backup', 'create', '--out', url, '--json'], {
      env: { ...account, DATABASE_URL: s.dbUrl, BASTIDE_DATA_DIR: s.config.dataDir },
    })
    expect(made.code, made.stderr).toBe(0)
    expect(made.json()).toMatchObject({ file: url, totals: { files: 1 } })
    const db = await createTestDatabase()
    try {
      const back = await runCli(['backup', 'restore', url], {
        env: { ...account, DATABASE_URL: db.url, BASTIDE_DATA_DIR: tempDir('bastide-cli-s3-restore-') },
      })
      expect(back.code, back.stderr).toBe(0)
      expect(back.stdout).toContain('1 files')
    } finally {
      await db.drop()
    }
  })
})
