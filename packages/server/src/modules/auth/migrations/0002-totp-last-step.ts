import { defineMigration } from '../../../db/define-migration.ts'

export const totpLastStep = defineMigration({
  name: 'totp-last-step',
  sql: `
      -- The last TOTP time step a code was accepted for: a code works once (RFC 6238 §5.2), see
      -- core/auth/plugins/refuse-totp-replay.ts.
      ALTER TABLE bastide.auth_two_factors ADD COLUMN "lastTotpStep" bigint;
      ALTER TABLE bastide.admin_two_factors ADD COLUMN "lastTotpStep" bigint;
    `,
})
