import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

/** The server package's folder (the workspace's packages/server, or the installed @bastide/server). */
export function serverDir(): string {
  const require = createRequire(import.meta.url)
  return path.dirname(require.resolve('@bastide/server/package.json'))
}

/**
 * A module of the server's JavaScript build (`dist/<entry>`), built first when the server's sources changed (as
 * `pnpm start` does). For commands that run the server or its engines in this process: serve, admin create,
 * backups against a database.
 */
export async function loadServer<T>(entry: string): Promise<T> {
  const dir = serverDir()
  const build = (await import(pathToFileURL(path.join(dir, 'scripts/build.mjs')).href)) as {
    ensureBuilt(): Promise<void>
  }
  await build.ensureBuilt()
  return (await import(pathToFileURL(path.join(dir, 'dist', entry)).href)) as T
}
