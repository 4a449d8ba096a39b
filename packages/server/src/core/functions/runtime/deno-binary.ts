import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'

let cached: string | undefined

/**
 * The Deno executable shipped by the npm package `deno`, found without its postinstall script (which pnpm 10
 * does not run unless allowed): `deno` lists one `@deno/<platform>` package per platform as an optional
 * dependency, and the one for this machine holds the binary.
 */
export function denoBinary(): string {
  if (cached !== undefined) return cached
  const require = createRequire(import.meta.url)
  const pkg = createRequire(require.resolve('deno/package.json'))
  const platform = os.platform()
  const target = platform === 'linux' ? `linux-${os.arch()}-glibc` : `${platform}-${os.arch()}`
  const exe = platform === 'win32' ? 'deno.exe' : 'deno'
  let file: string
  try {
    file = path.join(path.dirname(pkg.resolve(`@deno/${target}/package.json`)), exe)
  } catch {
    throw new Error(`functions: no Deno build for ${target} (package @deno/${target} is not installed)`)
  }
  if (!fs.existsSync(file)) throw new Error(`functions: the Deno executable is missing at ${file}`)
  cached = file
  return file
}
