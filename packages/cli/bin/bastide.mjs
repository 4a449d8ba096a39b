#!/usr/bin/env node
// The `bastide` command. Its JavaScript (dist/bastide.js) is built from src/ on the first run and again only when
// the sources change (scripts/build.mjs), so no run compiles TypeScript.
import { ensureBuilt } from '../scripts/build.mjs'

await ensureBuilt()
const { main } = await import('../dist/bastide.js')
process.exitCode = await main(process.argv)
