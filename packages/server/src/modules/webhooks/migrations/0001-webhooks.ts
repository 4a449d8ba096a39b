import { defineMigration } from '../../../db/define-migration.ts'

/**
 * Webhooks (a signing secret sealed with a key derived from BASTIDE_SECRET, and the previous one while a rotation's
 * grace lasts), their deliveries (one per webhook and record change; the id is the receiver's idempotency key)
 * and every HTTP attempt of each.
 */
export const webhooks = defineMigration({
  name: 'webhooks',
  sql: `
    CREATE TABLE bastide.webhooks (
      id uuid PRIMARY KEY,
      url text NOT NULL,
      collection text NOT NULL,
      actions text[] NOT NULL CHECK (cardinality(actions) > 0 AND actions <@ ARRAY['create', 'update', 'delete']),
      description text,
      enabled boolean NOT NULL DEFAULT true,
      secret jsonb NOT NULL,
      secret_hint text NOT NULL,
      previous_secret jsonb,
      previous_secret_expires timestamptz(3),
      created timestamptz(3) NOT NULL DEFAULT now(),
      updated timestamptz(3) NOT NULL DEFAULT now()
    );
    CREATE TABLE bastide.webhook_deliveries (
      id uuid PRIMARY KEY,
      n bigserial UNIQUE,
      webhook_id uuid NOT NULL REFERENCES bastide.webhooks (id) ON DELETE CASCADE,
      event text NOT NULL,
      record_id text,
      payload jsonb NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
      created timestamptz(3) NOT NULL DEFAULT now(),
      updated timestamptz(3) NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_deliveries_webhook ON bastide.webhook_deliveries (webhook_id, n DESC);
    CREATE INDEX webhook_deliveries_created ON bastide.webhook_deliveries (created);
    CREATE TABLE bastide.webhook_attempts (
      n bigserial PRIMARY KEY,
      delivery_id uuid NOT NULL REFERENCES bastide.webhook_deliveries (id) ON DELETE CASCADE,
      at timestamptz(3) NOT NULL DEFAULT now(),
      status_code int,
      duration_ms int NOT NULL,
      response_body text,
      error text
    );
    CREATE INDEX webhook_attempts_delivery ON bastide.webhook_attempts (delivery_id, n);
  `,
})
