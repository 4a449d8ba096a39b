import path from 'node:path'
import { z } from 'zod'

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// or postgresql:// URL')
    .optional(),
  BASTIDE_DATA_DIR: z.string().min(1).default('./.bastide'),
  BASTIDE_ADMIN_KEY: z
    .string()
    .refine(
      (v) => v.startsWith('bst_sk_') && v.length >= 32,
      'must start with bst_sk_ and be at least 32 characters',
    )
    .optional(),
  BASTIDE_PUBLIC_URL: z.url().optional(),
  BASTIDE_CORS_ORIGINS: z.string().default('*'),
  BASTIDE_LOG_LEVEL: z.enum(logLevels).default('info'),
  BASTIDE_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  BASTIDE_DB_POOL_MAX: z.coerce.number().int().min(1).max(500).default(20),
  BASTIDE_EMBEDDED_PG_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  BASTIDE_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
})

export interface Config {
  readonly port: number
  readonly host: string
  /** Unset: the server starts embedded PostgreSQL under `dataDir/pg`. */
  readonly databaseUrl: string | undefined
  readonly dataDir: string
  readonly adminKey: string | undefined
  readonly publicUrl: string | undefined
  /** `['*']` allows any origin (without credentials). */
  readonly corsOrigins: readonly string[]
  readonly logLevel: (typeof logLevels)[number]
  readonly bodyLimit: number
  readonly dbPoolMax: number
  /** 0: pick a free port at each start. */
  readonly embeddedPgPort: number
  readonly shutdownTimeoutMs: number
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n')}`)
  }
}

/**
 * The only place that reads the environment. Empty strings count as unset, so `FOO=` in a compose file
 * behaves like leaving it out. Throws ConfigError listing every bad variable by name.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {}
  for (const key of Object.keys(schema.shape)) {
    const v = env[key]
    if (v !== undefined && v !== '') input[key] = v
  }
  const parsed = schema.safeParse(input)
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })),
    )
  }
  const v = parsed.data
  return Object.freeze({
    port: v.PORT,
    host: v.HOST,
    databaseUrl: v.DATABASE_URL,
    // Relative to where the command was typed: pnpm runs scripts from the package directory.
    dataDir: path.resolve(env.INIT_CWD ?? process.cwd(), v.BASTIDE_DATA_DIR),
    adminKey: v.BASTIDE_ADMIN_KEY,
    publicUrl: v.BASTIDE_PUBLIC_URL,
    corsOrigins: Object.freeze(
      v.BASTIDE_CORS_ORIGINS.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
    logLevel: v.BASTIDE_LOG_LEVEL,
    bodyLimit: v.BASTIDE_BODY_LIMIT,
    dbPoolMax: v.BASTIDE_DB_POOL_MAX,
    embeddedPgPort: v.BASTIDE_EMBEDDED_PG_PORT,
    shutdownTimeoutMs: v.BASTIDE_SHUTDOWN_TIMEOUT_MS,
  })
}
