import { ConfigError } from '../config/load-config.ts'
import { AppError } from '../errors/app-error.ts'
import { consoleSetupToken, SETUP_TOKEN_HINT } from './console-setup-token.ts'

const USAGE = `Usage: pnpm --filter @bastide/server setup:token   (the same as \`bastide setup-token\`)
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
  try {
    console.log(await consoleSetupToken(process.env))
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      return 2
    }
    if (err instanceof AppError) {
      console.error(err.message)
      return 1
    }
    throw err
  }
  console.error(SETUP_TOKEN_HINT)
  return 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
