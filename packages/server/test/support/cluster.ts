import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { freePort } from '../../src/db/embedded-postgres.ts'
import { startHaproxy, type TestProxy } from './cluster-proxy.ts'
import { probeRedis, REDIS_URL } from './cluster-redis.ts'
import { ADMIN_KEY, createTestDatabase, TEST_SECRET } from './harness.ts'
import { type ChildServer, REDIS_SERVER, startChildServer, startRedis, type TestRedis } from './processes.ts'

/** The nodes a cluster test runs, by name (haproxy tells which answered). */
export const NODE_NAMES = ['n1', 'n2', 'n3'] as const

/** How a cluster suite gets its Redis: REDIS_URL when it answers, else a redis-server of its own. */
export interface ClusterRedis {
  /** Why REDIS_URL does not answer; undefined when it does. */
  readonly redisDown: string | undefined
  /** Why the suite cannot run (neither Redis is there), said once; undefined when it can. */
  readonly skip: string | undefined
}

export async function clusterRedis(suite: string): Promise<ClusterRedis> {
  const redisDown = await probeRedis()
  if (!redisDown || fs.existsSync(REDIS_SERVER)) return { redisDown, skip: undefined }
  const skip = `${REDIS_URL} is unreachable (${redisDown}) and ${REDIS_SERVER} is missing (apt-get install redis-server)`
  console.warn(`[${suite}] skipped: ${skip}`)
  return { redisDown, skip }
}

export interface TestCluster {
  readonly db: { url: string; drop(): Promise<void> }
  readonly nodes: Map<string, ChildServer>
  readonly proxy: TestProxy
  /** Stops the proxy, the nodes, the Redis of its own and drops the database, each step on its own. */
  stop(): Promise<void>
}

/**
 * PostgreSQL (a database of the test's own), Redis, and {@link NODE_NAMES} server processes behind haproxy on
 * loopback; `env` is added to the nodes' environment. What it started is stopped when a later step fails.
 */
export async function startCluster(opts: {
  readonly suite: string
  readonly database: string
  readonly redis: ClusterRedis
  readonly env?: Record<string, string>
}): Promise<TestCluster> {
  let db: TestCluster['db'] | undefined
  let ownRedis: TestRedis | undefined
  let proxy: TestProxy | undefined
  const nodes = new Map<string, ChildServer>()
  const stop = () =>
    stopEach(opts.suite, [
      () => proxy?.stop(),
      ...[...nodes.values()].map((n) => () => n.stop()),
      () => ownRedis?.stop(),
      () => db?.drop(),
    ])
  try {
    db = await createTestDatabase(opts.database)
    const proxyPort = await freePort()
    if (opts.redis.redisDown) ownRedis = await startRedis()
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: ownRedis?.url ?? REDIS_URL,
      BASTIDE_REDIS_PREFIX: `c${randomBytes(3).toString('hex')}:`,
      BASTIDE_ADMIN_KEY: ADMIN_KEY,
      BASTIDE_SECRET: TEST_SECRET,
      // What clients are told (tus Location, OAuth callbacks): the proxy, whichever node answers.
      BASTIDE_PUBLIC_URL: `http://127.0.0.1:${proxyPort}`,
      ...opts.env,
    }
    // One after the other: the first runs the migrations, the others find them done.
    for (const name of NODE_NAMES) nodes.set(name, await startChildServer(env))
    proxy = await startHaproxy({
      port: proxyPort,
      nodes: NODE_NAMES.map((name) => ({ name, port: nodes.get(name)!.port })),
    })
    return { db, nodes, proxy, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Runs each cleanup step on its own, in order: one failure must leave nothing else running or on disk. */
export async function stopEach(suite: string, steps: (() => Promise<unknown> | undefined)[]): Promise<void> {
  for (const step of steps) {
    try {
      await step()
    } catch (e) {
      console.error(`[${suite}] cleanup step failed`, e)
    }
  }
}

/** POSTs `body` as JSON to `path` through the cluster's proxy with the admin key; the response. */
export function adminPost(cluster: TestCluster, path: string, body: unknown): Promise<Response> {
  return fetch(`${cluster.proxy.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}
