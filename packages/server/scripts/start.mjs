// `pnpm start`: the server from its JavaScript build, built first only when the sources changed (see
// build.mjs). It runs in this very process, so Ctrl-C (SIGINT) and SIGTERM reach the server's own graceful
// shutdown directly, with no package-manager process in between to report the signal as a failure.
import { ensureBuilt } from './build.mjs'

await ensureBuilt()
await import('../dist/main.js')
