import type {
  FunctionDetail,
  FunctionManifest,
  FunctionSummary,
  FunctionVersion,
  InvocationStatus,
} from '@bastide/protocol'
import { sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'

type Executor = Db | Transaction<any>

/** Versions kept per function (the active one always is, whatever its age). */
export const KEPT_VERSIONS = 50

/** A function as a node runs it: the active version's source and manifest. */
export interface ActiveFunction {
  readonly name: string
  readonly version: number
  readonly manifest: FunctionManifest
  readonly source: string
  /** Changes with every deploy, rollback and secret change (see the migration). */
  readonly revision: number
}

const iso = (d: string | Date) => (typeof d === 'string' ? new Date(d) : d).toISOString()

interface SummaryRow {
  name: string
  version: number
  manifest: FunctionManifest
  created_at: Date
  deployed_at: Date
  last_at: Date | null
  last_status: InvocationStatus | null
  last_ms: number | null
}

const summarySql = (where: ReturnType<typeof sql>) => sql<SummaryRow>`
  SELECT f.name, f.active_version AS version, f.manifest, f.created_at, f.deployed_at,
    li.started_at AS last_at, li.status AS last_status, li.duration_ms AS last_ms
  FROM bastide.functions f
  LEFT JOIN LATERAL (SELECT started_at, status, duration_ms FROM bastide.function_invocations i
    WHERE i.function = f.name ORDER BY started_at DESC, id DESC LIMIT 1) li ON true
  ${where} ORDER BY f.name`

function toSummary(r: SummaryRow): FunctionSummary {
  return {
    name: r.name,
    version: r.version,
    manifest: r.manifest,
    createdAt: iso(r.created_at),
    deployedAt: iso(r.deployed_at),
    lastInvocation:
      r.last_at && r.last_status
        ? { at: iso(r.last_at), status: r.last_status, durationMs: Number(r.last_ms) }
        : null,
  }
}

/** Reads and writes of bastide.functions, function_versions and function_secrets. */
export const functionStore = {
  async list(db: Executor): Promise<FunctionSummary[]> {
    return (await summarySql(sql``).execute(db)).rows.map(toSummary)
  },

  async detail(db: Executor, name: string): Promise<FunctionDetail | undefined> {
    const row = (await summarySql(sql`WHERE f.name = ${name}`).execute(db)).rows[0]
    if (!row) return undefined
    const [source, versions, secrets] = await Promise.all([
      sql<{ source: string }>`SELECT source FROM bastide.function_versions
        WHERE function = ${name} AND version = ${row.version}`.execute(db),
      functionStore.versions(db, name, row.version),
      sql<{ name: string; updated_at: Date }>`SELECT name, updated_at FROM bastide.function_secrets
        WHERE function = ${name} ORDER BY name`.execute(db),
    ])
    return {
      ...toSummary(row),
      source: source.rows[0]?.source ?? '',
      versions,
      secrets: secrets.rows.map((s) => ({ name: s.name, updatedAt: iso(s.updated_at) })),
    }
  },

  async versions(db: Executor, name: string, active: number): Promise<FunctionVersion[]> {
    const { rows } = await sql<{ version: number; checksum: string; created_at: Date; created_by: string }>`
      SELECT version, checksum, created_at, created_by FROM bastide.function_versions
      WHERE function = ${name} ORDER BY version DESC`.execute(db)
    return rows.map((v) => ({
      version: v.version,
      checksum: v.checksum,
      createdAt: iso(v.created_at),
      createdBy: v.created_by,
      active: v.version === active,
    }))
  },

  async version(
    db: Executor,
    name: string,
    version: number,
  ): Promise<{ version: FunctionVersion; source: string; manifest: FunctionManifest } | undefined> {
    const { rows } = await sql<{
      version: number
      checksum: string
      created_at: Date
      created_by: string
      source: string
      manifest: FunctionManifest
      active: number
    }>`SELECT v.version, v.checksum, v.created_at, v.created_by, v.source, v.manifest, f.active_version AS active
      FROM bastide.function_versions v JOIN bastide.functions f ON f.name = v.function
      WHERE v.function = ${name} AND v.version = ${version}`.execute(db)
    const v = rows[0]
    if (!v) return undefined
    return {
      version: {
        version: v.version,
        checksum: v.checksum,
        createdAt: iso(v.created_at),
        createdBy: v.created_by,
        active: v.version === v.active,
      },
      source: v.source,
      manifest: v.manifest,
    }
  },

  /**
   * A new version, active at once (the function is created with version 1 if new); older versions past
   * KEPT_VERSIONS are deleted. The function row is locked first: two deploys at once number in turn.
   */
  async deploy(
    trx: Transaction<any>,
    d: { name: string; source: string; checksum: string; manifest: FunctionManifest; createdBy: string },
  ): Promise<{ version: number; created: boolean; previous: number | null }> {
    const manifest = JSON.stringify(d.manifest)
    const existing = (
      await sql<{ active_version: number }>`SELECT active_version FROM bastide.functions
        WHERE name = ${d.name} FOR UPDATE`.execute(trx)
    ).rows[0]
    let version = 1
    if (existing) {
      const max = await sql<{ v: number }>`SELECT coalesce(max(version), 0)::int AS v
        FROM bastide.function_versions WHERE function = ${d.name}`.execute(trx)
      version = (max.rows[0]?.v ?? 0) + 1
      await sql`UPDATE bastide.functions SET active_version = ${version}, manifest = ${manifest}::jsonb,
        deployed_at = now(), revision = revision + 1 WHERE name = ${d.name}`.execute(trx)
    } else {
      await sql`INSERT INTO bastide.functions (name, active_version, manifest)
        VALUES (${d.name}, 1, ${manifest}::jsonb)`.execute(trx)
    }
    await sql`INSERT INTO bastide.function_versions (function, version, source, checksum, manifest, created_by)
      VALUES (${d.name}, ${version}, ${d.source}, ${d.checksum}, ${manifest}::jsonb, ${d.createdBy})`.execute(
      trx,
    )
    await sql`DELETE FROM bastide.function_versions WHERE function = ${d.name} AND version <= ${version - KEPT_VERSIONS}`.execute(
      trx,
    )
    return { version, created: !existing, previous: existing?.active_version ?? null }
  },

  /** Makes a kept version active again; the previous active version, or undefined when either is missing. */
  async activate(trx: Transaction<any>, name: string, version: number): Promise<number | undefined> {
    const f = (
      await sql<{ active_version: number }>`SELECT active_version FROM bastide.functions
        WHERE name = ${name} FOR UPDATE`.execute(trx)
    ).rows[0]
    if (!f) return undefined
    const r = await sql`UPDATE bastide.functions f SET active_version = v.version, manifest = v.manifest,
        deployed_at = now(), revision = f.revision + 1
      FROM bastide.function_versions v
      WHERE f.name = ${name} AND v.function = f.name AND v.version = ${version}`.execute(trx)
    return Number(r.numAffectedRows ?? 0) === 1 ? f.active_version : undefined
  },

  /** Deletes the function, its versions and secrets (cascade); its invocations stay until pruned. */
  async remove(trx: Transaction<any>, name: string): Promise<boolean> {
    const r = await sql`DELETE FROM bastide.functions WHERE name = ${name}`.execute(trx)
    return Number(r.numAffectedRows ?? 0) === 1
  },

  async putSecret(trx: Transaction<any>, name: string, secret: string, sealed: Buffer): Promise<boolean> {
    const r = await sql`INSERT INTO bastide.function_secrets (function, name, sealed)
      SELECT ${name}, ${secret}, ${sealed} WHERE EXISTS (SELECT 1 FROM bastide.functions WHERE name = ${name})
      ON CONFLICT (function, name) DO UPDATE SET sealed = excluded.sealed, updated_at = now()`.execute(trx)
    if (Number(r.numAffectedRows ?? 0) === 0) return false
    await sql`UPDATE bastide.functions SET revision = revision + 1 WHERE name = ${name}`.execute(trx)
    return true
  },

  async deleteSecret(trx: Transaction<any>, name: string, secret: string): Promise<boolean> {
    const r =
      await sql`DELETE FROM bastide.function_secrets WHERE function = ${name} AND name = ${secret}`.execute(
        trx,
      )
    if (Number(r.numAffectedRows ?? 0) === 0) return false
    await sql`UPDATE bastide.functions SET revision = revision + 1 WHERE name = ${name}`.execute(trx)
    return true
  },

  async sealedSecrets(db: Executor, name: string): Promise<{ name: string; sealed: Uint8Array }[]> {
    const { rows } = await sql<{ name: string; sealed: Uint8Array }>`SELECT name, sealed
      FROM bastide.function_secrets WHERE function = ${name}`.execute(db)
    return rows
  },

  /** Every function's name and revision: what a node compares with what it runs. */
  async revisions(db: Executor): Promise<Map<string, number>> {
    const { rows } = await sql<{ name: string; revision: string }>`SELECT name, revision
      FROM bastide.functions`.execute(db)
    return new Map(rows.map((r) => [r.name, Number(r.revision)]))
  },

  async active(db: Executor, names?: readonly string[]): Promise<ActiveFunction[]> {
    const { rows } = await sql<{
      name: string
      version: number
      manifest: FunctionManifest
      source: string
      revision: string
    }>`SELECT f.name, f.active_version AS version, f.manifest, v.source, f.revision
      FROM bastide.functions f JOIN bastide.function_versions v
        ON v.function = f.name AND v.version = f.active_version
      ${names ? sql`WHERE f.name = ANY(${[...names]}::text[])` : sql``}`.execute(db)
    return rows.map((r) => ({ ...r, revision: Number(r.revision) }))
  },
}
