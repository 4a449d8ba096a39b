import { readConfig } from './cli/read-config.ts'
import { startBastide } from './server.ts'

async function main() {
  const config = readConfig(process.env)
  if (!config) process.exit(2)
  const bastide = await startBastide(config)
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    bastide.log.info({ signal }, 'shutting down: finishing in-flight requests')
    await bastide.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  // A bug that escapes every handler: log it, stop embedded PostgreSQL with us, and exit non-zero.
  const fatal = (err: unknown) => {
    bastide.log.fatal({ err }, 'fatal error, shutting down')
    const force = setTimeout(() => process.exit(1), 5000)
    force.unref()
    void bastide.close().finally(() => process.exit(1))
  }
  process.on('uncaughtException', fatal)
  process.on('unhandledRejection', fatal)
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
