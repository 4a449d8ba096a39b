import { existsSync } from 'node:fs'
import path from 'node:path'
import { loadConfig } from '../config/load-config.ts'
import { resolveSecret } from '../core/auth/secret.ts'
import { setupToken } from '../core/auth/setup-token.ts'
import { AppError } from '../errors/app-error.ts'

/**
 * The console setup token a server configured by `env` logs at start-up while no console admin exists. It derives
 * from BASTIDE_SECRET, or from the secret the server keeps in its data directory, so it needs no database and works
 * beside a running server (which holds the embedded PostgreSQL). Used by `bastide setup-token` and
 * `pnpm --filter @bastide/server setup:token`.
 *
 * Throws ConfigError for a bad variable, AppError PRECONDITION_FAILED when there is no secret to derive it from.
 */
export async function consoleSetupToken(env: NodeJS.ProcessEnv): Promise<string> {
  // Nothing is served here: where the console is not built, looking for it would only print a warning.
  const config = loadConfig({ ...env, BASTIDE_CONSOLE_DIR: 'off' })
  // Never create a secret here: a command run from the wrong directory would print a token that opens nothing.
  const kept = path.join(config.dataDir, 'secret')
  if (!config.secret && !existsSync(kept))
    throw new AppError(
      'PRECONDITION_FAILED',
      `No BASTIDE_SECRET and no ${kept}: run this with the server's BASTIDE_SECRET or BASTIDE_DATA_DIR ` +
        '(the server keeps its secret there from its first start).',
    )
  return setupToken(await resolveSecret(config.secret, config.dataDir))
}

/** What to do with the token, for people (on stderr, beside the token alone on stdout). */
export const SETUP_TOKEN_HINT =
  'Paste it in the console (/_/) to create the first admin, or POST /api/admin/setup with the JSON body ' +
  '{"email": "…", "password": "…", "setupToken": "<the token>"}. It works only while the console has no admin.'
