import {
  ADMIN_KEY,
  createCollection,
  startTestServer,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import { type ClientOptions, createClient } from '../../src/index.ts'
import type { Schema } from '../../src/types.ts'

export { ADMIN_KEY, createCollection, type TestServer }

/**
 * A real Bastide server on a loopback port and its own database (one per test file). Its public URL is the
 * URL the SDK uses, so auth's origin checks and links line up.
 */
export async function startServer(env: Record<string, string> = {}): Promise<TestServer & { url: string }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const s = await startTestServer({
    listen: true,
    env: { PORT: String(port), BASTIDE_PUBLIC_URL: url, ...env },
  })
  return Object.assign(s, { url })
}

/** A client for `server`, in memory (no persistence), without retries unless asked. */
export function clientFor<S extends Schema = any>(
  server: { url: string },
  opts: Partial<ClientOptions> = {},
) {
  return createClient<S>({ url: server.url, ...opts })
}

let counter = 0
/** A unique e-mail address for a test user. */
export function email(tag = 'user'): string {
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${counter++}@example.test`
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}
