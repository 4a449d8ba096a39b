#!/usr/bin/env node
// The `bastide` command. Its JavaScript (dist/bastide.js) is built from src/ on the first run and again only when
// the sources change (scripts/build.mjs), so no run compiles TypeScript. Where there are no sources (a production
// install), the prebuilt dist/bastide.js is run as it is.
import { ensureBuilt } from '../scripts/build.mjs'

try {
  await ensureBuilt()
} catch (err) {
  // No build and nothing to build one from: the message says what to do; a stack would only bury it.
  if (err?.code !== 'BASTIDE_CLI_UNBUILT') throw err
  process.stderr.write(`${err.message}\n`)
  process.exit(1)
}
const { main } = await import('../dist/bastide.js')
process.exitCode = await main(process.argv)
