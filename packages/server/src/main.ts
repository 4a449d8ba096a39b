import { readConfig } from './cli/read-config.ts'
import { startBastide } from './server.ts'

/** Ctrl-C or SIGTERM while starting: the server stops as soon as it is up, then exits like any stop. */
let interrupted: string | undefined
let onSignal = (signal: string) => {
  interrupted ??= signal
}

async function main() {
  const config = readConfig(process.env)
  if (!config) process.exit(2)
  // From the first moment, so that a signal during start-up (the server may already answer requests) never
  // kills the process halfway, leaving embedded PostgreSQL behind and the shell a stack of errors.
  process.on('SIGINT', () => onSignal('SIGINT'))
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  // The terminal closed: stop as for Ctrl-C (embedded PostgreSQL runs in a session of its own and would stay up).
  process.on('SIGHUP', () => onSignal('SIGHUP'))
  const bastide = await startBastide(config)
  let stopping = false
  onSignal = (signal) => {
    if (stopping) return
    stopping = true
    bastide.log.info({ signal }, 'shutting down: finishing in-flight requests')
    void bastide.close().then(
      () => process.exit(0),
      (err) => {
        bastide.log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  if (interrupted) onSignal(interrupted)
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
  // Interrupted while starting (embedded PostgreSQL got the same Ctrl-C and stopped under us): nothing to
  // report, and the exit status of an interrupted command.
  if (interrupted) process.exit(130)
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
