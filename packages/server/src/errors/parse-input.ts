import type { z } from 'zod'
import { errors } from './app-error.ts'

/**
 * `input` parsed by `schema`, or a VALIDATION_FAILED error naming each failing field (its path, `body` for the
 * whole input) with the first problem found there.
 */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input)
  if (r.success) return r.data
  const fields: Record<string, { code: string; message: string }> = {}
  for (const issue of r.error.issues)
    fields[issue.path.join('.') || 'body'] ??= { code: issue.code, message: issue.message }
  throw errors.validation(fields)
}
