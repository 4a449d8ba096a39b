import { parseArgs } from 'node:util'
import pino from 'pino'
import { createAdmin, createAdminAuth } from '../core/auth/admin-auth.ts'
import { AppError } from '../errors/index.ts'
import { startBastide } from '../server.ts'
import { readConfig } from './read-config.ts'

const USAGE = `Usage: pnpm --filter @bastide/server admin:create -- --email <email> [--password <password>] [--name <name>]
Creates a console admin (even when others exist). The password may come from BASTIDE_ADMIN_PASSWORD
instead of the command line. Configuration comes from the environment, as for the server.`

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
  const config = readConfig(process.env)
  if (!config) return 2
  const log = pino({ level: 'warn', base: { service: 'bastide-cli' } })
  const bastide = await startBastide(config, { listen: false, log })
  try {
    const adminAuth = createAdminAuth({
      config,
      db: bastide.auth.authDb,
      secret: bastide.auth.secret,
      baseUrl: config.publicUrl ?? `http://localhost:${config.port || 8787}`,
      log,
    })
    const admin = await createAdmin(adminAuth, config, {
      email: values.email,
      password,
      name: values.name,
    })
    await bastide.actions.record(bastide.database.db, {
      actor: 'cli',
      action: 'admin.create',
      target: admin.id,
      details: { email: admin.email },
    })
    console.log(`Created console admin ${admin.email} (${admin.id}).`)
    return 0
  } catch (err) {
    if (err instanceof AppError) {
      console.error(`${err.message}${err.details ? ` ${JSON.stringify(err.details)}` : ''}`)
      return 1
    }
    throw err
  } finally {
    await bastide.close()
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  },
)
