import { existsSync } from 'node:fs'
import path from 'node:path'
import { resolveSecret } from '../core/auth/secret.ts'
import { setupToken } from '../core/auth/setup-token.ts'
import { readConfig } from './read-config.ts'

const USAGE = `Usage: pnpm --filter @bastide/server setup:token
Prints the console setup token, the one the server logs at start-up while no console admin exists, alone on
stdout (TOKEN=$(pnpm -s --filter @bastide/server setup:token) works). It derives from BASTIDE_SECRET (or the
secret kept in the data directory), so run it with the server's environment; it needs no database and works
while the server runs.`

/** Shows the setup token for POST /api/admin/setup. */
async function main(): Promise<number> {
  const args = process.argv.slice(2).filter((a) => a !== '--')
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE)
    return 0
  }
  if (args.length > 0) {
    console.error(`Unexpected arguments: ${args.join(' ')}\n\n${USAGE}`)
    return 2
  }
  const config = readConfig(process.env)
  if (!config) return 2
  // Without BASTIDE_SECRET the server keeps one in its data directory. Never create one here: a command run
  // from the wrong directory would print a token that opens nothing.
  const kept = path.join(config.dataDir, 'secret')
  if (!config.secret && !existsSync(kept)) {
    console.error(
      `No BASTIDE_SECRET and no ${kept}: run this with the server's BASTIDE_SECRET or BASTIDE_DATA_DIR ` +
        '(the server keeps its secret there from its first start).',
    )
    return 1
  }
  const secret = await resolveSecret(config.secret, config.dataDir)
  console.log(setupToken(secret))
  console.error(
    'Create the first console admin with POST /api/admin/setup and the JSON body ' +
      '{"email": "…", "password": "…", "setupToken": "<the token above>"}. ' +
      'It works only while the console has no admin.',
  )
  return 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
