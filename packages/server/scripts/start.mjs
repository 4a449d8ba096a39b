// `pnpm start`: the server from its JavaScript build, built first only when the sources changed (see
// build.mjs), and the console (packages/admin-ui, served at /_/) likewise. It runs in this very process, so
// Ctrl-C (SIGINT) and SIGTERM reach the server's own graceful shutdown directly, with no package-manager process
// in between to report the signal as a failure.
import fs from 'node:fs'
import { ensureBuilt } from './build.mjs'

const consoleBuild = new URL('../../admin-ui/scripts/build.mjs', import.meta.url)
if (process.env.BASTIDE_CONSOLE_DIR === undefined && fs.existsSync(consoleBuild)) {
  const { ensureBuilt: ensureConsoleBuilt } = await import(consoleBuild.href)
  await ensureConsoleBuilt()
}
await ensureBuilt()
await import('../dist/main.js')
