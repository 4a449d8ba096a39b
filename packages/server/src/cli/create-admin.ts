import { parseArgs } from 'node:util'
import { ConfigError } from '../config/load-config.ts'
import { AppError } from '../errors/index.ts'
import { createConsoleAdmin } from './create-console-admin.ts'

const USAGE = `Usage: pnpm --filter @bastide/server admin:create -- --email <email> [--password <password>] [--name <name>]
Creates a console admin (even when others exist), also while the server runs. The password may come from
BASTIDE_ADMIN_PASSWORD instead of the command line. Configuration comes from the environment, as for the server.
(\`bastide admin create\` does the same from the CLI.)`

/** Creates a console admin from the command line, against the configured (or embedded) database. */
async function main(): Promise<number> {
  let values: { email?: string; password?: string; name?: string; help?: boolean }
  try {
    ;({ values } = parseArgs({
      args: process.argv.slice(2).filter((a) => a !== '--'),
      options: {
        email: { type: 'string' },
        password: { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }))
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const password = values.password ?? process.env.BASTIDE_ADMIN_PASSWORD
  if (!values.email || !password) {
    console.error(USAGE)
    return 2
  }
  try {
    const admin = await createConsoleAdmin(process.env, { email: values.email, password, name: values.name })
    console.log(`Created console admin ${admin.email} (${admin.id}).`)
    return 0
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      return 2
    }
    if (err instanceof AppError) {
      console.error(`${err.message}${err.details ? ` ${JSON.stringify(err.details)}` : ''}`)
      return 1
    }
    throw err
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
