import type { MinuteStats, RouteStats } from '@bastide/protocol'
import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'

const round = (n: number | null) => (n === null ? 0 : Math.round(n * 10) / 10)

/**
 * The last `minutes` minutes of every node's requests, per minute, oldest first: minutes without requests
 * are there with zeros (a chart's x axis stays regular). One scan of the (at, id) index range.
 */
export async function requestSeries(db: Db, minutes = 60): Promise<MinuteStats[]> {
  const { rows } = await sql<{
    minute: string
    requests: number
    clientErrors: number
    serverErrors: number
    p50: number | null
    p95: number | null
    p99: number | null
  }>`
    WITH m AS (
      SELECT generate_series(date_trunc('minute', now()) - make_interval(mins => ${minutes - 1}),
                             date_trunc('minute', now()), interval '1 minute') AS minute
    ), s AS (
      SELECT date_trunc('minute', at) AS minute, count(*)::int AS requests,
        (count(*) FILTER (WHERE status BETWEEN 400 AND 499))::int AS "clientErrors",
        (count(*) FILTER (WHERE status >= 500))::int AS "serverErrors",
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95,
        percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99
      FROM bastide.request_log
      WHERE at >= date_trunc('minute', now()) - make_interval(mins => ${minutes - 1})
      GROUP BY 1
    )
    SELECT m.minute, coalesce(s.requests, 0) AS requests, coalesce(s."clientErrors", 0) AS "clientErrors",
      coalesce(s."serverErrors", 0) AS "serverErrors", s.p50, s.p95, s.p99
    FROM m LEFT JOIN s USING (minute) ORDER BY m.minute`.execute(db)
  return rows.map((r) => ({
    minute: r.minute,
    requests: r.requests,
    clientErrors: r.clientErrors,
    serverErrors: r.serverErrors,
    errorRate: r.requests ? r.serverErrors / r.requests : 0,
    p50Ms: round(r.p50),
    p95Ms: round(r.p95),
    p99Ms: round(r.p99),
  }))
}

/** The routes that took the most time in the last `minutes` minutes (count × latency), at most `limit`. */
export async function topRoutes(db: Db, minutes = 60, limit = 10): Promise<RouteStats[]> {
  const { rows } = await sql<{
    method: string
    route: string
    requests: number
    totalMs: number
    p95: number | null
    serverErrors: number
  }>`
    SELECT method, route, count(*)::int AS requests, sum(duration_ms)::float8 AS "totalMs",
      percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95,
      (count(*) FILTER (WHERE status >= 500))::int AS "serverErrors"
    FROM bastide.request_log WHERE at >= now() - make_interval(mins => ${minutes})
    GROUP BY method, route ORDER BY "totalMs" DESC LIMIT ${limit}`.execute(db)
  return rows.map((r) => ({
    method: r.method,
    route: r.route,
    requests: r.requests,
    totalMs: round(r.totalMs),
    p95Ms: round(r.p95),
    serverErrors: r.serverErrors,
  }))
}
