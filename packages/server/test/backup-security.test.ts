import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openArchiveWriter, readArchive } from '../src/core/backup/archive.ts'
import { createBackup } from '../src/core/backup/create-backup.ts'
import {
  type BackupManifest,
  instanceTag,
  MANIFEST_ENTRY,
  MANIFEST_MAC_ENTRY,
  manifestMac,
} from '../src/core/backup/manifest.ts'
import { restoreBackup } from '../src/core/backup/restore-backup.ts'
import { verifyBackup } from '../src/core/backup/verify-backup.ts'
import { planCreate } from '../src/core/collections/ddl.ts'
import { targetConflict } from '../src/modules/backups/backup-target.ts'
import { MODULES } from '../src/modules/index.ts'
import { createLocalFileStore } from '../src/storage/local-file-store.ts'
import { signUp } from './support/auth.ts'
import { createTestDatabase, startTestServer, TEST_SECRET, type TestServer } from './support/harness.ts'
import { bastideS3Env, startS3rver } from './support/s3.ts'

/** tar-stream's header encoder (untyped), to write a header that claims more than follows it. */
const headers = createRequire(import.meta.url)('tar-stream/headers.js') as {
  encode(h: Record<string, unknown>): Buffer
}
const MIGRATIONS = MODULES.map((m) => ({ module: m.id, migrations: m.migrations ?? [] }))

/**
 * Writes a copy of `file` with its manifest edited, signed with `secret` (the attacker's guess) or, without
 * one, with the sha256 an earlier format used: what someone who can write archives but lacks the secret can do.
 */
async function craft(
  file: string,
  out: string,
  edit: (m: any) => void,
  secret: string | undefined,
  extra: readonly { name: string; body: Buffer }[] = [],
): Promise<void> {
  const w = openArchiveWriter(out, { gzip: false })
  let manifest: any
  for await (const e of readArchive(file)) {
    const parts: Buffer[] = []
    for await (const b of e.body as AsyncIterable<Buffer>) parts.push(b)
    const body = Buffer.concat(parts)
    if (e.name === MANIFEST_ENTRY) manifest = JSON.parse(body.toString('utf8'))
    else if (e.name !== MANIFEST_MAC_ENTRY) await w.add(e.name, body.length, body)
  }
  for (const e of extra) await w.add(e.name, e.body.length, e.body)
  edit(manifest)
  const text = Buffer.from(JSON.stringify(manifest))
  await w.add(MANIFEST_ENTRY, text.length, text)
  const mac = Buffer.from(
    secret ? manifestMac(secret, text) : createHash('sha256').update(text).digest('hex'),
  )
  await w.add(MANIFEST_MAC_ENTRY, mac.length, mac)
  await w.finish()
}

describe('backup security', () => {
  let s: TestServer
  let dir: string
  let archive: string
  let manifest: BackupManifest
  let sessionToken: string
  let target: { url: string; drop(): Promise<void> }
  let client: pg.Client

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bastide-backup-sec-'))
    s = await startTestServer()
    expect(
      (
        await s.api('POST', '/api/collections', {
          name: 'notes',
          fields: [{ name: 'body', type: 'text', options: { min: 1 } }],
        })
      ).status,
    ).toBe(201)
    const alice = await signUp(s, 'alice-sec@example.com')
    sessionToken = alice.token
    // As an OAuth sign-in would leave them: the provider's tokens on the account row.
    const db = new pg.Client({ connectionString: s.dbUrl })
    await db.connect()
    try {
      await db.query(
        `UPDATE bastide.auth_accounts SET "accessToken" = 'oauth-access-secret',
           "refreshToken" = 'oauth-refresh-secret', "idToken" = 'oauth-id-secret' WHERE "userId" = $1`,
        [alice.id],
      )
    } finally {
      await db.end()
    }
    archive = path.join(dir, 'src.tar')
    manifest = await createBackup({
      databaseUrl: s.dbUrl,
      store: s.bastide.storage.store,
      secret: TEST_SECRET,
      file: archive,
    })
    target = await createTestDatabase()
    client = new pg.Client({ connectionString: target.url })
    await client.connect()
    // Tables of the target's role outside Bastide's schemas: a restore must never touch them.
    await client.query(
      'CREATE TABLE public.victim (x int); INSERT INTO public.victim VALUES (1); CREATE SEQUENCE public.victim_seq',
    )
  })

  afterAll(async () => {
    await client?.end()
    await target?.drop()
    await s?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const restore = async (file: string) =>
    restoreBackup({
      file,
      databaseUrl: target.url,
      store: await createLocalFileStore({ root: path.join(dir, 'target-storage') }),
      secret: TEST_SECRET,
      migrations: MIGRATIONS,
    })

  it('authenticates the manifest with the secret; without it, verify says it is unauthenticated', async () => {
    const plain = await verifyBackup(archive)
    expect(plain).toMatchObject({ ok: true, authenticated: false })
    expect(await verifyBackup(archive, { secret: TEST_SECRET })).toMatchObject({
      ok: true,
      authenticated: true,
    })
    const other = await verifyBackup(archive, { secret: 'another-secret-0123456789-abcdefghijklmnop' })
    expect(other.ok).toBe(false)
    expect(other.problems.join()).toMatch(/HMAC does not match/)
    // No constant HMAC under the secret is written anywhere in the manifest.
    expect(JSON.stringify(manifest)).not.toMatch(/secretCheck/)
  })

  it('refuses an archive whose manifest was rewritten without the secret', async () => {
    const forged = path.join(dir, 'forged.tar')
    await craft(archive, forged, (m) => m.tables.push({ ...m.tables[0], name: 'other' }), undefined)
    // Entries are consistent with the forged manifest; only the HMAC can tell.
    expect(await verifyBackup(forged)).toMatchObject({ ok: true, authenticated: false })
    expect((await verifyBackup(forged, { secret: TEST_SECRET })).ok).toBe(false)
    await expect(restore(forged)).rejects.toThrow(/another BASTIDE_SECRET \(or its manifest was altered\)/)
  })

  it('refuses a catalog the server would not accept: a field name crafted for SQL injection', async () => {
    const evil = path.join(dir, 'evil-field.tar')
    await craft(
      archive,
      evil,
      (m) =>
        m.collections.push({
          id: randomUUID(),
          name: 'evil',
          fields: [
            {
              id: 'abcdefghij',
              name: 'n") IS NULL OR true); CREATE TABLE public.pwned(x int); --',
              type: 'text',
              required: false,
              unique: false,
              hidden: false,
              options: { min: 1 },
            },
          ],
          indexes: [],
          rules: {},
          system: false,
        }),
      TEST_SECRET,
    )
    await expect(restore(evil)).rejects.toThrow(/catalog is refused: collection evil is not valid/)
    const r = await client.query(`SELECT to_regclass('public.pwned') IS NULL AS absent`)
    expect(r.rows[0].absent).toBe(true)
  })

  it('never empties, loads or sets a table or sequence the target does not back up itself', async () => {
    const table = path.join(dir, 'victim-table.tar')
    await craft(
      archive,
      table,
      (m) =>
        m.tables.push({
          schema: 'public',
          name: 'victim',
          columns: ['x'],
          rows: 0,
          bytes: 0,
          sha256: createHash('sha256').digest('hex'),
          entries: [],
        }),
      TEST_SECRET,
    )
    await expect(restore(table)).rejects.toThrow(/public\.victim of the backup has no counterpart here/)
    expect((await client.query('SELECT count(*)::int AS n FROM public.victim')).rows[0].n).toBe(1)

    const seq = path.join(dir, 'victim-seq.tar')
    await craft(
      archive,
      seq,
      (m) => m.sequences.push({ schema: 'public', name: 'victim_seq', value: '999' }),
      TEST_SECRET,
    )
    await expect(restore(seq)).rejects.toThrow(
      /Sequence public\.victim_seq of the backup does not exist here/,
    )
    expect(
      (await client.query('SELECT last_value::int AS v, is_called FROM public.victim_seq')).rows[0],
    ).toEqual({ v: 1, is_called: false })
  })

  it('writes no file into storage that no restored object names', async () => {
    const planted = path.join(dir, 'planted.tar')
    const body = Buffer.from('planted bytes')
    const sha256 = createHash('sha256').update(body).digest('hex')
    await craft(
      archive,
      planted,
      (m) =>
        m.files.push({
          key: 'elsewhere/planted',
          size: body.length,
          sha256,
          entry: 'files/elsewhere/planted',
        }),
      TEST_SECRET,
      [{ name: 'files/elsewhere/planted', body }],
    )
    await expect(restore(planted)).rejects.toThrow(/holds files no restored object names: elsewhere\/planted/)
    const store = await createLocalFileStore({ root: path.join(dir, 'target-storage') })
    expect(await store.stat('elsewhere/planted')).toBeUndefined()
  })

  it('refuses a manifest.json larger than 64 MiB before reading it', async () => {
    const big = path.join(dir, 'big-manifest.tar')
    // A tar header announcing 65 MiB of manifest, then a little of it: verify must stop at the header.
    const header = headers.encode({
      name: MANIFEST_ENTRY,
      size: 65 * 1024 * 1024,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(),
      type: 'file',
    })
    await writeFile(big, Buffer.concat([header, Buffer.alloc(4096, 0x20)]))
    const r = await verifyBackup(big)
    expect(r.ok).toBe(false)
    expect(r.problems[0]).toMatch(/manifest\.json: 68157440 bytes, more than a Bastide backup writes/)
  })

  it('holds no session tokens, one-time codes or OAuth tokens, and restores without them', async () => {
    const names = manifest.tables.map((t) => `${t.schema}.${t.name}`)
    for (const t of [
      'bastide.admin_sessions',
      'bastide.auth_sessions',
      'bastide.admin_verifications',
      'bastide.auth_verifications',
      'bastide.idempotency_keys',
    ])
      expect(names).not.toContain(t)
    const bytes = await readFile(archive)
    expect(bytes.includes(sessionToken)).toBe(false)
    for (const t of ['oauth-access-secret', 'oauth-refresh-secret', 'oauth-id-secret'])
      expect(bytes.includes(t)).toBe(false)
    // The password account itself comes along: users sign in again after a restore.
    expect(names).toContain('bastide.auth_accounts')
    const restored = await restore(archive)
    expect(restored.rows).toBe(manifest.totals.rows)
    const acc = await client.query(
      `SELECT "accessToken", "refreshToken", "idToken", password IS NOT NULL AS has_password
       FROM bastide.auth_accounts`,
    )
    expect(acc.rows).toEqual([{ accessToken: null, refreshToken: null, idToken: null, has_password: true }])
    expect((await client.query('SELECT count(*)::int AS n FROM bastide.auth_sessions')).rows[0].n).toBe(0)
    expect((await client.query('SELECT count(*)::int AS n FROM public.victim')).rows[0].n).toBe(1)
  })

  it('quotes field names in CHECK expressions as identifiers', () => {
    const stmts = planCreate({
      id: randomUUID(),
      name: 'q',
      fields: [
        {
          id: 'abcdefghij',
          name: 'a"b',
          type: 'text',
          required: false,
          unique: false,
          hidden: false,
          options: { min: 1 },
        },
      ],
      indexes: [],
      rules: {} as any,
      created: '',
      updated: '',
    })
    const text = stmts.map((x) => x.compile(s.bastide.database.db).sql).join(';\n')
    expect(text).toContain('char_length("a""b") >= 1')
  })
})

describe('backup targets next to storage', () => {
  const local = { s3: undefined, dataDir: '/srv/bastide' }

  it('refuses a folder inside the storage folder, and accepts one beside it', () => {
    expect(targetConflict('/srv/bastide/storage/backups', undefined, local)).toMatch(
      /BASTIDE_BACKUP_TARGET.*inside the storage folder of BASTIDE_DATA_DIR/,
    )
    expect(targetConflict('file:///srv/bastide/storage', undefined, local)).toMatch(/storage reconciler/)
    expect(targetConflict('/srv/bastide/backups', undefined, local)).toBeUndefined()
    expect(targetConflict('/srv/bastide/storage-backups', undefined, local)).toBeUndefined()
  })

  it('refuses the storage bucket on the same endpoint, and accepts another bucket or endpoint', () => {
    const s3 = {
      endpoint: 'http://minio:9000',
      region: 'us-east-1',
      accessKey: 'a',
      secretKey: 'b',
      pathStyle: true,
    }
    const config = { s3: { ...s3, bucket: 'bastide' }, dataDir: '/data' }
    expect(targetConflict('s3://bastide/backups', s3, config)).toMatch(
      /BASTIDE_BACKUP_TARGET \(s3:\/\/bastide\/backups\) is in the storage bucket of BASTIDE_S3_BUCKET/,
    )
    expect(targetConflict('s3://bastide-backups/', s3, config)).toBeUndefined()
    expect(
      targetConflict('s3://bastide/backups', { ...s3, endpoint: 'https://s3.example.com' }, config),
    ).toBeUndefined()
  })

  it('a server refuses to start with its backups in its storage bucket, naming both variables', async () => {
    const s3 = await startS3rver()
    try {
      const env = bastideS3Env(s3)
      await expect(
        startTestServer({ env: { ...env, BASTIDE_BACKUP_TARGET: `s3://${env.BASTIDE_S3_BUCKET}/backups` } }),
      ).rejects.toThrow(/BASTIDE_BACKUP_TARGET.*BASTIDE_S3_BUCKET/)
    } finally {
      await s3.close()
    }
  })
})

describe('backup retention among instances sharing a target', () => {
  let dir: string
  let t: TestServer
  const foreign = 'bastide-backup-00000000-20200101T000000.000Z.tar.gz'
  const tag = instanceTag(TEST_SECRET)

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bastide-backup-shared-'))
    t = await startTestServer({ env: { BASTIDE_BACKUP_TARGET: dir, BASTIDE_BACKUP_KEEP: '1' } })
  })
  afterAll(async () => {
    await t?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('names archives with the instance tag, prunes only its own, and sweeps its own stale partial files', async () => {
    await writeFile(path.join(dir, foreign), 'another instance’s archive')
    const stale = path.join(dir, `.bastide-backup-${tag}-20200101T000000.000Z.tar.gz.partial-0a1b2c3d`)
    const fresh = path.join(dir, `.bastide-backup-${tag}-20990101T000000.000Z.tar.gz.partial-0a1b2c3e`)
    const theirs = path.join(dir, '.bastide-backup-00000000-20200101T000000.000Z.tar.gz.partial-0a1b2c3f')
    for (const f of [stale, fresh, theirs]) await writeFile(f, 'partial')
    const old = new Date(Date.now() - 2 * 24 * 3600_000)
    for (const f of [stale, theirs]) await utimes(f, old, old)
    const first = await t.api('POST', '/api/admin/backups')
    expect(first.status).toBe(201)
    expect(first.body.archive).toMatch(
      new RegExp(`^bastide-backup-${tag}-\\d{8}T\\d{6}\\.\\d{3}Z\\.tar\\.gz$`),
    )
    const second = await t.api('POST', '/api/admin/backups')
    expect(second.status).toBe(201)
    const left = fs.readdirSync(dir).sort()
    expect(left).toEqual([foreign, second.body.archive, path.basename(fresh), path.basename(theirs)].sort())
  })
})
