import { defineMigration } from '../../../db/define-migration.ts'

export const realtimeChannels = defineMigration({
  name: 'realtime-channels',
  sql: `
      -- Who may join and send on realtime channels: an exact name or a prefix pattern ending in *.
      CREATE TABLE bastide.channels (
        id uuid PRIMARY KEY,
        pattern text NOT NULL UNIQUE CHECK (pattern ~ '^[A-Za-z0-9:_./-]{1,200}\\*?$'),
        rules jsonb NOT NULL,
        presence boolean NOT NULL DEFAULT true,
        created timestamptz(3) NOT NULL DEFAULT now(),
        updated timestamptz(3) NOT NULL DEFAULT now()
      );
    `,
})
