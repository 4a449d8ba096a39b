import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'

/**
 * BASTIDE_SECRET signs sessions and JWT keys' encryption. Unset, one is generated on first start and kept
 * in the data directory (mode 0600), so restarts keep every session valid. Several nodes must share it:
 * set BASTIDE_SECRET explicitly when running more than one.
 */
export async function resolveSecret(configured: string | undefined, dataDir: string): Promise<string> {
  if (configured) return configured
  const file = path.join(dataDir, 'secret')
  try {
    const s = (await readFile(file, 'utf8')).trim()
    if (s.length >= 32) return s
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const s = randomBytes(48).toString('base64url')
  await mkdir(dataDir, { recursive: true })
  // 'wx': two processes starting at once do not overwrite each other's secret.
  try {
    await writeFile(file, `${s}\n`, { mode: 0o600, flag: 'wx' })
    return s
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim()
    throw e
  }
}
