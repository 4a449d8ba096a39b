import { sql } from 'kysely'
import type { Db } from './create-db.ts'

/** The schema holding Bastide's own tables. Collections live in DATA_SCHEMA, one table each. */
export const SYSTEM_SCHEMA = 'bastide'
export const DATA_SCHEMA = 'data'

/**
 * System migrations, append-only: a shipped migration is never edited, a change is a new entry.
 * Each runs in its own transaction under an advisory lock, so several nodes may start at once.
 */
const MIGRATIONS: readonly { readonly id: number; readonly name: string; readonly sql: string }[] = [
  {
    id: 1,
    name: 'core',
    sql: `
      CREATE SCHEMA IF NOT EXISTS data;
      CREATE TABLE bastide.collections (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        fields jsonb NOT NULL,
        indexes jsonb NOT NULL,
        rules jsonb NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now()
      );
      CREATE TABLE bastide.schema_history (
        seq bigserial PRIMARY KEY,
        at timestamptz(3) NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
        collection text NOT NULL,
        before jsonb,
        after jsonb,
        statements jsonb NOT NULL
      );
      CREATE TABLE bastide.api_keys (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        prefix text NOT NULL,
        hash text NOT NULL UNIQUE,
        scopes text[] NOT NULL,
        created timestamptz(3) NOT NULL DEFAULT now(),
        last_used timestamptz(3),
        expires timestamptz(3),
        revoked timestamptz(3)
      );
      CREATE TABLE bastide.idempotency_keys (
        principal text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status int,
        response jsonb,
        created timestamptz(3) NOT NULL DEFAULT now(),
        PRIMARY KEY (principal, key)
      );
      CREATE INDEX idempotency_keys_created ON bastide.idempotency_keys (created);
      CREATE SEQUENCE bastide.record_seq;
    `,
  },
]

export async function migrate(db: Db): Promise<void> {
  await sql`CREATE SCHEMA IF NOT EXISTS bastide`.execute(db).catch(ignoreRace)
  await sql`CREATE TABLE IF NOT EXISTS bastide.migrations (
      id int PRIMARY KEY, name text NOT NULL, at timestamptz NOT NULL DEFAULT now())`
    .execute(db)
    .catch(ignoreRace)
  for (const m of MIGRATIONS) {
    await db.transaction().execute(async (trx) => {
      // Same lock key on every node: only one applies a given migration.
      await sql`SELECT pg_advisory_xact_lock(7261536843)`.execute(trx)
      const done = await trx
        .selectFrom('bastide.migrations')
        .select('id')
        .where('id', '=', m.id)
        .executeTakeFirst()
      if (done) return
      await sql.raw(m.sql).execute(trx)
      await trx.insertInto('bastide.migrations').values({ id: m.id, name: m.name }).execute()
    })
  }
}

/** Two nodes creating the same schema at once: one gets a unique violation, which means it exists. */
function ignoreRace(err: { code?: string }): void {
  if (err.code !== '23505' && err.code !== '42P07') throw err
}
