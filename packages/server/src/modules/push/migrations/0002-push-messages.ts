import { defineMigration } from '../../../db/define-migration.ts'

/**
 * Messages (target, content and options as sent; counts derived from their deliveries) and one delivery per message
 * and device (no foreign key to the device: the row outlives a device removed for an invalid token). The fan-out
 * keeps its cursor on the message, send jobs hold their deliveries under a lease (see core/push/send-batch.ts).
 */
export const pushMessages = defineMigration({
  name: 'push-messages',
  sql: `
    CREATE TABLE bastide.push_messages (
      id uuid PRIMARY KEY, n bigserial UNIQUE,
      status text NOT NULL CHECK (status IN ('scheduled','queued','sending','done','canceled')),
      target jsonb NOT NULL, content jsonb NOT NULL, options jsonb NOT NULL,
      topic text, source text NOT NULL, send_at timestamptz(3),
      targeted int NOT NULL DEFAULT 0, opted_out int NOT NULL DEFAULT 0,
      created timestamptz(3) NOT NULL DEFAULT now(), completed timestamptz(3),
      -- The fan-out's progress: the last device id done (keyset), so a retried fan-out resumes there and counts
      -- nothing twice; fanned_out once every page is in.
      fanout_after text, fanned_out boolean NOT NULL DEFAULT false
    );
    CREATE INDEX push_messages_created ON bastide.push_messages (created);
    CREATE TABLE bastide.push_deliveries (
      id uuid PRIMARY KEY, n bigserial,
      message_id uuid NOT NULL REFERENCES bastide.push_messages (id) ON DELETE CASCADE,
      device_id text NOT NULL,
      provider text NOT NULL, user_id uuid,
      status text NOT NULL CHECK (status IN ('pending','sent','failed','invalid_token')),
      attempts int NOT NULL DEFAULT 0, reason text, provider_id text,
      updated timestamptz(3) NOT NULL DEFAULT now(),
      -- The send job that owns the delivery (only it may send it), and until when it holds it while sending
      -- (renewed as it works): past that, its node died mid-batch and the delivery is handed to a new job
      -- (at-least-once; a stale job finds nothing of its own left).
      job_id uuid, lease_until timestamptz(3),
      UNIQUE (message_id, device_id)
    );
    CREATE INDEX push_deliveries_message ON bastide.push_deliveries (message_id, status, n);
    CREATE INDEX push_deliveries_leased ON bastide.push_deliveries (lease_until)
      WHERE status = 'pending' AND lease_until IS NOT NULL;
  `,
})
